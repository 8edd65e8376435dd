"""The renal collecting system: urine at the kidney's hilum and in the proximal ureter is named, on PET alone;
a para-aortic node and an adrenal nodule beside the kidney stay lesions."""

from __future__ import annotations

import numpy as np
import pytest

from petseg.methods.suv import segment_suv
from tests.methods.bodies import found, reasons_at, standard_body

PELVIS = [(-40.0, 52.0, -668.0), (40.0, 52.0, -668.0)]  # extrarenal pelvis, at each kidney's hilum
PARA_AORTIC = (22.0, 18.0, -675.0)  # left of the aorta, at the level of the renal hila
ADRENAL = (45.0, 40.0, -585.0)  # above the left kidney's upper pole


@pytest.fixture(scope="module")
def urine_and_lesions():
    body = standard_body(11)
    for centre in PELVIS:
        body.paint(body.ellipsoid(centre, (6, 6, 10)), 6.0, 10.0)
    for side in (-1, 1):  # the proximal ureter leaving the lower pole
        body.paint(body.tube([(side * 46, 47, -722), (side * 44, 44, -752)], 3.5), 9.0, 10.0)
    body.node(PARA_AORTIC, 2.5, 6.0)
    body.node(ADRENAL, 3.0, 6.0)
    study = body.study()
    return study, segment_suv(study)


def test_urine_at_the_hilum_and_in_the_proximal_ureter_is_named(urine_and_lesions):
    study, result = urine_and_lesions
    assert "kidney" in {item["reason"] for item in result.suppressed}
    for centre in PELVIS:  # apart from the kidney at the threshold, or joined to it
        index = tuple(np.rint(study.suv.physical_to_index(np.array(centre))).astype(int))
        assert not result.mask.array[index]
        assert {"renal collecting system", "kidney"} & reasons_at(result, study, centre) or \
            result.suppressed[result.suppressed_labels.array[index] - 1]["reason"] == "kidney"
    named = [item for item in result.suppressed if item["reason"] == "renal collecting system"]
    assert sum(item["centroid_mm"][2] < -715 for item in named) >= 2  # both ureters below the lower poles
    assert any(abs(item["centroid_mm"][2] + 668) < 10 for item in named)  # a pelvis apart from its kidney


def test_a_para_aortic_node_and_an_adrenal_nodule_beside_the_kidney_stay(urine_and_lesions):
    study, result = urine_and_lesions
    assert found(study, result.mask.array, PARA_AORTIC)
    assert found(study, result.mask.array, ADRENAL)


def test_the_rule_can_be_switched_off(urine_and_lesions):
    study, _ = urine_and_lesions
    result = segment_suv(study, {"suppress.collecting_system": "null"})
    assert "renal collecting system" not in {item["reason"] for item in result.suppressed}
