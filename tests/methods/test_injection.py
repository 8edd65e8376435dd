"""The injection site: a small, very hot focus in an arm or hand with its tail up the vein, or an extravasation
at the elbow, is named and left out, arms down or raised; a lesion in the arm that is larger or less hot stays."""

from __future__ import annotations

import numpy as np
import pytest

from petseg.methods.suv import segment_suv
from tests.methods.bodies import found, reasons_at, standard_body

NODE = (-35.0, -10.0, -285.0)  # a neck node: the lesion of the study


def inject(body, site: tuple[float, float, float], vein_to: tuple[float, float, float]) -> None:
    """A hot focus at `site` and a tail of hot spots up the vein towards `vein_to`."""
    body.paint(body.ellipsoid(site, (6, 6, 9)), 45.0, 40.0)
    points = [np.add(site, t * np.subtract(vein_to, site)) for t in (0.2, 0.35, 0.6, 0.75)]
    for a, b in zip(points[::2], points[1::2], strict=True):  # segments with gaps, as the bolus leaves them
        body.paint(body.tube([tuple(a), tuple(b)], 2.5), 12.0, 40.0)


@pytest.mark.parametrize("arms_up", [False, True])
def test_the_injection_site_and_its_tail_are_named_not_lesions(arms_up):
    body = standard_body(21, arms_up=arms_up)
    site, vein = ((130.0, 20.0, -150.0), (130.0, 20.0, -300.0)) if arms_up else \
        ((-200.0, 10.0, -760.0), (-200.0, 10.0, -560.0))  # forearm raised beside the head / the back of the hand
    inject(body, site, vein)
    body.node(NODE, 6, 9.0)
    study = body.study()
    result = segment_suv(study)
    assert "injection site" in reasons_at(result, study, site)
    assert sum(item["reason"] == "injection site" for item in result.suppressed) >= 2  # the site and its tail
    index = tuple(np.rint(study.suv.physical_to_index(np.array(site))).astype(int))
    assert not result.mask.array[index]
    assert found(study, result.mask.array, NODE)
    kept = segment_suv(study, {"suppress.injection_site": "null"})
    assert kept.mask.array[index]  # the user who wants it keeps it


def test_an_extravasation_at_the_elbow_is_named():
    body = standard_body(22)
    elbow = (200.0, 10.0, -560.0)
    body.paint(body.ellipsoid(elbow, (16, 14, 22)), 14.0, 40.0)  # tracer beside the vein
    study = body.study()
    assert "injection site" in reasons_at(segment_suv(study), study, elbow)


def test_a_lesion_in_the_arm_that_is_larger_or_less_hot_stays():
    body = standard_body(23)
    sarcoma, nodule = (-200.0, 10.0, -450.0), (200.0, 10.0, -650.0)
    body.node(sarcoma, 60, 7.0)  # a soft-tissue sarcoma of the upper arm
    body.node(nodule, 2, 5.0)  # a small, moderately hot nodule in the forearm
    study = body.study()
    result = segment_suv(study)
    assert found(study, result.mask.array, sarcoma) and found(study, result.mask.array, nodule)
    assert "injection site" not in {item["reason"] for item in result.suppressed}
