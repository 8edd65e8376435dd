from __future__ import annotations

import math

import numpy as np

from petseg.infer.anatomy import Physiology
from petseg.infer.threshold import HeldOutCase, best_index, choose_postprocessing, choose_threshold
from petseg.io.images import Volume
from petseg.tracers import TRACERS


def case(name: str, probability: np.ndarray, label: np.ndarray, suv: np.ndarray | None = None) -> HeldOutCase:
    suv = np.full(label.shape, 4.0, np.float32) if suv is None else suv
    return HeldOutCase(name, probability.astype(np.float32), label, Volume(suv, (4.0, 4.0, 4.0)))


def test_threshold_with_a_known_optimum():
    """Lesion voxels at 0.7, a false-positive blob at 0.4: any threshold in (0.4, 0.7] is perfect, and the
    sweep's first such candidate is 0.425."""
    label = np.zeros((20, 20, 20), bool)
    label[3:7, 3:7, 3:7] = True
    probability = np.where(label, 0.7, 0.0)
    probability[12:15, 12:15, 12:15] = 0.4
    negative = np.zeros_like(probability)
    negative[5:8, 5:8, 5:8] = 0.3
    threshold, table = choose_threshold([case("a", probability, label), case("b", negative, np.zeros_like(label))])
    assert math.isclose(threshold, 0.425)
    row = next(r for r in table if math.isclose(r["threshold"], threshold))
    assert row["dice"] == 1.0 and row["fpv_ml"] == 0.0 and row["fnv_ml"] == 0.0
    assert next(r for r in table if math.isclose(r["threshold"], 0.2))["fpv_ml"] > 0


def test_autopet_ranking_can_prefer_fewer_false_volumes_over_a_little_dice():
    rows = [{"dice": 0.80, "fpv_ml": 10.0, "fnv_ml": 5.0}, {"dice": 0.79, "fpv_ml": 0.0, "fnv_ml": 0.0},
            {"dice": 0.50, "fpv_ml": 0.0, "fnv_ml": 0.0}]
    assert best_index(rows, "dice") == 0
    assert best_index(rows, "autopet") == 1


def test_post_processing_steps_are_kept_only_when_they_help():
    label = np.zeros((24, 24, 24), bool)
    label[4:9, 4:9, 4:9] = True
    probability = np.where(label, 0.9, 0.0).astype(np.float32)
    probability[18, 18, 18] = 0.9  # a one-voxel false positive (0.064 ml): removed by min_volume_ml
    suv = np.full(label.shape, 4.0, np.float32)
    chain, trials = choose_postprocessing([case("a", probability, label, suv)], 0.5, "dice", TRACERS["fdg"])
    kept = {next(iter(t["step"])) for t in trials if t["kept"]}
    assert kept == {"min_volume_ml"}
    assert chain == {"min_volume_ml": 0.5}


def test_the_suv_outline_is_kept_where_it_outlines_better_than_the_model():
    """The model finds the lesion but outlines it too wide (a shell of 0.6 around it) and calls uptake the SUV
    method left out (0.7): the SUV method's outline, confirmed by the model, is kept at the first confirm tried."""
    label = np.zeros((24, 24, 24), bool)
    label[4:9, 4:9, 4:9] = True
    probability = np.zeros(label.shape, np.float32)
    probability[3:10, 3:10, 3:10] = 0.6
    probability[4:9, 4:9, 4:9] = 0.9
    probability[16:20, 16:20, 16:20] = 0.7  # physiology the SUV method names (not among its lesions)
    held_out = HeldOutCase("a", probability, label, Volume(np.full(label.shape, 4.0, np.float32), (4.0, 4.0, 4.0)),
                           physiology=Physiology(np.zeros(label.shape, np.uint16), [], label.copy()))
    chain, trials = choose_postprocessing([held_out], 0.5, "dice", TRACERS["fdg"])
    assert chain["suv_outline"] == {"confirm": 0.5}
    assert next(t for t in trials if "suv_outline" in t["step"])["dice"] == 1.0
