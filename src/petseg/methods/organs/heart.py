"""The myocardium (FDG): in the anterior left chest, just above the liver, whatever its uptake pattern.

FDG uptake of the heart ranges from none (fasting) to intense; at the threshold it shows as a full solid
heart (blurred at PET resolution), a shell around the blood pool, or a partial ring (part of the wall). A
region in the heart's place is myocardium when it is as big as a solid heart, or when it is hollow (a
shell or ring: its centre lies outside it). Where the heart is absent nothing is named. Further tube- or
arc-like pieces beside a recognised myocardium are part of it; round nodes beside it are not.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from petseg.methods.candidates import Candidate
from petseg.methods.organs.context import Context, in_liver_window, undecided, within

REASON = "myocardium"


def find_heart(candidates: list[Candidate], context: Context) -> None:
    """Name the myocardium's regions."""
    rule = context.rule("heart")
    if rule is None:
        return
    zone = [c for c in undecided(candidates) if _in_place(c, context, rule)]
    for c in zone:
        if c.volume_ml >= rule["solid_min_volume_ml"] or (
                c.volume_ml >= rule["ring_min_volume_ml"]
                and (c.shell_ratio >= rule["min_shell_ratio"] or c.hollow_mm >= rule["min_hollow_mm"])):
            c.reason = REASON
    hearts = [c for c in candidates if c.reason == REASON]
    if not hearts:
        return
    main = max(hearts, key=lambda c: c.volume_ml)
    reach = float(np.linalg.norm(main.half_extent_mm)) + rule["beside_mm"]
    for c in undecided(candidates):
        if np.linalg.norm(c.centroid - main.centroid) <= reach and c.volume_ml >= rule["ring_min_volume_ml"] \
                and c.elongation >= rule["arc_min_elongation"] and _in_place(c, context, rule):
            c.reason = REASON


def _in_place(c: Candidate, context: Context, rule: dict[str, Any]) -> bool:
    """In the anterior left chest, at the heart's height above the liver."""
    body = context.body
    return (within(body.lateral_mm(c.centroid), rule["lateral_mm"])
            and body.posterior_mm(c.centroid) <= rule["max_posterior_mm"]
            and c.volume_ml <= rule["max_volume_ml"]
            and in_liver_window(context, c.centroid, rule["liver_window_mm"], rule["depth_fraction"]))
