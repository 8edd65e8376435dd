"""The brain is the large hot region inside the skull; hot tissue below the skull base is never brain."""

from __future__ import annotations

import pytest

from petseg.methods.suv import segment_suv
from tests.methods.bodies import found, standard_body

BULKY_NODES = [((52, 20, -235), 112, 24.0), ((40, -25, -262), 39, 20.0), ((60, 30, -280), 58, 22.0)]
LOWER_NODE = ((-35, -10, -285), 21, 16.0)


def head_and_neck_body(seed: int = 3):
    """Three bulky level II-V nodes merging into one region just below a separate brain, a node lower down."""
    body = standard_body(seed)
    for centre, volume, suv in [*BULKY_NODES, LOWER_NODE]:
        body.node(centre, volume, suv)
    return body


@pytest.fixture(scope="module")
def head_and_neck():
    return head_and_neck_body()


def test_bulky_neck_nodes_below_a_separate_brain_are_lesions(head_and_neck):
    study = head_and_neck.study()  # PET only
    result = segment_suv(study)
    assert found(study, result.mask.array, BULKY_NODES[0][0]) and found(study, result.mask.array, LOWER_NODE[0])
    brain = [item for item in result.suppressed if item["reason"] == "brain"]
    assert len(brain) == 1 and brain[0]["volume_ml"] > 1000 and brain[0]["centroid_mm"][2] > -150


def test_with_a_ct_the_brain_lies_inside_the_skull(head_and_neck):
    study = head_and_neck.study(ct=True)
    result = segment_suv(study)
    assert found(study, result.mask.array, BULKY_NODES[0][0])
    assert any(item["reason"] == "brain" and item["volume_ml"] > 1000 for item in result.suppressed)


def test_field_of_view_from_the_skull_base(head_and_neck):
    """The top of the field of view cuts through the brain: the cut pieces are brain, the nodes are not."""
    study = head_and_neck.study(fov_top_mm=-150.0)
    result = segment_suv(study)
    assert found(study, result.mask.array, BULKY_NODES[0][0])
    assert any(item["reason"] == "brain" for item in result.suppressed)
    assert all(item["centroid_mm"][2] > -190 for item in result.suppressed if item["reason"] == "brain")


def test_a_lesion_touching_the_brain_is_split_from_it():
    """A calvarial metastasis touching the cortex at the threshold: one region at first, split, reported."""
    body = standard_body(4)
    body.node((74, 5, -95), 2.5, 12.0)
    study = body.study()
    result = segment_suv(study)
    assert found(study, result.mask.array, (74, 5, -95))
    assert any(item["reason"] == "brain" and item["volume_ml"] > 1000 for item in result.suppressed)
