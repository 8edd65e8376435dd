"""Paired glands of the head and neck (salivary, lacrimal, tonsils): symmetric pairs at their sites only.

A gland is named only with its mirror partner: two regions mirrored across the local midline, of similar
size and uptake, matched one to one, between just above the skull base (lacrimal glands) and the lower
neck (submandibular glands, tonsils). A single node, or a node beside a gland that already has its partner,
is never a gland. The skull base is the bottom of the brain where it was found; otherwise the sites are
measured from the top of a body that shows a head.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

from petseg.methods.candidates import Candidate
from petseg.methods.organs.context import Context, mirrored, undecided, within

REASON = "paired gland"


def find_glands(candidates: list[Candidate], context: Context) -> None:
    """Name one-to-one mirrored pairs of similar regions at the glands' sites."""
    rule = context.rule("glands")
    if rule is None:
        return
    body = context.body
    zone = [c for c in undecided(candidates) if _at_site(c, context, rule) and c.volume_ml <= rule["max_volume_ml"]
            and within(abs(body.lateral_mm(c.centroid)), rule["lateral_mm"])]
    pairs = [(abs(body.lateral_mm(a.centroid) + body.lateral_mm(b.centroid)), a, b)
             for a, b in combinations(zone, 2)
             if mirrored(body, a, b, rule["tolerance_mm"]) and _alike(a, b, rule)]
    for _, a, b in sorted(pairs, key=lambda p: p[0]):
        if a.reason is None and b.reason is None:
            a.reason = b.reason = REASON


def _at_site(c: Candidate, context: Context, rule: dict[str, Any]) -> bool:
    z = float(c.centroid[2])
    if context.skull_base_mm is not None:
        return within(z - context.skull_base_mm, rule["around_skull_base_mm"])
    body = context.body
    return body.head_present and body.height_mm >= rule["min_extent_mm"] and body.depth_mm(c.centroid) <= \
        rule["max_depth_mm"]


def _alike(a: Candidate, b: Candidate, rule: dict[str, Any]) -> bool:
    volumes = sorted((a.volume_ml, b.volume_ml))
    maxima = sorted((a.suvmax, b.suvmax))
    return volumes[1] <= rule["max_volume_ratio"] * volumes[0] and maxima[1] <= rule["max_suvmax_ratio"] * maxima[0]
