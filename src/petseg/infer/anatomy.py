"""Anatomy for learned masks: the components a trained model calls lesions that lie in physiological uptake the
SUV method recognises (brain, myocardium, bladder, kidneys, ureters, glands, ...) are removed, each with its
reason, for any model (petseg's or nnU-Net's).

The SUV method's organ rules run on the study once (`physiology`); a learned component (18-connected) whose voxels
lie at least `min_fraction` in recognised regions is removed and named after the region it overlaps most. A
component mostly outside (a lesion touching an organ) stays whole. Whether a model uses the step is decided on
held-out studies like the other post-processing steps (`petseg calibrate`), or forced with `--anatomy`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from petseg.data.study import Study
from petseg.io.images import Volume
from petseg.metrics.components import label_components

DEFAULT_FRACTION = 0.5  # a learned component is physiology when at least this share of it lies in named uptake


@dataclass(frozen=True)
class Physiology:
    """The SUV method's recognised regions of one study: uint16 labels (PET grid, region k = reasons[k - 1])."""

    labels: np.ndarray
    reasons: list[str]


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
    return Physiology(np.asarray(labels, dtype=np.uint16), [item["reason"] for item in found.suppressed])


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


def step_fraction(chosen: dict[str, Any] | None, asked: bool | None) -> float | None:
    """The step's minimum overlap for a model: off when `--no-anatomy`; else the calibrated choice (`chosen`,
    {"min_fraction": f}, None when calibration left the step out); else the default when `--anatomy`; None: off."""
    if asked is False:
        return None
    if chosen:
        return float(chosen["min_fraction"])
    return DEFAULT_FRACTION if asked else None


def anatomy_step(mask: Volume, study: Study, min_fraction: float | None) -> tuple[Volume, Removed | None]:
    """A predictor's final mask through the anatomy step (None: the step is off; the mask as it is)."""
    if min_fraction is None:
        return mask, None
    removed = remove_physiology(mask.array > 0, study.suv, physiology(study), min_fraction)
    return study.suv.with_array(removed.mask.astype(np.uint8)), removed


def _item(number: int, reason: str, voxels: np.ndarray, suv: Volume, overlap: float) -> dict[str, Any]:
    """A removed component as lesions.json lists suppressed regions."""
    centroid = suv.index_to_physical(np.argwhere(voxels).mean(axis=0))
    return {"id": number, "reason": reason, "volume_ml": round(float(voxels.sum()) * suv.voxel_ml, 3),
            "suvmax": round(float(suv.array[voxels].max()), 2), "centroid_mm": [round(float(v), 1) for v in centroid],
            "overlap": round(overlap, 3), "removed_by": "anatomy"}
