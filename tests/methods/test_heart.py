"""The myocardium is recognised whether its uptake is solid, a shell, a partial ring or absent."""

from __future__ import annotations

import numpy as np
import pytest

from petseg.methods.suv import segment_suv
from tests.methods.bodies import found, standard_body

NODE = (-12, -5, -425)  # a mediastinal node above the heart


@pytest.mark.parametrize("kind", ["solid", "shell", "ring", "arc", "absent"])
def test_myocardium_in_every_pattern_is_not_a_lesion(kind):
    body = standard_body(5, heart=kind)
    body.node(NODE, 8, 9.0)
    study = body.study()
    result = segment_suv(study)
    assert found(study, result.mask.array, NODE)
    lesion_voxels = (result.mask.array > 0) & (study.label.array == 0)
    assert lesion_voxels.sum() * study.suv.voxel_ml < 5.0  # the heart (100-400 ml) is not reported
    named = [item for item in result.suppressed if item["reason"] == "myocardium"]
    assert (len(named) > 0) == (kind != "absent")


def test_a_node_touching_the_heart_is_split_from_it():
    body = standard_body(6, heart="shell")
    body.node((85, -20, -460), 4, 9.0)  # beside the lateral wall, joined to it at the threshold
    study = body.study()
    result = segment_suv(study)
    assert found(study, result.mask.array, (85, -20, -460))
    heart = [item for item in result.suppressed if item["reason"] == "myocardium"]
    assert heart and max(item["volume_ml"] for item in heart) > 100
    assert np.sum((result.mask.array > 0) & (study.label.array == 0)) * study.suv.voxel_ml < 5.0
