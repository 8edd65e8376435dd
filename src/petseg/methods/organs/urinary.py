"""The urinary tract: bladder, kidneys, ureters, and urine on CT.

- Bladder: one compact, central region low in the pelvis (well below the liver, above the legs), water on
  CT where a CT covers it, or very hot (urine) on PET alone; the hottest such region (largest uptake) wins.
  In a crop (no trunk to place it) only the CT's water says urine: water over the region as a whole (its median
  HU), not only in places, since solid tumour tissue at the PET's coarse grid shows water-like voxels too.
- Kidneys: posterior-lateral regions beside the liver's level, mirrored across the midline in pairs.
- Ureters: tube-like regions, running head-foot, on the corridor from a kidney's hottest point (the renal
  pelvis) to the bladder's side, along the psoas.
- Urine elsewhere (renal pelvis, ureter) where the CT shows water density at the region's hottest voxel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from petseg.methods.candidates import Candidate
from petseg.methods.organs.context import Context, in_liver_window, mirrored, undecided, within


def find_bladder(candidates: list[Candidate], context: Context) -> None:
    """Name the bladder (at most one region) and record it."""
    rule = context.rule("bladder")
    if rule is None:
        return
    kept = [c for c in candidates if c.reason == "bladder" and c.kept]
    options = kept or [c for c in undecided(candidates) if _is_bladder(c, context, rule)]
    if options:
        context.bladder = max(options, key=lambda c: c.uptake)
        context.bladder.reason = "bladder"


def _is_bladder(c: Candidate, context: Context, rule: dict[str, Any]) -> bool:
    body = context.body
    water = c.water_fraction is not None and c.water_fraction >= rule["min_water_fraction"]
    if c.volume_ml < rule["min_volume_ml"] or c.elongation > rule["max_elongation"]:
        return False
    if not context.shows_trunk:  # a crop: no anatomy to place it, urine on CT only
        return water and _water_throughout(c, rule)
    if abs(body.lateral_mm(c.centroid)) > rule["max_lateral_mm"]:
        return False
    z = float(c.centroid[2])
    if context.liver_z is None and body.legs_top_mm is None:
        in_pelvis = body.depth_fraction(c.centroid) >= rule["min_depth_fraction"]
    else:
        in_pelvis = (context.liver_z is None or z <= context.liver_z - rule["below_liver_mm"]) and \
            (body.legs_top_mm is None or z >= body.legs_top_mm - rule["below_legs_top_mm"])
    return in_pelvis and (water or c.suvmax >= rule["min_suvmax"])


def find_kidneys(candidates: list[Candidate], context: Context) -> None:
    """Name mirrored pairs of posterior-lateral regions at the kidneys' level."""
    rule = context.rule("kidneys")
    if rule is None:
        return
    body, bladder = context.body, context.bladder
    kept = [c for c in candidates if c.reason == "kidney" and c.kept]
    zone = kept + [c for c in undecided(candidates) if within(c.volume_ml, rule["volume_ml"])
                   and within(abs(body.lateral_mm(c.centroid)), rule["lateral_mm"])
                   and in_liver_window(context, c.centroid, rule["liver_window_mm"], rule["depth_fraction"])
                   and body.posterior_mm(c.centroid) >= rule["min_posterior_mm"]
                   and (bladder is None or c.centroid[2] > bladder.centroid[2])]
    for i, a in enumerate(zone):
        for b in zone[i + 1:]:
            if mirrored(body, a, b, rule["mirror_tolerance_mm"]):
                a.reason = b.reason = "kidney"
    context.kidneys = [c for c in candidates if c.reason == "kidney"]


def find_ureters(candidates: list[Candidate], context: Context) -> None:
    """Name tube-like regions on the corridor from either kidney to the bladder."""
    rule = context.rule("ureter")
    if rule is None or context.bladder is None or not context.kidneys:
        return
    corridors = [_corridor(context, side) for side in (-1.0, 1.0)]
    for c in undecided(candidates):
        tube = c.elongation >= rule["min_elongation"] and abs(c.axis[2]) >= rule["min_axial_cosine"]
        if tube and c.volume_ml <= rule["max_volume_ml"] and any(
                path is not None and _on_corridor(c.centroid, path, rule["corridor_mm"]) for path in corridors):
            c.reason = "ureter"


def _corridor(context: Context, side: float) -> tuple[np.ndarray, np.ndarray] | None:
    """(upper, lower) ends of a ureter's course on one side: the kidney's hottest point and the bladder's
    posterolateral side, or None without a kidney on that side."""
    body, bladder = context.body, context.bladder
    assert bladder is not None
    kidneys = [k for k in context.kidneys if np.sign(body.lateral_mm(k.centroid)) == side]
    if not kidneys:
        return None
    upper = max(kidneys, key=lambda k: k.uptake).peak_mm
    half = bladder.half_extent_mm
    lower = bladder.centroid + np.array([side * 0.5 * half[0], 0.5 * half[1], 0.0])
    return upper, lower


def _on_corridor(point: np.ndarray, path: tuple[np.ndarray, np.ndarray], width_mm: float) -> bool:
    """True when `point` lies between the corridor's ends in height and within `width_mm` of it in-plane."""
    upper, lower = path
    if not lower[2] - width_mm <= point[2] <= upper[2] + width_mm:
        return False
    t = np.clip((upper[2] - point[2]) / max(upper[2] - lower[2], 1e-6), 0.0, 1.0)
    course = upper + t * (lower - upper)
    return float(np.hypot(point[0] - course[0], point[1] - course[1])) <= width_mm


def find_urine_on_ct(candidates: list[Candidate], context: Context) -> None:
    """Name regions whose hottest voxel shows water density on CT (renal pelvis, ureter), below the liver; in a
    crop, where nothing places them, only regions of water throughout."""
    rule = context.rule("urinary")
    if rule is None:
        return
    for c in undecided(candidates):
        if c.core_hu is None or not within(c.core_hu, rule["core_hu"]):
            continue
        if _urine_here(c, context, rule):
            c.reason = "urinary tract"


def _urine_here(c: Candidate, context: Context, rule: dict[str, Any]) -> bool:
    """Below the liver where the trunk places it; in a crop, a region of water throughout."""
    if not context.shows_trunk:
        return _water_throughout(c, rule)
    return in_liver_window(context, c.centroid, [-np.inf, rule["max_above_liver_mm"]],
                           [rule["min_depth_fraction"], 1.0])


def _water_throughout(c: Candidate, rule: dict[str, Any]) -> bool:
    """The region's median HU is that of urine (a region in water), not of solid tissue."""
    return c.median_hu is not None and c.median_hu <= rule["crop_max_median_hu"]
