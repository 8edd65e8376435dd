from __future__ import annotations

import math

import numpy as np
import pytest

from petseg.metrics.components import Overlap
from petseg.metrics.detection import detection, pooled_detection


def scene():
    """Three ground-truth lesions, four predicted components.

    GT A (8 voxels) is half covered by prediction P1 (4 voxels inside, 4 outside);
    GT B (1 voxel) is touched by P2 (2 voxels); GT C is missed; P3 and P4 are false positives.
    """
    gt = np.zeros((10, 10, 10), bool)
    pred = np.zeros_like(gt)
    gt[0:2, 0:2, 0:2] = True          # A
    pred[0:2, 0:2, 0:1] = True        # P1 inside A
    pred[0:2, 0:2, 1:2] = False
    pred[0:2, 2:4, 0:1] = True        # P1 outside A (same component)
    gt[5, 5, 5] = True                # B
    pred[5, 5, 5:7] = True            # P2
    gt[8, 8, 8] = True                # C (missed)
    pred[0, 8, 8] = True              # P3
    pred[9, 0, 9] = True              # P4
    return Overlap.of(gt, pred, 1.0)


def test_any_overlap_counts():
    result = detection(scene())
    assert (result["gt_lesions"], result["pred_lesions"]) == (3, 4)
    assert (result["tp"], result["fn"], result["fp"]) == (2, 1, 2)
    assert result["sensitivity"] == pytest.approx(2 / 3)
    assert result["precision"] == pytest.approx(2 / 4)
    assert result["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    # Dice of A with P1: 2*4/(8+8); of B with P2: 2*1/(1+2)
    assert sorted(result["lesion_dice"]) == pytest.approx(sorted([0.5, 2 / 3]))


def test_iou_threshold_matching():
    # IoU(A, P1) = 4/12, IoU(B, P2) = 1/2
    result = detection(scene(), iou_threshold=0.4)
    assert (result["tp"], result["fn"], result["fp"]) == (1, 2, 3)
    assert result["lesion_dice"] == pytest.approx([2 / 3])
    loose = detection(scene(), iou_threshold=0.3)
    assert loose["tp"] == 2


def test_one_prediction_touching_two_lesions():
    gt = np.zeros((5, 5, 9), bool)
    gt[2, 2, 1] = gt[2, 2, 7] = True
    pred = np.zeros_like(gt)
    pred[2, 2, 1:8] = True
    result = detection(Overlap.of(gt, pred, 1.0))
    assert (result["tp"], result["fp"], result["tp_pred"]) == (2, 0, 1)
    one_to_one = detection(Overlap.of(gt, pred, 1.0), iou_threshold=0.01)
    assert (one_to_one["tp"], one_to_one["fn"], one_to_one["fp"]) == (1, 1, 0)


def test_empty_cases_are_not_divided_by_zero():
    nothing = detection(Overlap.of(np.zeros((3, 3, 3), bool), np.zeros((3, 3, 3), bool), 1.0))
    assert math.isnan(nothing["sensitivity"]) and math.isnan(nothing["precision"]) and math.isnan(nothing["f1"])
    pred = np.zeros((3, 3, 3), bool)
    pred[1, 1, 1] = True
    false_alarm = detection(Overlap.of(np.zeros((3, 3, 3), bool), pred, 1.0))
    assert false_alarm["fp"] == 1 and false_alarm["f1"] == 0.0 and math.isnan(false_alarm["sensitivity"])


def test_pooled_over_cases():
    cases = [detection(scene()), detection(scene())]
    pooled = pooled_detection(cases)
    assert pooled["gt_lesions"] == 6 and pooled["tp"] == 4 and pooled["fp_per_study"] == 2.0
    assert pooled["lesion_dice"] == pytest.approx(np.mean([0.5, 2 / 3]))
