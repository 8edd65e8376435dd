"""The SUV method's reading of a study, used on learned masks. Two steps, run in this order where chosen:

- `suv_outline: {confirm}` (petseg models): the mask becomes the SUV method's lesion outlines in which the model's
  probability reaches `confirm` somewhere: the network decides which uptake is a lesion, the SUV method (measured on
  real scans) draws it. A small network on a coarse grid tells lesions from physiology better than it outlines them,
  and the SUV method outlines well but calls unrecognised physiology; this keeps the better half of each.
  Lesions the SUV method does not outline are lost, which calibration weighs.
- `anatomy: {min_fraction}` (any model, petseg's or nnU-Net's): the components a model calls lesions that lie in
  physiological uptake the SUV method recognises (brain, myocardium, bladder, kidneys, ureters, glands, ...) are
  removed, each with its reason. A learned component (18-connected) whose voxels lie at least `min_fraction` in
  recognised regions is removed and named after the region it overlaps most; a component mostly outside (a lesion
  touching an organ) stays whole.

The SUV method runs on the study once (`physiology`) for both. Whether a model uses each step is decided on held-out
studies like the other post-processing steps (`petseg calibrate`), or forced with `--anatomy`, `--suv-outline`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from petseg.data.study import Study
from petseg.errors import PetsegError
from petseg.io.images import Volume
from petseg.metrics.components import component_maxima, label_components

DEFAULT_FRACTION = 0.5  # a learned component is physiology when at least this share of it lies in named uptake
READING_STEPS = frozenset({"suv_outline", "anatomy"})


@dataclass(frozen=True)
class Physiology:
    """The SUV method's reading of one study: its recognised regions as uint16 labels (PET grid, region k =
    reasons[k - 1]) and its lesion mask (bool, PET grid)."""

    labels: np.ndarray
    reasons: list[str]
    lesions: np.ndarray | None = None


@dataclass
class Removed:
    """What the anatomy step took out: the mask left, each removed component (lesions.json's `suppressed`
    format) and their label map on the PET grid (component k = items[k - 1]), for the MIP."""

    mask: np.ndarray
    items: list[dict[str, Any]] = field(default_factory=list)
    labels: np.ndarray | None = None

    def label_map(self, grid: Volume) -> Volume | None:
        """The removed components on `grid` (the PET grid of the mask) for the MIP; None when none was removed."""
        return grid.with_array(self.labels) if self.labels is not None else None


def physiology(study: Study) -> Physiology:
    """The physiological uptake the SUV method recognises in `study` (its tracer's parameters)."""
    from petseg.methods.suv import segment_suv

    found = segment_suv(study)
    labels = found.suppressed_labels.array if found.suppressed_labels is not None else np.zeros(study.suv.shape)
    return Physiology(np.asarray(labels, dtype=np.uint16), [item["reason"] for item in found.suppressed],
                      found.mask.array > 0)


def outline_by_suv(probability: np.ndarray, lesions: np.ndarray, confirm: float) -> np.ndarray:
    """The components (18-connected) of the SUV method's `lesions` in which `probability` reaches `confirm`."""
    components, count = label_components(lesions)
    if count == 0:
        return np.zeros(lesions.shape, bool)
    return np.isin(components, np.flatnonzero(component_maxima(components, count, probability) >= confirm) + 1)


def remove_physiology(mask: np.ndarray, suv: Volume, known: Physiology,
                      min_fraction: float = DEFAULT_FRACTION) -> Removed:
    """`mask` without its components that lie mostly (>= `min_fraction`) in recognised physiology."""
    components, count = label_components(np.asarray(mask, dtype=bool))
    if count == 0 or not known.reasons:
        return Removed(np.asarray(mask, dtype=bool))
    inside = known.labels > 0
    sizes = np.bincount(components.ravel(), minlength=count + 1)
    covered = np.bincount(components[inside], minlength=count + 1)
    drop = np.flatnonzero(covered[1:] >= min_fraction * np.maximum(sizes[1:], 1)) + 1
    kept = np.asarray(mask, dtype=bool) & ~np.isin(components, drop)
    labels = np.zeros(mask.shape, np.uint16)
    items = []
    for number, component in enumerate(drop, start=1):
        voxels = components == component
        regions = np.bincount(known.labels[voxels], minlength=len(known.reasons) + 1)[1:]
        labels[voxels] = number
        items.append(_item(number, known.reasons[int(np.argmax(regions))], voxels, suv,
                           float(covered[component]) / float(sizes[component])))
    return Removed(kept, items, labels)


def apply_reading(mask: np.ndarray, probability: np.ndarray | None, suv: Volume, known: Physiology,
                  steps: dict[str, Any]) -> Removed:
    """`mask` through the steps of `steps` that read the SUV method's view (`suv_outline`, then `anatomy`)."""
    mask = np.asarray(mask, dtype=bool)
    if "suv_outline" in steps:
        if probability is None or known.lesions is None:
            raise PetsegError("the suv_outline step needs the model's probability and the SUV method's lesions")
        mask = outline_by_suv(probability, known.lesions, float(steps["suv_outline"]["confirm"]))
    if "anatomy" in steps:
        return remove_physiology(mask, suv, known, float(steps["anatomy"]["min_fraction"]))
    return Removed(mask)


def reading_steps(calibrated: dict[str, Any], threshold: float, anatomy: bool | None = None,
                  suv_outline: bool | None = None) -> dict[str, Any]:
    """The reading steps a predictor runs: each off when asked off (`--no-anatomy`, `--no-suv-outline`); else as
    calibrated; else, when asked on, at its default (anatomy: half a component in physiology; suv_outline: the SUV
    method's outlines the model's mask at `threshold` touches)."""
    steps = {}
    fraction = step_fraction(calibrated.get("anatomy"), anatomy)
    if suv_outline is not False and (calibrated.get("suv_outline") or suv_outline):
        steps["suv_outline"] = calibrated.get("suv_outline") or {"confirm": threshold}
    if fraction is not None:
        steps["anatomy"] = {"min_fraction": fraction}
    return steps


def step_fraction(chosen: dict[str, Any] | None, asked: bool | None) -> float | None:
    """The step's minimum overlap for a model: off when `--no-anatomy`; else the calibrated choice (`chosen`,
    {"min_fraction": f}, None when calibration left the step out); else the default when `--anatomy`; None: off."""
    if asked is False:
        return None
    if chosen:
        return float(chosen["min_fraction"])
    return DEFAULT_FRACTION if asked else None


def anatomy_step(mask: Volume, study: Study, steps: dict[str, Any], probability: np.ndarray | None = None
                 ) -> tuple[Volume, Removed | None]:
    """A predictor's final mask through its reading `steps` (`reading_steps`; none: the mask as it is); what the
    anatomy step removed, when it ran."""
    if not steps:
        return mask, None
    removed = apply_reading(mask.array > 0, probability, study.suv, physiology(study), steps)
    return study.suv.with_array(removed.mask.astype(np.uint8)), removed if "anatomy" in steps else None


def _item(number: int, reason: str, voxels: np.ndarray, suv: Volume, overlap: float) -> dict[str, Any]:
    """A removed component as lesions.json lists suppressed regions."""
    centroid = suv.index_to_physical(np.argwhere(voxels).mean(axis=0))
    return {"id": number, "reason": reason, "volume_ml": round(float(voxels.sum()) * suv.voxel_ml, 3),
            "suvmax": round(float(suv.array[voxels].max()), 2), "centroid_mm": [round(float(v), 1) for v in centroid],
            "overlap": round(overlap, 3), "removed_by": "anatomy"}
