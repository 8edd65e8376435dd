"""Lesion masks from DICOM (SEG by frame position in `seg_reader`, RTSTRUCT here) onto the PET grid, and
DICOM-SEG out (highdicom).

RTSTRUCT contours are rasterised here because no maintained library does it onto an arbitrary
(oblique, resampled) grid: a voxel is inside when its centre is inside the polygon, and the
contours of one slice combine by the even-odd rule, so inner contours cut holes.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from matplotlib.path import Path as PolygonPath
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from petseg import __version__
from petseg.errors import PetsegError, PetsegWarning
from petseg.io.atomic import atomic_path
from petseg.io.dicom import SeriesVolume
from petseg.io.images import Volume
from petseg.io.seg_reader import read_seg


def read_dicom_mask(path: str | Path, pet: SeriesVolume, roi: str | None = None) -> Volume:
    """A binary uint8 mask on the PET grid from a DICOM SEG or RTSTRUCT file (ROI/segment chosen by name)."""
    path = Path(path)
    if not path.is_file():
        candidates = [p for p in sorted(path.rglob("*")) if p.is_file()] if path.is_dir() else []
        if len(candidates) != 1:
            raise PetsegError(f"--mask must be one SEG or RTSTRUCT file, got {path}")
        path = candidates[0]
    try:
        dataset = pydicom.dcmread(str(path), force=True)
    except Exception as exc:  # pydicom raises many kinds for broken files
        raise PetsegError(f"cannot read {path} as DICOM: {exc}") from None
    modality = str(dataset.get("Modality", ""))
    if modality == "RTSTRUCT":
        return rasterise_rtstruct(dataset, pet.volume, roi)
    if modality == "SEG":
        return read_seg(dataset, pet, roi)
    raise PetsegError(f"{path} is a {modality or 'non-image'} object, not a SEG or RTSTRUCT")


def _roi_names(dataset: Dataset) -> dict[int, str]:
    return {int(item.ROINumber): str(item.ROIName) for item in dataset.get("StructureSetROISequence", [])}


def rasterise_rtstruct(dataset: Dataset, grid: Volume, roi: str | None = None) -> Volume:
    """The named ROI (or the only one) of an RTSTRUCT as a uint8 mask on `grid`."""
    names = _roi_names(dataset)
    if roi is None:
        if len(names) != 1:
            raise PetsegError(f"the RTSTRUCT holds {len(names)} ROIs ({', '.join(names.values())}); choose one with "
                              "--roi NAME")
        number = next(iter(names))
    else:
        matches = [n for n, name in names.items() if name == roi] or \
                  [n for n, name in names.items() if name.lower() == roi.lower()]
        if not matches:
            raise PetsegError(f"no ROI named {roi!r} in the RTSTRUCT; it holds: {', '.join(names.values())}")
        number = matches[0]
    contours = next((item for item in dataset.get("ROIContourSequence", []) if int(item.ReferencedROINumber) == number),
                    None)
    mask = np.zeros(grid.shape, dtype=bool)
    off_grid = 0
    for contour in getattr(contours, "ContourSequence", []) if contours is not None else []:
        if str(contour.get("ContourGeometricType", "CLOSED_PLANAR")) not in ("CLOSED_PLANAR", "POINT"):
            continue
        points = np.array([float(v) for v in contour.ContourData]).reshape(-1, 3)
        index = grid.physical_to_index(points)  # (z, y, x) continuous
        z = int(np.rint(index[:, 0].mean()))
        if not 0 <= z < grid.shape[0] or np.abs(index[:, 0] - z).max() > 0.5:
            off_grid += 1
            continue
        mask[z] ^= _polygon_fill(index[:, 2], index[:, 1], grid.shape[1:])
    if off_grid:
        warnings.warn(f"{off_grid} contour(s) of ROI {names[number]!r} lie between or outside the PET slices and were "
                      "left out", PetsegWarning, stacklevel=2)
    if not mask.any():
        raise PetsegError(f"ROI {names[number]!r} has no contour on the PET grid")
    return grid.with_array(mask.astype(np.uint8))


def _polygon_fill(x: np.ndarray, y: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixels (rows = y, columns = x) whose centres lie inside the polygon."""
    filled = np.zeros(shape, dtype=bool)
    x0, x1 = max(int(np.floor(x.min())), 0), min(int(np.ceil(x.max())), shape[1] - 1)
    y0, y1 = max(int(np.floor(y.min())), 0), min(int(np.ceil(y.max())), shape[0] - 1)
    if x1 < x0 or y1 < y0:
        return filled
    rows, columns = np.mgrid[y0:y1 + 1, x0:x1 + 1]
    inside = PolygonPath(np.column_stack([x, y])).contains_points(np.column_stack([columns.ravel(), rows.ravel()]))
    filled[y0:y1 + 1, x0:x1 + 1] = inside.reshape(rows.shape)
    return filled


def _to_acquired_slices(mask: np.ndarray, positions: np.ndarray, step: float) -> np.ndarray:
    """Uniform-grid slices mapped back onto the acquired slice positions by nearest position."""
    targets = positions[0] + step * np.arange(mask.shape[0])
    nearest = np.abs(targets[None, :] - positions[:, None]).argmin(axis=1)
    return mask[nearest]


# Patient and study attributes a SEG must carry (type 2: present, possibly empty); anonymised PET often lacks some.
_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
          "ReferringPhysicianName", "StudyID", "AccessionNumber")


def _with_type2_attributes(datasets: list[Dataset]) -> list[Dataset]:
    """The source datasets, copied with empty values for missing type-2 attributes (when any are missing)."""
    missing = [key for key in _TYPE2 if key not in datasets[0]]
    if not missing:
        return datasets
    completed = []
    for dataset in datasets:
        copy = Dataset(dataset)
        copy.file_meta = dataset.file_meta
        for key in missing:
            setattr(copy, key, "")
        completed.append(copy)
    return completed


SEG_SERIES_NUMBER = 900  # the SEG's SeriesNumber: sorts after the acquired series in a viewer's series list


def seg_description(method: dict) -> str:
    """The SEG's SeriesDescription (at most 64 characters): "petseg lesions" and the method that found them; for an
    nnU-Net model, the model ("petseg: nnU-Net v2 Dataset221_AutoPETII 3d_fullres folds 0-4")."""
    if method.get("name") == "nnunet":
        named = f"petseg: {method.get('description', 'nnU-Net v2')}"
        return named if len(named) <= 64 else str(method.get("description", "nnU-Net v2"))[:64]
    if method.get("name") == "model":
        found = "trained models: " + ", ".join(method.get("recipes", [])) if method.get("recipes") else "trained models"
    else:
        found = f"{method.get('name', 'suv')} method"
    return f"petseg lesions ({found})"[:64]


def write_dicom_seg(labels: np.ndarray, pet: SeriesVolume, path: Path, per_lesion: bool = False,
                    description: str = "petseg lesions") -> Path:
    """Write a mask (0 background, lesion ids > 0) as a DICOM SEG referencing the source PET series.

    One "lesion" segment, or with `per_lesion` one segment per lesion id, labelled "lesion <id>" as in the
    report's table. `description` becomes the SeriesDescription (viewers list the series by it); the
    algorithm identification names petseg, its version and the method.
    """
    array = labels if not pet.resampled else _to_acquired_slices(labels, pet.positions, pet.volume.spacing[2])
    ids = sorted(int(v) for v in np.unique(labels) if v > 0) if per_lesion else [1]
    if per_lesion and ids:
        pixels = np.stack([array == i for i in ids], axis=-1).astype(np.uint8)
    elif per_lesion:
        pixels = np.zeros((*array.shape, 1), dtype=np.uint8)
    else:
        pixels = (array > 0).astype(np.uint8)
    algorithm = hd.AlgorithmIdentificationSequence(name="petseg", version=__version__,
                                                   family=codes.cid7162.ArtificialIntelligence,
                                                   parameters={"method": description})
    descriptions = [hd.seg.SegmentDescription(
        segment_number=k + 1, segment_label=f"lesion {i}" if per_lesion else "lesion",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Lesion, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm, tracking_id=f"lesion {i}" if per_lesion else None,
        tracking_uid=hd.UID() if per_lesion else None) for k, i in enumerate(ids or [1])]
    with warnings.catch_warnings():  # e.g. notes on anonymised person names, not the user's concern
        warnings.filterwarnings("ignore", category=UserWarning, module="highdicom")
        seg = _segmentation(pixels, descriptions, pet, description)
    with atomic_path(path) as tmp:
        seg.save_as(tmp)
    return path


def _segmentation(pixels: np.ndarray, descriptions: list, pet: SeriesVolume, description: str) -> hd.seg.Segmentation:
    """A binary SEG of `pixels` (frames in the order of the PET datasets) referencing the PET series."""
    return hd.seg.Segmentation(
        source_images=_with_type2_attributes(pet.datasets), pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=SEG_SERIES_NUMBER,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="petseg", manufacturer_model_name="petseg",
        software_versions=__version__, device_serial_number="0", content_label="LESIONS",
        content_description="Lesions segmented by petseg (research use only)", omit_empty_frames=False,
        series_description=description)
