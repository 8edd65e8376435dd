from __future__ import annotations

import numpy as np
import pytest

from petseg.data.phantom import make_phantom_study
from petseg.data.study import Study
from petseg.errors import PetsegError
from petseg.methods.suv import method_parameters, segment_suv
from petseg.metrics.autopet import autopet_metrics
from petseg.metrics.components import Overlap, label_components
from petseg.metrics.detection import detection


def score(study: Study, mask: np.ndarray):
    overlap = Overlap.of(study.label.array > 0, mask > 0, study.suv.voxel_ml)
    return autopet_metrics(overlap), detection(overlap)


@pytest.fixture(scope="module")
def fdg():
    return make_phantom_study(seed=21, patient=0, size="small", n_lesions=10)


@pytest.fixture(scope="module")
def fdg_result(fdg):
    return segment_suv(fdg.study)


def test_far_fewer_false_positives_than_a_plain_threshold(fdg, fdg_result):
    mine, found = score(fdg.study, fdg_result.mask.array)
    plain, _ = score(fdg.study, (fdg.study.suv.array > 2.5).astype(np.uint8))
    assert mine["fpv_ml"] < plain["fpv_ml"] / 10
    assert mine["dice"] > 5 * plain["dice"]
    components, _ = label_components(fdg.study.label.array > 0)
    visible = [lesion for lesion in fdg.lesions if lesion.suvmax >= 5.0]
    hits = 0
    for lesion in visible:
        index = tuple(np.rint(fdg.study.suv.physical_to_index(np.array(lesion.center_mm))).astype(int))
        hits += bool(fdg_result.mask.array[components == components[index]].any())
    assert len(visible) >= 4 and hits >= 0.8 * len(visible)
    assert found["tp"] >= 0.6 * found["gt_lesions"]


def test_physiological_uptake_is_named(fdg_result):
    reasons = {item["reason"] for item in fdg_result.suppressed}
    assert {"brain", "bladder", "myocardium"} <= reasons
    assert reasons & {"kidney", "urinary tract"}
    assert fdg_result.mask.array.dtype == np.uint8
    provenance = fdg_result.provenance()
    assert provenance["threshold_suv"] == 3.0 and provenance["liver_reference"]["mean"] > 1.5


def test_liver_reference_is_found(fdg, fdg_result):
    liver = fdg_result.liver
    assert liver is not None
    assert liver.mean == pytest.approx(fdg.organs["liver"]["suv"], rel=0.15)


def test_percist_threshold_follows_the_liver(fdg, fdg_result):
    result = segment_suv(fdg.study, {"threshold.mode": "percist"})
    liver = result.liver
    assert result.threshold_suv == pytest.approx(1.5 * liver.mean + 2.0 * liver.sd)


def test_relative_threshold_keeps_41_percent_of_each_max(fdg):
    """The relative mode's outline is its own (no background-adapted level); enclosed holes aside, every voxel
    holds 41 % of its lesion's SUVmax."""
    result = segment_suv(fdg.study, {"threshold.mode": "relative", "min_volume_ml": "0",
                                     "outline.fill_enclosed": "false"})
    suv = fdg.study.suv.array
    labels, count = label_components(result.mask.array > 0)
    for index in range(1, count + 1):
        values = suv[labels == index]
        assert values.min() >= 0.41 * values.max() - 1e-6


def test_pet_only_study(fdg):
    pet_only = Study(suv=fdg.study.suv, ct=None, label=fdg.study.label)
    result = segment_suv(pet_only)
    reasons = {item["reason"] for item in result.suppressed}
    assert {"brain", "bladder"} <= reasons
    mine, _ = score(pet_only, result.mask.array)
    assert mine["fpv_ml"] < 300


def test_psma_glands_and_kidneys_are_suppressed():
    psma = make_phantom_study(seed=4, size="small", tracer="psma", n_lesions=6)
    result = segment_suv(psma.study)
    reasons = {item["reason"] for item in result.suppressed}
    assert "paired gland" in reasons and reasons & {"kidney", "urinary tract"}
    mine, _ = score(psma.study, result.mask.array)
    plain, _ = score(psma.study, (psma.study.suv.array > 2.5).astype(np.uint8))
    assert mine["fpv_ml"] < plain["fpv_ml"] / 5


def test_parameters():
    params = method_parameters("fdg", {"threshold.suv": "4.5", "suppress.brain": "null"})
    assert params["threshold"]["suv"] == 4.5 and params["suppress"]["brain"] is None
    assert method_parameters("fdg")["suppress"]["brain"] is not None  # overrides never leak
    with pytest.raises(PetsegError, match="unknown parameter"):
        method_parameters("fdg", {"threshold.nope": "1"})
    with pytest.raises(PetsegError, match="mode must be"):
        method_parameters("fdg", {"threshold.mode": "magic"})
    with pytest.raises(PetsegError, match="tracer"):
        method_parameters("fluciclovine")
