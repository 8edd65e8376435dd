"""Candidate regions of the SUV method and the features the organ rules read (physical mm, LPS)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from petseg.data.study import Study

BACKGROUND_MARGIN_MM = 15.0
MIN_CT_COVERAGE = 0.5  # a candidate is judged with its CT when at least this fraction of it is covered
WATER_HU = (-20.0, 20.0)


@dataclass
class Candidate:
    """One candidate region: where it is, its shape and uptake, its CT where covered, and the verdict.

    `elongation` and `flatness` are sqrt(largest / middle) and sqrt(middle / smallest) principal variance (~1
    for a ball; a tube is elongated, a plate flat); `axis` is the unit principal direction (x, y, z);
    `hollow_mm` the distance from the centroid to the region's nearest voxel (0 for solid blobs, large for
    shells and rings); `water_fraction`, `core_hu` (median HU around the hottest voxel) and `median_hu` (over the
    whole region: urine is water, solid tissue denser, whatever the CT's noise at the hottest voxel) are None where
    the CT does not cover the region. `reason` is set when it is recognised as physiological
    uptake or noise; `kept` marks an organ's core kept through a split.
    """

    index: int
    box: tuple[slice, ...]
    mask: np.ndarray
    voxels: int
    volume_ml: float
    centroid: np.ndarray
    top_mm: float
    bottom_mm: float
    half_extent_mm: np.ndarray
    peak_mm: np.ndarray
    suvmax: float
    uptake: float
    cv: float
    elongation: float
    flatness: float
    axis: np.ndarray
    shell_ratio: float
    hollow_mm: float
    water_fraction: float | None
    core_hu: float | None
    median_hu: float | None
    contrast: float
    reason: str | None = None
    kept: bool = False


def describe_candidates(study: Study, labels: np.ndarray, indices: list[int] | None = None) -> list[Candidate]:
    """Features of the regions `indices` (default: every label) of `labels`."""
    suv = study.suv
    margin = [max(round(BACKGROUND_MARGIN_MM / s), 1) for s in suv.spacing_zyx]
    boxes = ndimage.find_objects(labels)
    wanted = range(1, len(boxes) + 1) if indices is None else indices
    candidates = []
    for index in wanted:
        box = boxes[index - 1] if index <= len(boxes) else None
        if box is None:
            continue
        mask = labels[box] == index
        values = suv.array[box][mask].astype(np.float64)
        voxels = np.argwhere(mask) + [s.start for s in box]
        physical = suv.index_to_physical(voxels)
        centroid = physical.mean(axis=0)
        elongation, flatness, axis = _principal(physical)
        water, core_hu, median_hu = _ct_features(study, box, mask, voxels[np.argmax(values)])
        candidates.append(Candidate(
            index=index, box=box, mask=mask, voxels=int(mask.sum()), volume_ml=mask.sum() * suv.voxel_ml,
            centroid=centroid, top_mm=float(physical[:, 2].max()), bottom_mm=float(physical[:, 2].min()),
            half_extent_mm=(physical.max(axis=0) - physical.min(axis=0)) / 2, peak_mm=physical[np.argmax(values)],
            suvmax=float(values.max()), uptake=float(values.sum() * suv.voxel_ml),
            cv=float(values.std() / max(values.mean(), 1e-6)), elongation=elongation, flatness=flatness, axis=axis,
            shell_ratio=_shell_ratio(mask), hollow_mm=float(np.min(np.linalg.norm(physical - centroid, axis=1))),
            water_fraction=water, core_hu=core_hu, median_hu=median_hu,
            contrast=float(values.max()) / _background(suv.array, labels, box, margin)))
    return candidates


def _ct_features(study: Study, box: tuple[slice, ...], mask: np.ndarray,
                 hottest: np.ndarray) -> tuple[float | None, float | None, float | None]:
    """Water fraction, the median HU around the hottest voxel and over the region, over CT-covered voxels only."""
    if study.ct is None:
        return None, None, None
    covered = mask if study.ct_coverage is None else mask & (study.ct_coverage.array[box] > 0)
    if covered.sum() < MIN_CT_COVERAGE * mask.sum():
        return None, None, None
    hu = study.ct.array[box][covered]
    water = float(np.mean((hu >= WATER_HU[0]) & (hu <= WATER_HU[1])))
    core = tuple(slice(max(i - 1, 0), i + 2) for i in hottest)
    core_values = study.ct.array[core]
    if study.ct_coverage is not None:
        core_values = core_values[study.ct_coverage.array[core] > 0]
    return water, float(np.median(core_values)) if core_values.size else None, float(np.median(hu))


def _background(suv: np.ndarray, labels: np.ndarray, box: tuple[slice, ...], margin: list[int]) -> float:
    """Median SUV around a region (a margin of ~15 mm, other candidates and air left out)."""
    grown = tuple(slice(max(b.start - m, 0), min(b.stop + m, n)) for b, m, n in zip(box, margin, suv.shape,
                                                                                       strict=True))
    around = suv[grown][(labels[grown] == 0) & (suv[grown] > 0.05)]
    return max(float(np.median(around)), 0.05) if around.size else 0.05


def _principal(points: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Elongation, flatness (see `Candidate`) and the unit principal direction of a point cloud."""
    if len(points) < 4:
        return 1.0, 1.0, np.array([0.0, 0.0, 1.0])
    variances, vectors = np.linalg.eigh(np.cov(points.T))
    return (float(np.sqrt(variances[2] / max(variances[1], 1e-6))),
            float(np.sqrt(variances[1] / max(variances[0], 1e-6))), vectors[:, 2])


def _shell_ratio(mask: np.ndarray) -> float:
    """Area of the region with its holes filled, slice by slice, over its own area (> 1 for a shell)."""
    filled = sum(int(ndimage.binary_fill_holes(mask[k]).sum()) for k in range(mask.shape[0]))
    return filled / max(int(mask.sum()), 1)
