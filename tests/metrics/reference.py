"""A straightforward implementation of the published autoPET metric definitions, one pass per component.

It mirrors the challenge's evaluation script (label, then for each component scan the whole volume)
and serves as the reference that petseg's one-pass implementation must equal, in tests and benchmarks.
"""

from __future__ import annotations

import cc3d
import numpy as np


def untouched_voxels(mask: np.ndarray, other: np.ndarray) -> int:
    """Voxels of the 18-connected components of `mask` that share no voxel with `other`."""
    components = cc3d.connected_components(mask, connectivity=18)
    total = 0
    for index in range(1, components.max() + 1):
        component = components == index
        if (component * other).sum() == 0:
            total += component.sum()
    return int(total)


def reference_metrics(gt: np.ndarray, pred: np.ndarray, voxel_ml: float) -> tuple[float, float, float]:
    """(Dice, FPV ml, FNV ml) under the autoPET III rule (Dice and FNV NaN for an empty ground truth)."""
    gt, pred = gt.astype(np.uint8), pred.astype(np.uint8)
    fpv = untouched_voxels(pred, gt) * voxel_ml
    if gt.sum() == 0:
        return float("nan"), fpv, float("nan")
    dice = 2.0 * (gt * pred).sum() / (gt.sum() + pred.sum())
    return float(dice), fpv, untouched_voxels(gt, pred) * voxel_ml
