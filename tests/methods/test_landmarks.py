"""The body frame: local midline, head top and legs hold for patients off-centre, arms up, any grid direction."""

from __future__ import annotations

import numpy as np
import pytest

from petseg.data.study import Study
from petseg.io.images import Volume
from petseg.methods.landmarks import body_frame, in_limb
from petseg.methods.suv import segment_suv
from tests.methods.bodies import found, standard_body


def test_frame_of_a_standard_body_lying_off_centre():
    study = standard_body(1).study()
    frame = body_frame(study)
    assert frame.head_top_mm == pytest.approx(0.0, abs=10)
    assert frame.legs_top_mm == pytest.approx(-890.0, abs=12)
    assert all(abs(frame.midline_at(z)) < 5 for z in (-100.0, -450.0, -750.0, -950.0))
    shifted = Study(suv=Volume(study.suv.array, study.suv.spacing, np.add(study.suv.origin, (40.0, 0, 0))))
    moved = body_frame(shifted)
    assert all(abs(moved.midline_at(z) - 40) < 5 for z in (-100.0, -450.0, -750.0))
    assert moved.lateral_mm(np.array([40.0 + 30, 0, -450])) == pytest.approx(30, abs=5)


def test_arms_raised_beyond_the_field_of_view():
    body = standard_body(2, arms_up=True)
    body.node((-40, 10, -225), 2.6, 7.0)
    study = body.study()
    frame = body_frame(study)
    assert frame.head_top_mm == pytest.approx(0.0, abs=10)
    assert all(abs(frame.midline_at(z)) < 5 for z in (-100.0, -215.0, -450.0))
    result = segment_suv(study)
    assert found(study, result.mask.array, (-40, 10, -225))
    assert any(item["reason"] == "brain" and item["volume_ml"] > 1000 for item in result.suppressed)
    assert sum(item["reason"] == "paired gland" for item in result.suppressed) >= 2  # the tonsils


def test_arms_and_trunk_told_apart_section_by_section():
    study = standard_body(3).study()
    frame = body_frame(study)
    arms = [(side * 200, 10, z) for side in (-1, 1) for z in (-450.0, -600.0)]
    trunk = [(0, 0, -450.0), (40, 20, -600.0), (-60, -10, -450.0)]
    points = np.array([*arms, *trunk], dtype=float)
    assert in_limb(study.suv, frame, points).tolist() == [True] * 4 + [False] * 3
    assert [bool(in_limb(study.suv, frame, p)[0]) for p in points] == [True] * 4 + [False] * 3  # one at a time
    assert in_limb(study.suv, frame, np.zeros((0, 3))).shape == (0,)


def _flipped(volume: Volume) -> Volume:
    """The same image stored head first and left to right (z and x axes reversed, direction negative)."""
    corner = volume.index_to_physical(np.array([volume.shape[0] - 1, 0, volume.shape[2] - 1]))
    return Volume(volume.array[::-1, :, ::-1].copy(), volume.spacing, tuple(corner), (-1, 0, 0, 0, 1, 0, 0, 0, -1))


@pytest.mark.slow
def test_the_same_result_on_a_grid_stored_the_other_way():
    body = standard_body(12, heart="ring", testes=True, ureters=True)
    body.node((-40, 10, -225), 2.6, 7.0)
    body.node((60, -25, -850), 3, 9.0)
    study = body.study()
    flipped = Study(suv=_flipped(study.suv), label=_flipped(study.label))
    results = [segment_suv(s) for s in (study, flipped)]
    assert results[0].mask.array.sum() == results[1].mask.array.sum() > 0
    named = [sorted((item["reason"], item["volume_ml"]) for item in r.suppressed if item["volume_ml"] > 1)
             for r in results]
    assert [reason for reason, _ in named[0]] == [reason for reason, _ in named[1]]
    assert np.allclose([v for _, v in named[0]], [v for _, v in named[1]], rtol=0.05)
