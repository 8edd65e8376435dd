"""Lesion colours never read as truth or physiology; lesion numbers never overlap."""

from __future__ import annotations

import colorsys
import itertools

import numpy as np
from matplotlib.colors import to_rgb

from petseg.report.colours import LESION_COLOURS, RESERVED_COLOURS, TRUTH_COLOUR, lesion_colour
from petseg.report.labels import Box, place_labels


def _hue_degrees(colour: str) -> float:
    return colorsys.rgb_to_hsv(*to_rgb(colour))[0] * 360.0


def test_lesion_colours_keep_away_from_the_reserved_hues():
    for lesion, reserved in itertools.product(LESION_COLOURS, RESERVED_COLOURS):
        distance = abs(_hue_degrees(lesion) - _hue_degrees(reserved)) % 360.0
        assert min(distance, 360.0 - distance) >= 60.0, (lesion, reserved)
    assert all(lesion_colour(i) != TRUTH_COLOUR for i in range(1, 40))  # lesion 3 used to be green
    assert lesion_colour(1) == lesion_colour(1 + len(LESION_COLOURS))


def _boxes(centres, sizes):
    return [Box(x - w / 2, y - h / 2, x + w / 2, y + h / 2) for (x, y), (w, h) in zip(centres, sizes, strict=True)]


def test_labels_of_clustered_points_do_not_overlap():
    rng = np.random.default_rng(0)
    points = np.vstack([rng.normal((100, 100), 3, (12, 2)), [[100, 100], [101, 100]], rng.uniform(0, 400, (20, 2))])
    sizes = [(7.0 * len(str(k + 1)) + 3, 12.0) for k in range(len(points))]
    bounds = Box(0, 0, 400, 400)
    boxes = _boxes(place_labels(points, sizes, bounds), sizes)
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b, gap=0.0)
    assert all(box.inside(bounds) for box in boxes)
    lone = place_labels(np.array([[200.0, 200.0]]), [(10.0, 10.0)], bounds)[0]
    assert np.hypot(lone[0] - 200, lone[1] - 200) < 20  # a label with room stays beside its point
