"""Medical images as `Volume`s: a (z, y, x) array that always carries its geometry.

Reads and writes NIfTI (.nii, .nii.gz), MetaImage (.mha) and NRRD (.nrrd) through SimpleITK.
Geometry follows ITK conventions: `spacing` and `origin` are in physical (x, y, z) order in mm,
LPS patient coordinates, and `direction` is the 3x3 matrix (row-major, 9 values) whose columns are
the physical directions of the x, y and z array axes. The array itself is indexed [z, y, x].
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from petseg.errors import PetsegError, PetsegWarning
from petseg.io.atomic import WRITE_FAULTS, atomic_path, full_suffix
from petseg.io.nifti import check_nifti, is_nifti, restore_non_finite, verify_written

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".mha", ".nrrd")


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3D image: `array` indexed [z, y, x] plus its physical geometry (ITK conventions)."""

    array: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise PetsegError(f"a volume must be 3D, got an array of shape {self.array.shape}")
        object.__setattr__(self, "spacing", tuple(float(v) for v in self.spacing))
        object.__setattr__(self, "origin", tuple(float(v) for v in self.origin))
        object.__setattr__(self, "direction", tuple(float(v) for v in np.ravel(self.direction)))
        if len(self.spacing) != 3 or len(self.origin) != 3 or len(self.direction) != 9:
            raise PetsegError("a volume needs 3 spacings, 3 origin coordinates and 9 direction values")
        if min(self.spacing) <= 0:
            raise PetsegError(f"voxel spacing must be positive, got {self.spacing}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape (z, y, x)."""
        return tuple(self.array.shape)  # type: ignore[return-value]

    @property
    def spacing_zyx(self) -> tuple[float, float, float]:
        """Spacing in array axis order, for array operations (zoom, structuring elements)."""
        return self.spacing[2], self.spacing[1], self.spacing[0]

    @property
    def voxel_ml(self) -> float:
        """Volume of one voxel in millilitres."""
        return float(np.prod(self.spacing)) / 1000.0

    @property
    def direction_matrix(self) -> np.ndarray:
        """Direction as a 3x3 matrix (columns: physical direction of array axes x, y, z)."""
        return np.asarray(self.direction).reshape(3, 3)

    def with_array(self, array: np.ndarray) -> Volume:
        """A volume with the same geometry and a new array of the same shape."""
        if array.shape != self.array.shape:
            raise ValueError(f"shape {array.shape} does not match the grid {self.array.shape}")
        return Volume(array, self.spacing, self.origin, self.direction)

    def index_to_physical(self, index_zyx: np.ndarray) -> np.ndarray:
        """Physical (x, y, z) mm of voxel indices given as [..., (z, y, x)]."""
        ijk = np.asarray(index_zyx, dtype=float)[..., ::-1]
        return ijk * np.asarray(self.spacing) @ self.direction_matrix.T + np.asarray(self.origin)

    def physical_to_index(self, point_xyz: np.ndarray) -> np.ndarray:
        """Continuous voxel indices [..., (z, y, x)] of physical points [..., (x, y, z)]."""
        offset = np.asarray(point_xyz, dtype=float) - np.asarray(self.origin)
        ijk = offset @ np.linalg.inv(self.direction_matrix).T / np.asarray(self.spacing)
        return ijk[..., ::-1]

    def same_grid(self, other: Volume, tol_mm: float = 1e-3) -> bool:
        """True when both volumes share shape, spacing, origin and direction (within `tol_mm`)."""
        return (
            self.shape == other.shape
            and np.allclose(self.spacing, other.spacing, rtol=0, atol=tol_mm)
            and np.allclose(self.origin, other.origin, rtol=0, atol=tol_mm)
            and np.allclose(self.direction, other.direction, rtol=0, atol=1e-6)
        )

    def describe_grid(self) -> str:
        """One-line description of the geometry, for error messages."""
        spacing = "x".join(f"{s:.4g}" for s in self.spacing)
        origin = ", ".join(f"{o:.4g}" for o in self.origin)
        return f"shape (z,y,x) {self.shape}, spacing {spacing} mm, origin ({origin})"

    def to_sitk(self) -> sitk.Image:
        """This volume as a SimpleITK image (bool arrays become uint8)."""
        array = self.array.astype(np.uint8) if self.array.dtype == bool else self.array
        image = sitk.GetImageFromArray(np.ascontiguousarray(array))
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(self.direction)
        return image

    @classmethod
    def from_sitk(cls, image: sitk.Image) -> Volume:
        """A volume holding a copy of a 3D SimpleITK image's pixels and geometry."""
        if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
            raise PetsegError(
                f"expected a 3D single-channel image, got {image.GetDimension()}D with "
                f"{image.GetNumberOfComponentsPerPixel()} component(s) per voxel")
        return cls(sitk.GetArrayFromImage(image), image.GetSpacing(), image.GetOrigin(), image.GetDirection())


def is_image_path(path: str | Path) -> bool:
    """True when `path` has a suffix petseg reads as an image file."""
    return full_suffix(Path(path)).lower() in IMAGE_SUFFIXES


def read_volume(path: str | Path, dtype: type | np.dtype | None = None) -> Volume:
    """Read a NIfTI/MHA/NRRD file into a `Volume`, optionally casting the array to `dtype`.

    NIfTI files are read through completely first (a truncated or damaged file is refused), and keep their
    NaN/Inf voxels as every other format does (ITK's NIfTI reader sets them to 0). NIfTI files whose affine
    is not orthonormal (which ITK refuses) are read with nibabel and the direction is orthonormalised with a
    warning. A 4D file with a single time point is accepted.
    """
    path = Path(path)
    if not path.exists():
        raise PetsegError(f"file not found: {path}")
    if path.is_dir():
        raise PetsegError(f"{path} is a folder, not an image file (DICOM folders need `petseg convert`)")
    non_finite = check_nifti(path) if is_nifti(path) else 0
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        if "orthonormal" in str(exc) and full_suffix(path).lower() in (".nii", ".nii.gz"):
            volume = _read_nifti_with_nibabel(path)
        else:
            raise PetsegError(f"cannot read {path} as an image: {_first_itk_line(exc)}") from None
    else:
        image = _squeeze_single_frame(image, path)
        volume = Volume.from_sitk(image)
        if non_finite:
            volume = volume.with_array(restore_non_finite(volume.array, path))
    if dtype is not None and volume.array.dtype != dtype:
        volume = volume.with_array(volume.array.astype(dtype))
    return volume


def write_volume(volume: Volume, path: str | Path, compress: bool = True) -> Path:
    """Write `volume` atomically to `path` (format from the suffix); returns the path."""
    path = Path(path)
    if not is_image_path(path):
        raise PetsegError(f"cannot write {path}: use one of {', '.join(IMAGE_SUFFIXES)}")
    with atomic_path(path) as tmp:
        try:
            sitk.WriteImage(volume.to_sitk(), str(tmp), useCompression=compress)
        except RuntimeError as exc:
            raise _write_fault(exc, tmp) from None
        if is_nifti(path):
            verify_written(tmp)  # ITK's NIfTI writer reports no failed write
    return path


def _write_fault(exc: RuntimeError, tmp: Path) -> Exception:
    """An ITK write error as the OSError it was (which `atomic_path` turns into one line), else as it is."""
    for code in WRITE_FAULTS:
        if os.strerror(code) in str(exc):
            return OSError(code, os.strerror(code), str(tmp))
    return exc


def _squeeze_single_frame(image: sitk.Image, path: Path) -> sitk.Image:
    """Drop a trailing length-1 time axis; refuse real 4D data."""
    if image.GetDimension() == 4:
        if image.GetSize()[3] != 1:
            raise PetsegError(f"{path} is a 4D image with {image.GetSize()[3]} frames; petseg expects one "
                              "3D PET or CT volume (sum or pick the frames first)")
        size = list(image.GetSize())
        size[3] = 0
        image = sitk.Extract(image, size, [0, 0, 0, 0])
    return image


def _read_nifti_with_nibabel(path: Path) -> Volume:
    """Read a NIfTI whose affine ITK rejects; orthonormalise its direction (polar decomposition)."""
    import nibabel as nib

    img = nib.load(str(path))
    data = np.asarray(img.dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise PetsegError(f"{path}: expected a 3D image, got shape {data.shape}")
    affine_lps = np.diag([-1.0, -1.0, 1.0]) @ img.affine[:3, :4]  # nibabel gives RAS, ITK uses LPS
    linear = affine_lps[:, :3]
    spacing = np.linalg.norm(linear, axis=0)
    u, _, vt = np.linalg.svd(linear / spacing)
    direction = u @ vt
    warnings.warn(f"{path.name}: the NIfTI affine is not orthonormal; using the nearest rotation "
                  f"(largest change {np.abs(direction - linear / spacing).max():.2g})", PetsegWarning,
                  stacklevel=3)
    return Volume(np.ascontiguousarray(data.transpose(2, 1, 0)), tuple(spacing), tuple(affine_lps[:, 3]),
                  tuple(direction.ravel()))


def _first_itk_line(exc: Exception) -> str:
    """The informative line of an ITK exception (they span many lines)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if "description" in line.lower() or "error" in line.lower():
            return line.split(":", 1)[-1].strip() or line
    return lines[-1] if lines else "unknown error"
