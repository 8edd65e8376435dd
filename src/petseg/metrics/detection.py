"""Lesion-level detection: which ground-truth lesions were found, which predictions are false.

Two matching rules between 18-connected components:
- any overlap (default, the autoPET notion): a ground-truth lesion is detected when any predicted
  voxel touches it; a predicted component is a false positive when it touches no ground truth;
- IoU threshold: components are paired one-to-one, greedily by decreasing IoU, when IoU >= t.
"""

from __future__ import annotations

import math

import numpy as np

from petseg.metrics.components import Overlap


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def detection(overlap: Overlap, iou_threshold: float | None = None) -> dict[str, object]:
    """Lesion counts and rates of one case; `lesion_dice` lists the Dice of each matched lesion."""
    n_gt, n_pred = len(overlap.gt_sizes), len(overlap.pred_sizes)
    gt_idx, pred_idx, shared = overlap.pairs[:, 0], overlap.pairs[:, 1], overlap.pairs[:, 2].astype(float)
    if iou_threshold is None:
        tp_gt = int(overlap.gt_touched().sum())
        tp_pred = int(overlap.pred_touched().sum())
        inter = np.bincount(gt_idx, weights=shared, minlength=n_gt)
        touching = np.bincount(gt_idx, weights=overlap.pred_sizes[pred_idx].astype(float), minlength=n_gt)
        found = overlap.gt_touched()
        lesion_dice = 2 * inter[found] / (overlap.gt_sizes[found] + touching[found])
    else:
        iou = shared / (overlap.gt_sizes[gt_idx] + overlap.pred_sizes[pred_idx] - shared)
        used_gt, used_pred, dices = set(), set(), []
        for k in np.argsort(-iou, kind="stable"):
            if iou[k] < iou_threshold:
                break
            if gt_idx[k] in used_gt or pred_idx[k] in used_pred:
                continue
            used_gt.add(gt_idx[k])
            used_pred.add(pred_idx[k])
            dices.append(2 * shared[k] / (overlap.gt_sizes[gt_idx[k]] + overlap.pred_sizes[pred_idx[k]]))
        tp_gt = tp_pred = len(used_gt)
        lesion_dice = np.array(dices)
    return summarise(n_gt, n_pred, tp_gt, tp_pred, 1, [float(d) for d in lesion_dice])


def summarise(n_gt: int, n_pred: int, tp_gt: int, tp_pred: int, studies: int,
              lesion_dice: list[float]) -> dict[str, object]:
    """Rates from lesion counts (one case, or counts pooled over `studies` cases)."""
    sensitivity, precision = _ratio(tp_gt, n_gt), _ratio(tp_pred, n_pred)
    if not n_gt and not n_pred:
        f1 = math.nan  # nothing to find and nothing found
    elif not n_gt or not n_pred or sensitivity + precision == 0:
        f1 = 0.0
    else:
        f1 = 2 * sensitivity * precision / (sensitivity + precision)
    return {"gt_lesions": n_gt, "pred_lesions": n_pred, "tp": tp_gt, "tp_pred": tp_pred, "fn": n_gt - tp_gt,
            "fp": n_pred - tp_pred, "sensitivity": sensitivity, "precision": precision, "f1": f1,
            "fp_per_study": (n_pred - tp_pred) / studies, "lesion_dice": lesion_dice}


def pooled_detection(cases: list[dict[str, object]]) -> dict[str, object]:
    """Cohort detection from per-case results: counts summed, then rates; mean Dice of matched lesions."""
    total = {key: sum(int(case[key]) for case in cases) for key in ("gt_lesions", "pred_lesions", "tp", "tp_pred")}
    dices = [d for case in cases for d in case["lesion_dice"]]  # type: ignore[attr-defined]
    pooled = summarise(total["gt_lesions"], total["pred_lesions"], total["tp"], total["tp_pred"],
                       max(len(cases), 1), dices)
    pooled["lesion_dice"] = float(np.mean(dices)) if dices else math.nan
    return pooled
