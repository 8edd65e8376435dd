"""What the organ rules share: the body frame, the liver reference, the CT and the organs found so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from petseg.data.study import Study
from petseg.methods.candidates import Candidate
from petseg.methods.landmarks import BodyFrame
from petseg.methods.liver import LiverReference


@dataclass
class Context:
    """One study's anatomy as the rules see it; organs found by earlier rules are recorded for later ones."""

    study: Study
    body: BodyFrame
    liver: LiverReference | None
    rules: dict[str, Any]
    threshold_suv: float
    trunk_min_extent_mm: float
    skull_base_mm: float | None = None  # lowest point of the brain: the level of the skull base
    bladder: Candidate | None = None
    kidneys: list[Candidate] = field(default_factory=list)

    def rule(self, name: str) -> dict[str, Any] | None:
        """A rule's parameters, or None where the rule is off."""
        return self.rules.get(name) or None

    @property
    def shows_trunk(self) -> bool:
        """True when the field of view is long enough to hold the trunk (not a crop around a tumour)."""
        return self.body.height_mm >= self.trunk_min_extent_mm

    @property
    def liver_z(self) -> float | None:
        """Height of the liver reference (the anchor of the trunk's organs), None where it was not found."""
        return None if self.liver is None else float(self.liver.center_mm[2])


def within(value: float, bounds: list[float]) -> bool:
    """True when `value` lies in the closed interval `bounds`."""
    return bounds[0] <= value <= bounds[1]


def undecided(candidates: list[Candidate]) -> list[Candidate]:
    """The candidates no rule has named yet."""
    return [c for c in candidates if c.reason is None]


def in_liver_window(context: Context, point: np.ndarray, window_mm: list[float], fallback: list[float]) -> bool:
    """Height of `point` within `window_mm` of the liver reference, or within the `fallback` fraction of the
    body's depth where there is no liver reference."""
    if context.liver_z is None:
        return within(context.body.depth_fraction(point), fallback)
    return within(float(point[2]) - context.liver_z, window_mm)


def mirrored(body: BodyFrame, a: Candidate, b: Candidate, tolerance_mm: float) -> bool:
    """True when `a` and `b` mirror each other across the local midline within `tolerance_mm`."""
    return (abs(body.lateral_mm(a.centroid) + body.lateral_mm(b.centroid)) <= tolerance_mm
            and abs(body.posterior_mm(a.centroid) - body.posterior_mm(b.centroid)) <= tolerance_mm
            and abs(a.centroid[2] - b.centroid[2]) <= tolerance_mm
            and np.sign(body.lateral_mm(a.centroid)) != np.sign(body.lateral_mm(b.centroid)))
