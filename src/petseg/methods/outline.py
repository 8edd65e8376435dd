"""Each lesion outlined as a reader draws it, not where the candidate threshold happens to cut it.

The candidate threshold (SUV 3 by default) says *that* something is hot; it is not where a large, heterogeneous
tumour ends: its rim of moderate uptake lies below it, and the necrotic core it encloses is part of the tumour
(a GTV includes it). So, after the organ rules:

- **background-adapted level** (Nestle et al., J Nucl Med 2005;46:1342): each mass of at least `min_volume_ml`
  at the candidate threshold (not a hot spot or a grain of noise; the small hot pieces of one heterogeneous
  tumour, joined above `mass_fraction` of the threshold and no part of a large lesion, count as one mass) is
  outlined at T = B + beta x mean70, where mean70 is the mean SUV of its voxels at or above 70 % of its SUVmax
  and B the median SUV in a shell around it (`shell_mm` outside, other candidates and air left out), measured
  again around the new outline until T settles. The level only lowers the outline (never above the candidate
  threshold) and never reaches normal tissue: not below the liver mean where the study has a liver reference,
  and inside the liver only where the candidates may go (above liver mean + `organ_adaptive_sd` x SD).
- **organs and leaks**: an outline never enters an organ the rules named, nor its blurred rim (`organ_margin_mm`);
  one that would grow more than `max_growth` times the lesion's volume or run more than `reach_mm` beyond it has
  run into the background, not along the tumour, and the lesion keeps its outline at the candidate threshold.
- **enclosed cold parts filled**: holes of each lesion in 3D and in every axial, coronal and sagittal plane.
Regions the rules named but that now lie inside a lesion (a grain or a stretch of diffuse uptake in a tumour)
become part of it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import cc3d
import numpy as np
from scipy import ndimage

from petseg.data.study import Study
from petseg.metrics.components import label_components

ABSORBED = ("noise speck", "diffuse uptake")  # named regions a lesion may grow over (not organs)
MEAN_OF_TOP = 0.7  # mean70: the mean of the voxels at or above this fraction of SUVmax
SETTLED = 0.01  # the level has settled when it moves less than this fraction


class NormalTissue(NamedTuple):
    """Where an outline stops whatever its lesion: below `floor` (the liver mean), and inside `liver_region`
    below `liver_level` (None: no liver reference)."""

    floor: float = 0.0
    liver_region: np.ndarray | None = None
    liver_level: float = 0.0


def outline_lesions(study: Study, mask: np.ndarray, named: np.ndarray, organ_ids: list[int], normal: NormalTissue,
                    level: float, params: dict[str, Any]) -> np.ndarray:
    """The lesion mask with each lesion outlined (bool, PET grid). `named` maps the suppressed regions (k > 0),
    `organ_ids` those a lesion may not touch; `level` is the candidate threshold."""
    if not mask.any():
        return mask.astype(bool)
    adaptive = params.get("adaptive")
    grown = mask.astype(bool)
    if adaptive:
        organ = np.zeros(int(named.max()) + 1, dtype=bool)
        organ[organ_ids] = True
        blocked = organ[named]  # a look-up: np.isin over a full-size study costs seconds
        others = (named > 0) | mask
        min_voxels = int(np.ceil(adaptive["min_volume_ml"] / study.suv.voxel_ml))
        masses = _masses(study.suv.array, mask, blocked, normal, adaptive["mass_fraction"] * level, min_voxels)
        sizes = np.bincount(masses.ravel(), minlength=int(masses.max()) + 1) * study.suv.voxel_ml
        for index, box in enumerate(ndimage.find_objects(masses), start=1):
            if box is not None and sizes[index] >= adaptive["min_volume_ml"]:
                _grow(study, masses, index, box, (blocked, others, normal, level), adaptive, grown)
    return fill_enclosed(grown) if params["fill_enclosed"] else grown


def _masses(suv: np.ndarray, mask: np.ndarray, blocked: np.ndarray, normal: NormalTissue, level: float,
            min_voxels: int) -> np.ndarray:
    """The lesions to outline (uint32 labels on lesion voxels): each lesion of at least `min_voxels`, and the small
    hot pieces of one heterogeneous tumour, joined above `level` (a fraction of the candidate threshold, never
    below normal tissue: the liver mean) outside the named organs and the liver's normal tissue, together as one
    mass where they are no part of a large lesion."""
    lesions, count = label_components(mask)
    voxels = np.flatnonzero(mask)  # the work is on the lesion voxels only: full-size studies hold 50 M voxels
    lesion_of = lesions.ravel()[voxels]
    large = np.bincount(lesion_of, minlength=count + 1) >= min_voxels
    large[0] = False
    joined = (suv >= max(level, normal.floor)) & ~blocked
    if normal.liver_region is not None:
        joined &= ~(normal.liver_region & (suv < normal.liver_level))
    group_of = label_components(joined | mask)[0].ravel()[voxels].astype(np.uint32)
    in_large = large[lesion_of]
    values = np.where(np.isin(group_of, np.unique(group_of[in_large])), 0, group_of).astype(np.uint32)
    values[in_large] = lesion_of[in_large].astype(np.uint32) + int(values.max(initial=0)) + 1  # each on its own
    masses = np.zeros(mask.shape, dtype=np.uint32)
    masses.ravel()[voxels] = values
    return masses


def _grow(study: Study, lesions: np.ndarray, index: int, box: tuple[slice, ...], limits: tuple, params: dict[str, Any],
          grown: np.ndarray) -> None:
    """Outline lesion `index` at its background-adapted level; written into `grown` unless it leaks."""
    blocked, others, (floor, liver_region, liver_level), level = limits
    spacing = study.suv.spacing_zyx
    reach = [int(np.ceil((params["reach_mm"] + params["shell_mm"][1]) / s)) + 1 for s in spacing]
    outer = tuple(slice(max(b.start - r, 0), min(b.stop + r, n))
                  for b, r, n in zip(box, reach, lesions.shape, strict=True))
    suv = study.suv.array[outer]
    lesion = lesions[outer] == index
    eligible = ~_rim(blocked[outer], spacing, params["organ_margin_mm"])
    if liver_region is not None:
        eligible &= ~(liver_region[outer] & (suv < liver_level))
    mean70 = float(suv[lesion & (suv >= MEAN_OF_TOP * suv[lesion].max())].mean())
    region, previous = lesion, -1.0
    for _ in range(int(params["iterations"])):
        background = _background(suv, region, others[outer] & ~region, spacing, params["shell_mm"])
        threshold = min(max(background + params["beta"] * mean70, floor), level)
        if abs(threshold - previous) <= SETTLED * threshold:
            break
        region, previous = _component(suv >= threshold, eligible, lesion), threshold
    leaked = region.sum() > params["max_growth"] * lesion.sum() or _beyond(region, lesion, spacing, params["reach_mm"])
    if not leaked:
        grown[outer] |= region


def _rim(organs: np.ndarray, spacing: tuple[float, ...], margin_mm: float) -> np.ndarray:
    """The named organs (in a box around a lesion) grown by `margin_mm`: their rim blurred by the scanner."""
    if not organs.any() or margin_mm <= 0:
        return organs
    return ndimage.distance_transform_edt(~organs, sampling=spacing) <= margin_mm


def _background(suv: np.ndarray, region: np.ndarray, others: np.ndarray, spacing: tuple[float, ...],
                shell_mm: list[float]) -> float:
    """Median SUV in the shell `shell_mm` outside `region` (other candidates and air left out)."""
    distance = ndimage.distance_transform_edt(~region, sampling=spacing)
    shell = (distance > shell_mm[0]) & (distance <= shell_mm[1]) & ~others & (suv > 0.05)
    return float(np.median(suv[shell])) if shell.any() else 0.0


def _component(above: np.ndarray, eligible: np.ndarray, lesion: np.ndarray) -> np.ndarray:
    """The connected parts of `above & eligible` that hold a voxel of `lesion`, with the lesion itself."""
    labels = cc3d.connected_components(above & eligible, connectivity=18)  # lesions are 18-connected
    touching = np.unique(labels[lesion])
    return np.isin(labels, touching[touching > 0]) | lesion


def _beyond(region: np.ndarray, lesion: np.ndarray, spacing: tuple[float, ...], reach_mm: float) -> bool:
    """True when `region` runs more than `reach_mm` beyond `lesion` (or to the edge of the box around it)."""
    if not region.any():
        return False
    distance = ndimage.distance_transform_edt(~lesion, sampling=spacing)
    return bool(distance[region].max() > reach_mm)


def fill_enclosed(mask: np.ndarray) -> np.ndarray:
    """`mask` with the holes of each 18-connected lesion filled, in 3D and in every axial, coronal and sagittal
    plane (a necrotic core open towards one side in 3D is still enclosed in the planes through it)."""
    labels = label_components(mask)[0]
    filled = mask.astype(bool).copy()
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        lesion = ndimage.binary_fill_holes(labels[box] == index)
        for axis in range(3):
            planes = np.moveaxis(lesion, axis, 0)
            lesion = np.moveaxis(np.stack([ndimage.binary_fill_holes(p) for p in planes]), 0, axis)
        filled[box] |= lesion
    return filled
