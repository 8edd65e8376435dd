"""Coarse anatomy found from the images: the body, its midline and extent, the lungs, the liver reference.

Heuristics of the kind a reader applies at a glance, good enough to place physiological uptake
(brain at the top, bladder low and central, kidneys posterior-lateral, heart between the lungs).
They work in physical LPS millimetres, so they do not depend on how the array is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import cc3d
import numpy as np
from scipy import ndimage

from petseg.data.study import Study
from petseg.io.images import Volume
from petseg.quantify import sphere_kernel

BODY_SUV = 0.1  # SUV above which a PET voxel is taken to be inside the body
BODY_HU = -400.0


@dataclass(frozen=True)
class BodyFrame:
    """The body's extent and axes: `top_mm` is its most superior z, `midline_x`/`center_y` its centre."""

    mask: np.ndarray
    top_mm: float
    height_mm: float
    midline_x: float
    center_y: float
    head_present: bool
    fov_top_mm: float

    def depth_mm(self, point: np.ndarray) -> float:
        """Distance below the top of the body."""
        return self.top_mm - float(point[2])

    def depth_fraction(self, point: np.ndarray) -> float:
        """Depth as a fraction of the body's axial extent (0 at the top, 1 at the bottom)."""
        return self.depth_mm(point) / max(self.height_mm, 1.0)

    def lateral_mm(self, point: np.ndarray) -> float:
        """Signed distance from the midline, positive towards the patient's left."""
        return float(point[0]) - self.midline_x

    def posterior_mm(self, point: np.ndarray) -> float:
        """Signed distance behind the body's centre (positive = posterior)."""
        return float(point[1]) - self.center_y


def body_frame(study: Study) -> BodyFrame:
    """The body (largest connected region above an SUV floor, and above -400 HU where there is a CT)."""
    suv = study.suv
    inside = suv.array > BODY_SUV
    if study.ct is not None:
        inside |= study.ct.array > BODY_HU
    labels, count = cc3d.connected_components(inside, connectivity=6, return_N=True)
    if count == 0:
        body = inside
    else:
        sizes = np.bincount(labels[inside])
        body = labels == int(np.argmax(sizes[1:]) + 1)
    index = np.argwhere(body) if body.any() else np.zeros((1, 3))
    lo, hi = index.min(axis=0), index.max(axis=0)
    corners = np.array([[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])])
    physical = suv.index_to_physical(corners)
    centre = suv.index_to_physical(index.mean(axis=0))
    shape = np.array(suv.shape) - 1
    grid_corners = suv.index_to_physical(np.array([[a, b, c] for a in (0, shape[0]) for b in (0, shape[1])
                                                   for c in (0, shape[2])]))
    return BodyFrame(mask=body, top_mm=float(physical[:, 2].max()),
                     height_mm=float(physical[:, 2].max() - physical[:, 2].min()),
                     midline_x=float(centre[0]), center_y=float(centre[1]), head_present=_head_present(body, suv),
                     fov_top_mm=float(grid_corners[:, 2].max()))


def _head_present(body: np.ndarray, suv: Volume) -> bool:
    """True when the top of the body is narrower than the shoulders (the field of view includes a head)."""
    superior_axis = int(np.argmax(np.abs(suv.direction_matrix[2, :])))  # x, y or z array axis along patient z
    axis = 2 - superior_axis
    sign = np.sign(suv.direction_matrix[2, superior_axis]) or 1.0
    area = body.sum(axis=tuple(a for a in range(3) if a != axis)).astype(float)
    rows = np.flatnonzero(area)
    if rows.size < 10:
        return False
    ordered = area[rows][::-1] if sign > 0 else area[rows]  # from the top down
    top_extent = max(round(100.0 / suv.spacing[superior_axis]), 1)
    return bool(ordered[:top_extent].mean() < 0.6 * ordered.max())


@dataclass(frozen=True, eq=False)
class LiverReference:
    """Mean and SD of SUV in a 3 cm sphere of the liver, where it was found, and the liver region."""

    mean: float
    sd: float
    center_mm: list[float]
    region: np.ndarray


SEARCH_VOXEL_MM = 6.0  # the liver search runs on voxels binned to about this size


def _bin_factors(volume: Volume) -> tuple[int, int, int]:
    return tuple(max(round(SEARCH_VOXEL_MM / s), 1) for s in volume.spacing_zyx)  # type: ignore[return-value]


def _binned(array: np.ndarray, factors: tuple[int, int, int]) -> np.ndarray:
    """Mean over blocks of `factors` voxels (the array cropped to whole blocks)."""
    shape = [n // f for n, f in zip(array.shape, factors, strict=True)]
    cropped = array[: shape[0] * factors[0], : shape[1] * factors[1], : shape[2] * factors[2]]
    return cropped.reshape(shape[0], factors[0], shape[1], factors[1], shape[2], factors[2]).mean(axis=(1, 3, 5))


def _unbinned(mask: np.ndarray, factors: tuple[int, int, int], shape: tuple[int, ...]) -> np.ndarray:
    """A block mask repeated back onto the full grid (the cropped edge stays False)."""
    full = np.zeros(shape, dtype=bool)
    grown = mask.repeat(factors[0], 0).repeat(factors[1], 1).repeat(factors[2], 2)
    full[: grown.shape[0], : grown.shape[1], : grown.shape[2]] = grown
    return full


def find_liver_reference(study: Study, body: BodyFrame, suv_range: tuple[float, float],
                         max_cv: float) -> LiverReference | None:
    """The PERCIST liver reference: a 3 cm sphere in the right liver lobe, found automatically.

    Searches the patient's right half of the upper abdomen for the largest homogeneous region of
    liver-like uptake (and soft-tissue density where there is a CT), on ~6 mm blocks for speed; the
    reference sphere is then measured on the full grid. None where nothing qualifies.
    """
    suv = study.suv
    factors = _bin_factors(suv)
    spacing = np.array(suv.spacing_zyx) * factors
    values = _binned(suv.array.astype(np.float32), factors)
    inside = _binned(body.mask.astype(np.float32), factors) > 0.5
    size = [max(round(30.0 / s), 1) for s in spacing]
    mean = ndimage.uniform_filter(values, size, mode="nearest")
    sd = np.sqrt(np.maximum(ndimage.uniform_filter(values * values, size, mode="nearest") - mean * mean, 0.0))
    candidate = inside & (mean >= suv_range[0]) & (mean <= suv_range[1]) & (sd <= max_cv * mean)
    if study.ct is not None:
        ct_mean = ndimage.uniform_filter(_binned(study.ct.array.astype(np.float32), factors), size, mode="nearest")
        candidate &= (ct_mean > 20) & (ct_mean < 100)
    index = np.argwhere(candidate)
    if index.size == 0:
        return None
    points = suv.index_to_physical(index * factors + np.array(factors) // 2)
    depth = (body.top_mm - points[:, 2]) / max(body.height_mm, 1.0)
    lateral = points[:, 0] - body.midline_x
    window = (lateral < -20) & (depth > 0.15) & (depth < 0.85)  # patient's right (LPS: -x), trunk
    if not window.any():
        return None
    # The liver is the largest homogeneous region of liver-like uptake there; its most uniform block
    # is the reference centre.
    window_mask = np.zeros_like(candidate)
    window_mask[tuple(index[window].T)] = True
    labels = cc3d.connected_components(window_mask, connectivity=6)
    index = np.argwhere(labels == np.argmax(np.bincount(labels[window_mask])[1:]) + 1)
    best_block = index[np.argmin(sd[tuple(index.T)] / np.maximum(mean[tuple(index.T)], 1e-6))]
    best = best_block * factors + np.array(factors) // 2
    sample = _sphere_values(suv, best, 15.0)
    liver_like = inside & (np.abs(mean - sample.mean()) <= 0.35 * sample.mean())
    labels = cc3d.connected_components(liver_like, connectivity=6)
    region = labels == labels[tuple(best_block)]
    # Grow by ~10 mm: the 3 cm means miss the organ's rim, where its noise would pass the threshold.
    grow = [max(round(20.0 / s), 1) for s in spacing]
    region = ndimage.uniform_filter(region.astype(np.float32), grow, mode="constant") > 0
    return LiverReference(mean=float(sample.mean()), sd=float(sample.std()),
                          center_mm=[float(v) for v in suv.index_to_physical(best)],
                          region=_unbinned(region, factors, suv.shape))


def _sphere_values(volume: Volume, center: np.ndarray, radius_mm: float) -> np.ndarray:
    """SUVs (float64) of the voxels whose centres lie within `radius_mm` of voxel `center`."""
    kernel = sphere_kernel(volume.spacing_zyx, radius_mm)
    offsets = np.argwhere(kernel) - np.array(kernel.shape) // 2
    voxels = np.clip(center + offsets, 0, np.array(volume.shape) - 1)
    return volume.array[tuple(voxels.T)].astype(np.float64)
