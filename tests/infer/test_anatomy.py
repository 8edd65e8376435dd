"""The anatomy step removes learned components that lie in physiology the SUV method recognises."""

from __future__ import annotations

import numpy as np

from petseg.infer.anatomy import (
    Physiology,
    anatomy_step,
    apply_reading,
    outline_by_suv,
    reading_steps,
    remove_physiology,
)
from petseg.io.images import Volume
from petseg.metrics.autopet import autopet_metrics
from petseg.metrics.components import Overlap


def test_a_component_mostly_in_named_uptake_goes_and_one_beside_it_stays():
    suv = Volume(np.full((20, 20, 20), 5.0, np.float32), (2.0, 2.0, 2.0))
    labels = np.zeros((20, 20, 20), np.uint16)
    labels[2:10, 2:10, 2:10] = 1  # a bladder
    labels[12:18, 12:18, 12:18] = 2  # a kidney
    known = Physiology(labels, ["bladder", "kidney"])
    mask = np.zeros((20, 20, 20), bool)
    mask[3:9, 3:9, 3:9] = True  # the model calls the bladder a lesion
    mask[12:18, 12:18, 10:13] = True  # a node touching the kidney: 1 of its 3 slices lies in it
    removed = remove_physiology(mask, suv, known)
    assert removed.mask[12:18, 12:18, 10:13].all() and not removed.mask[3:9, 3:9, 3:9].any()
    assert [(item["id"], item["reason"], item["removed_by"]) for item in removed.items] == [(1, "bladder", "anatomy")]
    assert removed.items[0]["volume_ml"] == 216 * 8 / 1000 and removed.items[0]["overlap"] == 1.0
    assert (removed.labels == 1).sum() == 216 and removed.labels.max() == 1
    assert remove_physiology(mask, suv, known, min_fraction=0.3).mask.sum() == 0  # the node is 1/3 in the kidney


def test_on_a_whole_body_study_organs_go_and_lesions_stay(small_phantom):
    study = small_phantom.study
    uptake = study.suv.with_array((study.suv.array > 2.5).astype(np.uint8))  # what a naive model would call
    cleaned, removed = anatomy_step(uptake, study, {"anatomy": {"min_fraction": 0.5}})
    reasons = {item["reason"] for item in removed.items}
    assert {"brain", "bladder"} <= reasons
    truth = study.label.array > 0
    before = Overlap.of(truth, uptake.array > 0, study.suv.voxel_ml)
    after = Overlap.of(truth, cleaned.array > 0, study.suv.voxel_ml)
    assert after.gt_touched().sum() == before.gt_touched().sum()  # no lesion lost
    assert autopet_metrics(after)["fpv_ml"] < 0.5 * autopet_metrics(before)["fpv_ml"]
    assert anatomy_step(uptake, study, {}) == (uptake, None)  # no step: the mask as it is


def test_the_suv_outline_keeps_the_suv_methods_lesions_the_model_confirms():
    """Two SUV-method lesions: the model reaches 0.3 in one (under its threshold) and 0.0625 in the other; the mask
    becomes the first's whole outline at confirm 0.2, both at 0.0625, neither at 0.5. The model's own blob elsewhere
    (no SUV outline) is not kept."""
    lesions = np.zeros((20, 20, 20), bool)
    lesions[2:6, 2:6, 2:6] = True
    lesions[12:16, 12:16, 12:16] = True
    probability = np.zeros((20, 20, 20), np.float16)  # as calibration holds it
    probability[3, 3, 3] = 0.3
    probability[13:15, 13:15, 13:15] = 0.0625  # exact in float16
    probability[8:10, 16:19, 2:4] = 0.9
    assert (outline_by_suv(probability, lesions, 0.2) == (lesions & (np.arange(20)[:, None, None] < 10))).all()
    assert (outline_by_suv(probability, lesions, 0.0625) == lesions).all()
    assert not outline_by_suv(probability, lesions, 0.5).any()
    assert not outline_by_suv(probability, np.zeros_like(lesions), 0.0).any()


def test_reading_steps_run_the_outline_then_the_anatomy():
    suv = Volume(np.full((20, 20, 20), 5.0, np.float32), (2.0, 2.0, 2.0))
    labels = np.zeros((20, 20, 20), np.uint16)
    labels[10:20] = 1  # a bladder over the lower half
    lesions = np.zeros((20, 20, 20), bool)
    lesions[2:6, 2:6, 2:6] = True  # an SUV-method lesion
    lesions[14:18, 2:6, 2:6] = True  # one in the bladder
    known = Physiology(labels, ["bladder"], lesions)
    probability = lesions.astype(np.float32) * 0.9
    mask = probability > 0.5
    removed = apply_reading(mask, probability, suv, known, {"suv_outline": {"confirm": 0.5},
                                                            "anatomy": {"min_fraction": 0.5}})
    assert (removed.mask == (lesions & (np.arange(20)[:, None, None] < 10))).all()
    assert [item["reason"] for item in removed.items] == ["bladder"]
    assert apply_reading(mask, None, suv, known, {}).mask.sum() == mask.sum()


def test_reading_steps_follow_the_command_line_then_the_calibration():
    calibrated = {"suv_outline": {"confirm": 0.1}, "anatomy": {"min_fraction": 0.4}}
    assert reading_steps(calibrated, 0.5) == calibrated
    assert reading_steps(calibrated, 0.5, anatomy=False, suv_outline=False) == {}
    assert reading_steps({}, 0.5) == {}
    assert reading_steps({}, 0.5, anatomy=True, suv_outline=True) == {"suv_outline": {"confirm": 0.5},
                                                                     "anatomy": {"min_fraction": 0.5}}
