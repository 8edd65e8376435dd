from __future__ import annotations

import numpy as np
import pytest

from petseg.errors import PetsegError
from petseg.infer.postprocess import apply_postprocessing
from petseg.io.images import Volume


def grid(array: np.ndarray, spacing=(2.0, 2.0, 2.0)) -> Volume:
    return Volume(array.astype(np.float32), spacing)


def test_small_components_are_removed_by_volume():
    mask = np.zeros((20, 20, 20), bool)
    mask[2:6, 2:6, 2:6] = True  # 64 voxels of 8 ul = 0.512 ml
    mask[15, 15, 15] = True  # 0.008 ml
    suv = grid(np.full(mask.shape, 5.0))
    kept = apply_postprocessing(mask, mask.astype(np.float32), suv, {"min_volume_ml": 0.1})
    assert kept.sum() == 64 and not kept[15, 15, 15]


def test_suv_floor_drops_cold_voxels():
    mask = np.ones((4, 4, 4), bool)
    values = np.full(mask.shape, 3.0)
    values[0] = 1.0
    kept = apply_postprocessing(mask, mask.astype(np.float32), grid(values), {"suv_floor": 1.5})
    assert kept.sum() == 48 and not kept[0].any()


def test_candidates_add_hot_components_just_under_the_threshold():
    probability = np.zeros((20, 20, 20), np.float32)
    probability[2:5, 2:5, 2:5] = 0.9  # found
    probability[10:13, 10:13, 10:13] = 0.35  # under 0.5, hot: added
    probability[15:18, 2:5, 2:5] = 0.35  # under 0.5, cold: not added
    suv = np.ones(probability.shape)
    suv[11, 11, 11] = 9.0
    mask = apply_postprocessing(probability >= 0.5, probability, grid(suv),
                                {"candidates": {"threshold": 0.25, "suvmax": 6.0}})
    assert mask[2:5, 2:5, 2:5].all() and mask[10:13, 10:13, 10:13].all() and not mask[15:18].any()
    assert mask.sum() == 54


def test_closing_merges_a_gap_and_keeps_the_edges():
    mask = np.zeros((12, 12, 12), bool)
    mask[0:4, 4:8, 4:8] = True
    mask[5:9, 4:8, 4:8] = True  # one empty slice between the two parts
    closed = apply_postprocessing(mask, mask.astype(np.float32), grid(np.ones(mask.shape)), {"closing_mm": 4.0})
    assert closed[4, 5:7, 5:7].all() and closed[0, 5:7, 5:7].all()  # gap filled, edge slice kept
    assert closed.sum() >= mask.sum() and not closed[11].any()


def test_unknown_step_is_refused():
    with pytest.raises(PetsegError, match="unknown post-processing"):
        apply_postprocessing(np.zeros((2, 2, 2), bool), np.zeros((2, 2, 2)), grid(np.zeros((2, 2, 2))), {"open": 1})
