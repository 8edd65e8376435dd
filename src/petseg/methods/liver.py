"""The PERCIST liver reference, found automatically: the study's own measure of background uptake and noise."""

from __future__ import annotations

from dataclasses import dataclass

import cc3d
import numpy as np
from scipy import ndimage

from petseg.data.study import Study
from petseg.io.images import Volume
from petseg.methods.landmarks import BodyFrame
from petseg.quantify import sphere_kernel

SEARCH_VOXEL_MM = 6.0  # the liver search runs on voxels binned to about this size


@dataclass(frozen=True, eq=False)
class LiverReference:
    """Mean and SD of SUV in a 3 cm sphere of the liver, where it was found, and the liver region."""

    mean: float
    sd: float
    center_mm: list[float]
    region: np.ndarray


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


def _soft_tissue_ct(study: Study, factors: tuple[int, int, int], size: list[int]) -> np.ndarray | None:
    """Blocks that are liver-like on CT (20-100 HU) or that the CT does not cover (None for PET-only)."""
    if study.ct is None:
        return None
    ct_mean = ndimage.uniform_filter(_binned(study.ct.array.astype(np.float32), factors), size, mode="nearest")
    if study.ct_coverage is None or study.ct_covered_fraction == 1.0:
        return (ct_mean > 20) & (ct_mean < 100)
    covered = _binned(study.ct_coverage.array.astype(np.float32), factors) > 0.99
    return ~covered | ((ct_mean > 20) & (ct_mean < 100))


def find_liver_reference(study: Study, body: BodyFrame, suv_range: tuple[float, float],
                         max_cv: float) -> LiverReference | None:
    """The PERCIST liver reference: a 3 cm sphere in the right liver lobe, found automatically.

    Searches the patient's right half of the upper abdomen for the largest homogeneous region of
    liver-like uptake (and soft-tissue density where a CT covers it), on ~6 mm blocks for speed; the
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
    soft = _soft_tissue_ct(study, factors, size)
    if soft is not None:
        candidate &= soft
    index = np.argwhere(candidate)
    if index.size == 0:
        return None
    points = suv.index_to_physical(index * factors + np.array(factors) // 2)
    depth = (body.top_mm - points[:, 2]) / max(body.height_mm, 1.0)
    lateral = points[:, 0] - body.midline_at(points[:, 2])
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
