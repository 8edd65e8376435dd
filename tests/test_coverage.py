"""Warnings about the field of view only where they change something: not on a crop around a tumour; on a
whole-body study cut through the head or neck, or through the pelvis above the legs; the trunk on the edge of
the transaxial field (important) told from an arm (a note)."""

from __future__ import annotations

import warnings

from petseg.coverage import CROP, WHOLE_BODY, warn_field_of_view
from petseg.data.study import Study, make_study
from petseg.errors import ImportantWarning, PetsegWarning
from petseg.io.images import Volume
from petseg.methods.landmarks import body_frame
from tests.methods.bodies import ORIGIN, SPACING, standard_body

EXTENT = 500.0  # the SUV method's trunk_min_extent_mm


def caught(study: Study) -> tuple[str, list[tuple[str, bool]]]:
    with warnings.catch_warnings(record=True) as found:
        warnings.simplefilter("always")
        kind = warn_field_of_view(study, body_frame(study), EXTENT)
    return kind, [(str(w.message), issubclass(w.category, ImportantWarning)) for w in found
                  if issubclass(w.category, PetsegWarning)]


def rows(study: Study, low_mm: float, high_mm: float) -> Study:
    """The study between two heights (a shorter field of view)."""
    first, last = (round((z - ORIGIN[2]) / SPACING) for z in (low_mm, high_mm))
    origin = (ORIGIN[0], ORIGIN[1], ORIGIN[2] + first * SPACING)
    return make_study(Volume(study.suv.array[first:last].copy(), (SPACING,) * 3, origin), tracer="fdg")


def test_a_whole_body_study_from_vertex_to_thighs_says_nothing():
    assert caught(standard_body(1).study()) == (WHOLE_BODY, [])


def test_a_crop_around_a_tumour_says_nothing_even_cut_on_every_side():
    kind, messages = caught(rows(standard_body(1).study(), -700.0, -450.0))
    assert kind == CROP and messages == []


def test_a_study_cut_through_the_head_or_above_the_legs_is_an_important_warning():
    kind, messages = caught(standard_body(2, arms_up=True).study(fov_top_mm=-60.0))  # arms raised beside the head
    assert kind == WHOLE_BODY and len(messages) == 1
    assert messages[0][1] and "starts in the head or neck" in messages[0][0]
    _, messages = caught(rows(standard_body(2).study(), -820.0, 8.0))  # ends above where the legs divide
    important = [text for text, flag in messages if flag]
    assert len(important) == 1 and "ends in the trunk" in important[0]
    _, messages = caught(rows(standard_body(2).study(), -1000.0, -420.0))  # starts in the chest
    assert any("starts in the trunk" in text for text, _ in messages)


def test_the_trunk_on_the_transaxial_edge_is_important_an_arm_a_note():
    arm_out = standard_body(3)
    arm_out.paint(arm_out.cylinder((225.0, 10.0), (20.0, 20.0), (-700.0, -600.0)), 0.8)  # a hand past the edge
    _, messages = caught(arm_out.study())
    assert [(("an arm" in text), important) for text, important in messages] == [(True, False)]
    wide = standard_body(3)
    wide.paint(wide.cylinder((0.0, 10.0), (240.0, 100.0), (-760.0, -720.0)), 0.8)  # a large abdomen
    _, messages = caught(wide.study())
    assert any("the trunk reaches the edge" in text and important for text, important in messages)
