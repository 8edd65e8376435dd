"""The myocardium (FDG): in the anterior left chest, just above the liver, whatever its uptake pattern.

FDG uptake of the heart ranges from none (fasting) to intense; at the threshold it shows as a full solid
heart (blurred at PET resolution), a shell around the blood pool, or a partial ring (part of the wall). A
region in the heart's place is myocardium when it is as big as a solid heart, or when it is a shell, a ring
(its centre lies outside it) or a stretch of the wall (an elongated arc, or a flat plate); a round or ovoid
node there is neither. Where the heart
is absent nothing is named.
"""

from __future__ import annotations

from typing import Any

from petseg.methods.candidates import Candidate
from petseg.methods.organs.context import Context, in_liver_window, undecided, within

REASON = "myocardium"


def find_heart(candidates: list[Candidate], context: Context) -> None:
    """Name the myocardium's regions."""
    rule = context.rule("heart")
    if rule is None:
        return
    for c in undecided(candidates):
        if _in_place(c, context, rule) and (c.volume_ml >= rule["solid_min_volume_ml"] or (
                c.volume_ml >= rule["ring_min_volume_ml"] and (
                    c.shell_ratio >= rule["min_shell_ratio"] or c.hollow_mm >= rule["min_hollow_mm"]
                    or c.elongation >= rule["arc_min_elongation"] or c.flatness >= rule["plate_min_flatness"]))):
            c.reason = REASON


def _in_place(c: Candidate, context: Context, rule: dict[str, Any]) -> bool:
    """In the anterior left chest, at the heart's height above the liver."""
    body = context.body
    return (within(body.lateral_mm(c.centroid), rule["lateral_mm"])
            and body.posterior_mm(c.centroid) <= rule["max_posterior_mm"]
            and c.volume_ml <= rule["max_volume_ml"]
            and in_liver_window(context, c.centroid, rule["liver_window_mm"], rule["depth_fraction"]))
