"""The official autoPET metrics: Dice, false-positive volume and false-negative volume (ml).

Semantics of the challenge evaluation code (autoPET I-IV): 18-connected components; FPV is the
volume of predicted components that overlap no ground-truth voxel; FNV the volume of ground-truth
components that overlap no predicted voxel; volumes from the voxel spacing; Dice per case.

Empty ground truth (lesion-free study): under the autoPET III/IV rule (default) Dice and FNV are
undefined (NaN) and left out of means, only FPV counts. Under the autoPET I rule (the 2022
evaluation script) Dice is 0 when something was predicted, NaN when both masks are empty (0/0),
and FNV is 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from petseg.metrics.components import Overlap

RULES = ("autopet3", "autopet1")


def autopet_metrics(overlap: Overlap, rule: str = "autopet3") -> dict[str, float]:
    """Dice, FPV and FNV (ml) of one case, plus the volumes of both masks."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; choose from {RULES}")
    fpv = float(overlap.pred_sizes[~overlap.pred_touched()].sum()) * overlap.voxel_ml
    fnv = float(overlap.gt_sizes[~overlap.gt_touched()].sum()) * overlap.voxel_ml
    total = overlap.gt_voxels + overlap.pred_voxels
    dice = 2.0 * overlap.shared_voxels / total if total else math.nan
    if overlap.gt_voxels == 0 and rule == "autopet3":
        dice, fnv = math.nan, math.nan
    return {"dice": dice, "fpv_ml": fpv, "fnv_ml": fnv,
            "gt_volume_ml": overlap.gt_voxels * overlap.voxel_ml,
            "pred_volume_ml": overlap.pred_voxels * overlap.voxel_ml}


def nan_mean(values: Iterable[float]) -> float:
    """Mean of the defined (non-NaN) values; NaN when there are none (never a silent 0/0)."""
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def mean_metrics(cases: list[dict[str, float]]) -> dict[str, float]:
    """Means over cases of Dice, FPV and FNV, each over the cases where it is defined."""
    return {key: nan_mean(case[key] for case in cases) for key in ("dice", "fpv_ml", "fnv_ml")}
