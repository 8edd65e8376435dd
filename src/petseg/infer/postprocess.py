"""Post-processing of a thresholded lesion mask, as a chain configured by a dict (kept in the calibration).

Steps, applied in this order when present:
- `candidates: {threshold, suvmax}`: add the components of `probability >= threshold` (a lower threshold)
  whose SUVmax reaches `suvmax`: high-uptake lesions the network found just under the threshold (seed 000);
- `closing_mm`: morphological closing with a ball of that radius, merging components split by a gap;
- `suv_floor`: drop voxels under that SUV (about 1.5 for FDG, 1.0 for PSMA: no lesion is that cold);
- `min_volume_ml`: drop components (18-connected, as the autoPET metrics count them) under that volume;
- `suv_outline: {confirm}` and `anatomy: {min_fraction}`: the steps that read the SUV method's view of the study
  (`petseg.infer.anatomy`: its lesion outlines the model confirms; components lying mostly in physiological uptake
  it recognises), applied last by the predictor and the calibration, which hold the study.
Which steps a model uses is decided on held-out studies by `petseg calibrate` (a step stays only where it
improves the metric, as nnU-Net decides its post-processing).
"""

from __future__ import annotations

import math
from typing import Any

import cc3d
import numpy as np
from scipy import ndimage

from petseg.errors import PetsegError
from petseg.io.images import Volume
from petseg.metrics.components import CONNECTIVITY, component_maxima, label_components
from petseg.quantify import sphere_kernel

STEPS = ("candidates", "closing_mm", "suv_floor", "min_volume_ml", "suv_outline", "anatomy")


def add_candidates(mask: np.ndarray, probability: np.ndarray, suv: np.ndarray, threshold: float,
                   suvmax: float) -> np.ndarray:
    """`mask` plus the components of `probability >= threshold` whose SUVmax is at least `suvmax`."""
    components, count = label_components(probability >= threshold)
    if count == 0:
        return mask
    keep = np.flatnonzero(component_maxima(components, count, suv) >= suvmax) + 1
    return mask | np.isin(components, keep)


def close(mask: np.ndarray, radius_mm: float, spacing_zyx: tuple[float, float, float]) -> np.ndarray:
    """Morphological closing with a ball (padded, so nothing sticks to the volume's edges)."""
    structure = sphere_kernel(spacing_zyx, radius_mm)
    pad = [(s // 2, s // 2) for s in structure.shape]
    closed = ndimage.binary_closing(np.pad(mask, pad), structure=structure)
    return closed[tuple(slice(p, p + n) for (p, _), n in zip(pad, mask.shape, strict=True))]


def remove_small(mask: np.ndarray, min_volume_ml: float, voxel_ml: float) -> np.ndarray:
    """`mask` without its 18-connected components smaller than `min_volume_ml`."""
    voxels = math.ceil(min_volume_ml / voxel_ml - 1e-9)
    return cc3d.dust(np.ascontiguousarray(mask), threshold=voxels, connectivity=CONNECTIVITY)


def apply_postprocessing(mask: np.ndarray, probability: np.ndarray, suv: Volume, steps: dict[str, Any]
                         ) -> np.ndarray:
    """The chain of `steps` (see the module docstring) on a boolean mask; returns a boolean mask."""
    unknown = set(steps) - set(STEPS)
    if unknown:
        raise PetsegError(f"unknown post-processing step(s) {sorted(unknown)}: choose from {', '.join(STEPS)}")
    mask = np.asarray(mask, dtype=bool)
    if "candidates" in steps:
        mask = add_candidates(mask, probability, suv.array, float(steps["candidates"]["threshold"]),
                              float(steps["candidates"]["suvmax"]))
    if steps.get("closing_mm"):
        mask = close(mask, float(steps["closing_mm"]), suv.spacing_zyx)
    if "suv_floor" in steps:
        mask = mask & (suv.array >= float(steps["suv_floor"]))
    if steps.get("min_volume_ml"):
        mask = remove_small(mask, float(steps["min_volume_ml"]), suv.voxel_ml)
    return mask


def mask_before_reading(probability: np.ndarray, suv: Volume, threshold: float, steps: dict[str, Any]) -> np.ndarray:
    """The mask the steps reading the SUV method's view start from: thresholded and post-processed, or empty where
    the SUV outline follows (its outlines replace the mask, so the steps on it would be thrown away)."""
    if "suv_outline" in steps:
        return np.zeros(probability.shape, bool)
    return apply_postprocessing(probability >= threshold, probability, suv, steps)
