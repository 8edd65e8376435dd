"""Recognising physiological uptake among candidate components, so it is not reported as lesion.

Each rule looks at one 18-connected candidate (or a pair of them) with the coarse anatomy of
`landmarks`: the brain at the top of a body that shows a head, the bladder low and central (water
density on CT), kidneys posterior and lateral, the myocardium as a hot shell in the anterior left
chest, paired glands mirrored across the midline in the head and neck (salivary, lacrimal, tonsils),
tube-like bowel and ureter, and large homogeneous organs (PSMA liver and spleen). A rule is off
when its parameters are null in `suv_params.yaml`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from petseg.data.study import Study
from petseg.methods.landmarks import BodyFrame


@dataclass
class Candidate:
    """Features of one candidate component (physical mm, LPS)."""

    index: int
    box: tuple[slice, ...]
    mask: np.ndarray
    volume_ml: float
    centroid: np.ndarray
    top_mm: float
    suvmax: float
    cv: float
    elongation: float
    shell_ratio: float
    water_fraction: float | None
    core_hu: float | None
    contrast: float
    reason: str | None = None


BACKGROUND_MARGIN_MM = 15.0


def describe_candidates(study: Study, labels: np.ndarray, count: int) -> list[Candidate]:
    """Features of the components 1..count of `labels`."""
    suv = study.suv
    margin = [max(round(BACKGROUND_MARGIN_MM / s), 1) for s in suv.spacing_zyx]
    candidates = []
    for index, box in enumerate(ndimage.find_objects(labels, max_label=count), start=1):
        if box is None:
            continue
        mask = labels[box] == index
        values = suv.array[box][mask].astype(np.float64)
        voxels = np.argwhere(mask) + [s.start for s in box]
        physical = suv.index_to_physical(voxels)
        water = core_hu = None
        if study.ct is not None:
            hu = study.ct.array[box][mask]
            water = float(np.mean((hu >= -20) & (hu <= 20)))
            hottest = voxels[np.argmax(values)]
            core = tuple(slice(max(i - 1, 0), i + 2) for i in hottest)
            core_hu = float(np.median(study.ct.array[core]))
        candidates.append(Candidate(
            index=index, box=box, mask=mask, volume_ml=mask.sum() * suv.voxel_ml, centroid=physical.mean(axis=0),
            top_mm=float(physical[:, 2].max()),
            suvmax=float(values.max()), cv=float(values.std() / max(values.mean(), 1e-6)),
            elongation=_elongation(physical), shell_ratio=_shell_ratio(mask), water_fraction=water,
            core_hu=core_hu, contrast=float(values.max()) / _background(suv.array, labels, box, margin)))
    return candidates


def _background(suv: np.ndarray, labels: np.ndarray, box: tuple[slice, ...], margin: list[int]) -> float:
    """Median SUV around a component (a margin of ~15 mm, other candidates and air left out)."""
    grown = tuple(slice(max(b.start - m, 0), min(b.stop + m, n)) for b, m, n in zip(box, margin, suv.shape,
                                                                                       strict=True))
    around = suv[grown][(labels[grown] == 0) & (suv[grown] > 0.05)]
    return max(float(np.median(around)), 0.05) if around.size else 0.05


def _elongation(points: np.ndarray) -> float:
    """sqrt(largest / second-largest principal variance): ~1 for round lesions, large for tubes."""
    if len(points) < 4:
        return 1.0
    variances = np.sort(np.linalg.eigvalsh(np.cov(points.T)))[::-1]
    return float(np.sqrt(variances[0] / max(variances[1], 1e-6)))


def _shell_ratio(mask: np.ndarray) -> float:
    """Area of the component with its holes filled, slice by slice, over its own area (> 1 for a shell)."""
    filled = sum(int(ndimage.binary_fill_holes(mask[k]).sum()) for k in range(mask.shape[0]))
    return filled / max(int(mask.sum()), 1)


def _within(value: float, bounds: list[float]) -> bool:
    return bounds[0] <= value <= bounds[1]


def classify(candidates: list[Candidate], body: BodyFrame, rules: dict[str, Any], has_ct: bool) -> None:
    """Set `reason` on every candidate recognised as physiological uptake."""
    for c in candidates:
        c.reason = _single_rule(c, body, rules, has_ct)
    kidneys = rules.get("kidneys")
    if kidneys:
        zone = [c for c in candidates if c.reason in (None, "diffuse uptake", "bowel or ureter", "urinary tract")
                and _within(c.volume_ml, kidneys["volume_ml"])
                and _within(abs(body.lateral_mm(c.centroid)), kidneys["lateral_mm"])
                and _within(body.depth_fraction(c.centroid), kidneys["depth_fraction"])
                and body.posterior_mm(c.centroid) >= kidneys["min_posterior_mm"]]
        _mirror_pairs(zone, body, kidneys["mirror_tolerance_mm"], "kidney")
    glands = rules.get("symmetric_head_neck")
    if glands:
        zone = [c for c in candidates if c.reason is None and body.depth_mm(c.centroid) <= glands["max_depth_mm"]
                and abs(body.lateral_mm(c.centroid)) >= glands["min_lateral_mm"]]
        _mirror_pairs(zone, body, glands["tolerance_mm"], "paired gland")


def _single_rule(c: Candidate, body: BodyFrame, rules: dict[str, Any], has_ct: bool) -> str | None:
    point = c.centroid
    lateral, posterior = body.lateral_mm(point), body.posterior_mm(point)
    depth, depth_fraction = body.depth_mm(point), body.depth_fraction(point)
    brain = rules.get("brain")
    # The brain: at the top of a body that shows a head, or cut by the top of the field of view (arms
    # raised above the head hide the head's outline).
    if brain:
        at_top = body.head_present and depth < brain["max_depth_mm"] and c.volume_ml >= brain["min_volume_ml"]
        cut_by_fov = body.fov_top_mm - c.top_mm <= brain["fov_top_margin_mm"] \
            and c.volume_ml >= brain["fov_cut_min_volume_ml"]
        if at_top or cut_by_fov:
            return "brain"
    bladder = rules.get("bladder")
    if bladder and c.volume_ml >= bladder["min_volume_ml"] and depth_fraction >= bladder["min_depth_fraction"] \
            and abs(lateral) <= bladder["max_lateral_mm"]:
        if has_ct and c.water_fraction is not None and c.water_fraction >= bladder["min_water_fraction"]:
            return "bladder"
        if not has_ct and c.suvmax >= bladder["pet_only_min_suvmax"]:
            return "bladder"
    urinary = rules.get("urinary")
    if urinary and c.core_hu is not None and _within(c.core_hu, urinary["core_hu"]) \
            and depth_fraction >= urinary["min_depth_fraction"]:
        return "urinary tract"
    heart = rules.get("heart")
    if heart and c.volume_ml >= heart["min_volume_ml"] and c.shell_ratio >= heart["min_shell_ratio"] \
            and _within(lateral, heart["left_mm"]) and posterior <= heart["max_posterior_mm"] \
            and _within(depth_fraction, heart["depth_fraction"]):
        return "myocardium"
    contrast = rules.get("contrast")
    if contrast and c.contrast < contrast["min_ratio"]:
        return "diffuse uptake"
    tubular = rules.get("tubular")
    if tubular and c.elongation >= tubular["min_elongation"] and c.volume_ml <= tubular["max_volume_ml"]:
        return "bowel or ureter"
    organ = rules.get("uniform_organ")
    if organ and c.volume_ml >= organ["min_volume_ml"] and c.cv <= organ["max_cv"]:
        return "liver or spleen"
    return None


def _mirror_pairs(zone: list[Candidate], body: BodyFrame, tolerance: float, reason: str) -> None:
    """Mark every candidate of `zone` that has a partner mirrored across the midline (paired organs)."""
    for i, a in enumerate(zone):
        for b in zone[i + 1:]:
            mirrored = abs(body.lateral_mm(a.centroid) + body.lateral_mm(b.centroid)) <= tolerance
            if mirrored and abs(a.centroid[1] - b.centroid[1]) <= tolerance \
                    and abs(a.centroid[2] - b.centroid[2]) <= tolerance:
                a.reason = a.reason or reason
                b.reason = b.reason or reason
