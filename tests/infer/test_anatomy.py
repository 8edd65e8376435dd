"""The anatomy step removes learned components that lie in physiology the SUV method recognises."""

from __future__ import annotations

import numpy as np

from petseg.infer.anatomy import Physiology, anatomy_step, remove_physiology
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
    cleaned, removed = anatomy_step(uptake, study, 0.5)
    reasons = {item["reason"] for item in removed.items}
    assert {"brain", "bladder"} <= reasons
    truth = study.label.array > 0
    before = Overlap.of(truth, uptake.array > 0, study.suv.voxel_ml)
    after = Overlap.of(truth, cleaned.array > 0, study.suv.voxel_ml)
    assert after.gt_touched().sum() == before.gt_touched().sum()  # no lesion lost
    assert autopet_metrics(after)["fpv_ml"] < 0.5 * autopet_metrics(before)["fpv_ml"]
    assert anatomy_step(uptake, study, None) == (uptake, None)  # the step off: the mask as it is
