from __future__ import annotations

import math

import numpy as np
import pytest

from petseg.metrics.autopet import autopet_metrics, mean_metrics
from petseg.metrics.components import Overlap
from tests.metrics.reference import reference_metrics


def metrics(gt, pred, voxel_ml=1.0, rule="autopet3"):
    return autopet_metrics(Overlap.of(np.asarray(gt, bool), np.asarray(pred, bool), voxel_ml), rule)


def empty(shape=(5, 5, 5)):
    return np.zeros(shape, bool)


def test_edge_diagonal_is_18_connected_not_6():
    # Two voxels sharing an edge (not a face): one 18-connected component.
    gt = empty()
    gt[2, 2, 2] = True
    pred = empty()
    pred[2, 2, 2] = pred[2, 3, 3] = True  # the second voxel touches the first along an edge
    result = metrics(gt, pred)
    assert result["fpv_ml"] == 0.0  # the edge neighbour belongs to a component that touches the truth
    assert result["dice"] == pytest.approx(2 * 1 / 3)


def test_corner_contact_is_26_connected_but_not_18():
    gt = empty()
    gt[2, 2, 2] = True
    pred = empty()
    pred[2, 2, 2] = pred[3, 3, 3] = True  # corner-only contact: a separate component under 18-connectivity
    result = metrics(gt, pred)
    assert result["fpv_ml"] == 1.0
    assert result["fnv_ml"] == 0.0


def test_missed_lesion_counts_as_false_negative_volume():
    gt = empty((6, 6, 6))
    gt[0:2, 0:2, 0:2] = True  # found
    gt[4:6, 4:6, 4:6] = True  # missed: 8 voxels
    pred = empty((6, 6, 6))
    pred[0, 0, 0] = True
    result = metrics(gt, pred, voxel_ml=0.5)
    assert result["fnv_ml"] == 4.0
    assert result["fpv_ml"] == 0.0
    assert result["dice"] == pytest.approx(2 * 1 / (16 + 1))


def test_empty_ground_truth_rules():
    gt, pred = empty(), empty()
    pred[1, 1, 1] = True
    three = metrics(gt, pred, 2.0)
    assert math.isnan(three["dice"]) and math.isnan(three["fnv_ml"]) and three["fpv_ml"] == 2.0
    one = metrics(gt, pred, 2.0, rule="autopet1")
    assert one["dice"] == 0.0 and one["fnv_ml"] == 0.0 and one["fpv_ml"] == 2.0
    both_empty = metrics(empty(), empty(), rule="autopet1")
    assert math.isnan(both_empty["dice"]) and both_empty["fpv_ml"] == 0.0
    with pytest.raises(ValueError):
        metrics(gt, pred, rule="autopet9")


def test_empty_prediction_misses_everything():
    gt = empty()
    gt[1:3, 1:3, 1:3] = True
    result = metrics(gt, empty(), 1.0)
    assert result["dice"] == 0.0 and result["fnv_ml"] == 8.0 and result["fpv_ml"] == 0.0


def test_anisotropic_spacing_sets_the_volumes():
    spacing = (0.8, 1.3, 3.27)
    voxel_ml = float(np.prod(spacing)) / 1000
    gt = empty()
    pred = empty()
    pred[0:2, 0, 0] = True
    result = metrics(gt, pred, voxel_ml)
    assert result["fpv_ml"] == pytest.approx(2 * 0.8 * 1.3 * 3.27 / 1000)


def test_means_leave_out_undefined_values():
    cases = [{"dice": 0.5, "fpv_ml": 1.0, "fnv_ml": 2.0}, {"dice": math.nan, "fpv_ml": 3.0, "fnv_ml": math.nan}]
    assert mean_metrics(cases) == {"dice": 0.5, "fpv_ml": 2.0, "fnv_ml": 2.0}
    assert math.isnan(mean_metrics([{"dice": math.nan, "fpv_ml": 0.0, "fnv_ml": math.nan}])["dice"])


@pytest.mark.parametrize("seed", range(8))
def test_equals_the_reference_implementation_on_random_masks(seed):
    rng = np.random.default_rng(seed)
    shape = (12, 14, 16)
    gt = rng.random(shape) < rng.uniform(0.0, 0.15)
    pred = (rng.random(shape) < 0.1) | (gt & (rng.random(shape) < 0.6))
    if seed == 0:
        gt[:] = False
    voxel_ml = float(np.prod(rng.uniform(0.5, 4.0, 3))) / 1000
    mine = metrics(gt, pred, voxel_ml)
    dice, fpv, fnv = reference_metrics(gt, pred, voxel_ml)
    np.testing.assert_allclose([mine["dice"], mine["fpv_ml"], mine["fnv_ml"]], [dice, fpv, fnv], rtol=1e-12,
                               equal_nan=True)
