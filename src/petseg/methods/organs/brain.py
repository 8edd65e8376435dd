"""The brain (FDG): the large hot region inside the skull, and nothing below where it ends.

In a field of view that runs on below the head (a whole-body or head-and-neck scan, not a crop around a
tumour), seeds are the whole brain (the highest large hot region, its top near the top of the head) or,
when the field of view cuts through the head, the hot regions cut by its top edge inside the head. Other regions are
brain only when they lie inside the seeds' slice-by-slice outline (convex hull) grown by `envelope_mm`:
hot tissue below the skull base (neck nodes) or beside the skull is never brain. Where a CT covers a
region, it must also lie inside the skull's bone ring.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from petseg.methods.candidates import Candidate
from petseg.methods.landmarks import axial_axis
from petseg.methods.organs.context import Context, undecided

REASON = "brain"
SKULL_REACH_MM = 40.0  # the skull's bone ring lies within this of the brain's outline


def find_brain(candidates: list[Candidate], context: Context) -> None:
    """Name the brain's regions and record the skull base (the lowest of them)."""
    rule = context.rule("brain")
    if rule is None:
        return
    seeds = [c for c in candidates if c.reason == REASON and c.kept] + _new_seeds(candidates, context, rule)
    if not seeds:
        return
    for seed in seeds:
        seed.reason = REASON
    envelope, box = _envelope(seeds, context, rule["envelope_mm"])
    for c in undecided(candidates):
        if _inside(c, envelope, box) >= rule["min_inside_fraction"] and _inside_skull(c, context, rule):
            c.reason = REASON
    context.skull_base_mm = min(c.bottom_mm for c in candidates if c.reason == REASON)


def _new_seeds(candidates: list[Candidate], context: Context, rule: dict[str, Any]) -> list[Candidate]:
    body = context.body
    central = [c for c in undecided(candidates) if abs(body.lateral_mm(c.centroid)) <= rule["max_lateral_mm"]]
    if body.height_mm < rule["min_extent_mm"]:
        return []
    cut = [c for c in central if c.top_mm >= body.fov_top_mm - rule["fov_top_margin_mm"]
           and c.volume_ml >= rule["cut_min_volume_ml"] and _inside_skull(c, context, rule)]
    whole = [c for c in central if c.volume_ml >= rule["min_volume_ml"]
             and c.top_mm >= body.head_top_mm - rule["top_margin_mm"] and _inside_skull(c, context, rule)]
    if whole and not cut:
        return [max(whole, key=lambda c: c.top_mm)]
    return cut


def _envelope(seeds: list[Candidate], context: Context, grow_mm: float) -> tuple[np.ndarray, tuple[slice, ...]]:
    """The seeds' slice-by-slice convex hull grown by `grow_mm`, on a box around them."""
    suv = context.study.suv
    margin = [int(np.ceil(grow_mm / s)) + 1 for s in suv.spacing_zyx]
    lo = np.min([[s.start for s in c.box] for c in seeds], axis=0) - margin
    hi = np.max([[s.stop for s in c.box] for c in seeds], axis=0) + margin
    box = tuple(slice(max(int(a), 0), min(int(b), n)) for a, b, n in zip(lo, hi, suv.shape, strict=True))
    union = np.zeros([s.stop - s.start for s in box], dtype=bool)
    for c in seeds:
        place = tuple(slice(s.start - b.start, s.stop - b.start) for s, b in zip(c.box, box, strict=True))
        union[place] |= c.mask
    axis = axial_axis(suv)
    hull = np.moveaxis(np.stack([_hull_2d(plane) for plane in np.moveaxis(union, axis, 0)]), 0, axis)
    grown = ndimage.distance_transform_edt(~hull, sampling=suv.spacing_zyx) <= grow_mm
    return grown, box


def _hull_2d(plane: np.ndarray) -> np.ndarray:
    """The filled convex hull of the True pixels of a 2D mask."""
    points = np.argwhere(plane)
    if len(points) < 3:
        return plane.copy()
    try:
        hull = ConvexHull(points)
    except QhullError:  # collinear points
        return plane.copy()
    lo, hi = points.min(axis=0), points.max(axis=0) + 1
    rows, cols = np.mgrid[lo[0]:hi[0], lo[1]:hi[1]]
    grid = np.stack([rows.ravel(), cols.ravel()], axis=1)
    inside = np.all(grid @ hull.equations[:, :2].T + hull.equations[:, 2] <= 1e-9, axis=1)
    filled = plane.copy()
    filled[lo[0]:hi[0], lo[1]:hi[1]] |= inside.reshape(rows.shape)
    return filled


def _inside(c: Candidate, envelope: np.ndarray, box: tuple[slice, ...]) -> float:
    """Fraction of the region's voxels inside `envelope` (given on `box`)."""
    voxels = np.argwhere(c.mask) + [s.start for s in c.box] - [b.start for b in box]
    fits = np.all((voxels >= 0) & (voxels < envelope.shape), axis=1)
    return float(envelope[tuple(voxels[fits].T)].sum()) / max(len(voxels), 1)


def _inside_skull(c: Candidate, context: Context, rule: dict[str, Any]) -> bool:
    """False only where a CT covers the region's slices and most of it lies outside the skull's bone ring."""
    study = context.study
    if study.ct is None:
        return True
    axis = axial_axis(study.suv)
    in_plane = [a for a in range(3) if a != axis]
    reach = [int(np.ceil(SKULL_REACH_MM / study.suv.spacing_zyx[a])) for a in in_plane]
    crop = tuple(slice(max(c.box[a].start - r, 0), min(c.box[a].stop + r, study.suv.shape[a]))
                 for a, r in zip(in_plane, reach, strict=True))
    within_crop = tuple(slice(c.box[a].start - s.start, c.box[a].stop - s.start)
                        for a, s in zip(in_plane, crop, strict=True))
    mask = np.moveaxis(c.mask, axis, 0)
    inside = judged = 0
    for offset, k in enumerate(range(c.box[axis].start, c.box[axis].stop)):
        cavity = _skull_cavity(context, axis, k, crop, rule["skull_hu"])
        if cavity is None:
            continue
        judged += int(mask[offset].sum())
        inside += int((mask[offset] & cavity[within_crop]).sum())
    return judged == 0 or inside >= 0.5 * judged


def _skull_cavity(context: Context, axis: int, k: int, crop: tuple[slice, ...], bone_hu: float) -> np.ndarray | None:
    """The inside of the bone rings of axial plane `k` within `crop` (None where the CT does not cover it or
    shows no ring)."""
    study = context.study
    bone = np.take(study.ct.array, k, axis=axis)[crop] >= bone_hu
    if study.ct_coverage is not None:
        covered = np.take(study.ct_coverage.array, k, axis=axis)[crop] > 0
        if not covered.any():
            return None
        bone &= covered
    bone = ndimage.binary_closing(bone, np.ones((3, 3), bool))
    cavity = ndimage.binary_fill_holes(bone) & ~bone
    return cavity if cavity.any() else None
