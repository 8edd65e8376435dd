"""Bladder, ureters and testes by location and shape on PET alone; the CT is used only where it covers."""

from __future__ import annotations

import numpy as np
import pytest

from petseg.methods.suv import segment_suv
from tests.methods.bodies import found, standard_body


def false_positive_ml(study, result) -> float:
    return float(np.sum((result.mask.array > 0) & (study.label.array == 0))) * study.suv.voxel_ml


def test_a_ct_covering_half_the_pet_leaves_the_bladder_recognised():
    study = standard_body(7).study(ct=True, ct_above_mm=-600.0)  # the CT stops above the pelvis
    assert 0.3 < study.ct_covered_fraction < 0.8
    result = segment_suv(study)
    assert any(item["reason"] == "bladder" and item["volume_ml"] > 100 for item in result.suppressed)
    assert false_positive_ml(study, result) < 5.0


@pytest.mark.parametrize("ct", [False, True])
def test_ureter_segments_and_testes_are_not_lesions(ct):
    body = standard_body(8, ureters=True, testes=True)
    study = body.study(ct=ct)
    result = segment_suv(study)
    assert false_positive_ml(study, result) < 2.0
    reasons = [item["reason"] for item in result.suppressed]
    assert reasons.count("testis") == 2
    urine = ("ureter", "urinary tract", "renal collecting system")  # the proximal ureter beside the kidney
    assert sum(reasons.count(reason) for reason in urine) >= 4


def test_a_node_touching_the_bladder_is_split_from_it():
    body = standard_body(9)
    body.node((60, -25, -850), 3, 9.0)  # beside the bladder, joined to it at the threshold
    study = body.study()
    result = segment_suv(study)
    assert found(study, result.mask.array, (60, -25, -850))
    assert any(item["reason"] == "bladder" and item["volume_ml"] > 200 for item in result.suppressed)
