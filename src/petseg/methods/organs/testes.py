"""The testes (FDG): moderate uptake between the upper thighs, below the bladder and in front.

They hang in the scrotum below the pubis, centrally between the thighs and anterior to them; normal FDG
uptake reaches about two to three times the liver's. Located from the bladder (below its base) or, without
one, from where the body divides into the legs.
"""

from __future__ import annotations

from typing import Any

from petseg.methods.candidates import Candidate
from petseg.methods.organs.context import Context, undecided, within

REASON = "testis"


def find_testes(candidates: list[Candidate], context: Context) -> None:
    """Name the testes."""
    rule = context.rule("testes")
    if rule is None:
        return
    for c in undecided(candidates):
        if _in_place(c, context, rule) and within(c.volume_ml, rule["volume_ml"]) and (
                context.liver is None or c.suvmax <= rule["max_suvmax_liver"] * context.liver.mean):
            c.reason = REASON


def _in_place(c: Candidate, context: Context, rule: dict[str, Any]) -> bool:
    body, bladder = context.body, context.bladder
    z = float(c.centroid[2])
    if bladder is not None:
        height = [bladder.bottom_mm - rule["below_bladder_mm"][1], bladder.bottom_mm - rule["below_bladder_mm"][0]]
    elif body.legs_top_mm is not None:
        height = [body.legs_top_mm + offset for offset in rule["around_legs_top_mm"]]
    else:
        return False
    return within(z, height) and abs(body.lateral_mm(c.centroid)) <= rule["max_lateral_mm"] \
        and body.posterior_mm(c.centroid) <= rule["max_posterior_mm"]
