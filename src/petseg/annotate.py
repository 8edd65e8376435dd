"""What a reader wants beside each lesion's numbers: its anatomical region and, against a ground truth,
whether it was found or is a false positive; the ground-truth lesions that were missed; the autoPET
metrics. Shared by `petseg segment` (the API) and `petseg predict` (the cohort)."""

from __future__ import annotations

from typing import Any

import numpy as np

from petseg.metrics.components import Overlap, label_components
from petseg.metrics.evaluate import case_metrics
from petseg.quantify import Lesion, quantify
from petseg.regions import lesion_regions
from petseg.results import SegmentResult


def annotate(result: SegmentResult) -> SegmentResult:
    """Fill `lesion_notes` (region; truth status), `missed` and `metrics` of `result` in place; returns it."""
    study = result.study
    lesions = result.quantification.lesions
    truth = study.label.array > 0 if study.label is not None else None
    centroids = [lesion.centroid_mm for lesion in lesions]
    missed_lesions = []
    if truth is not None:
        missed_mask = _missed_truth(truth, result.mask.array > 0)
        missed_lesions = quantify(study.suv, study.suv.with_array(missed_mask.astype(np.uint8))).lesions
        centroids += [lesion.centroid_mm for lesion in missed_lesions]
    regions = lesion_regions(study, centroids)
    result.lesion_notes = {lesion.id: {"region": region} for lesion, region in zip(lesions, regions, strict=False)}
    if truth is None:
        return result
    found = np.bincount(result.quantification.labels.array[truth], minlength=len(lesions) + 1) > 0
    for lesion in lesions:
        result.lesion_notes[lesion.id]["truth"] = "found" if found[lesion.id] else "false positive"
    result.missed = [_missed_entry(lesion, region) for lesion, region in
                     zip(missed_lesions, regions[len(lesions):], strict=True)]
    overlap = Overlap.of(truth, result.mask.array > 0, study.suv.voxel_ml)
    result.metrics = case_metrics(str(study.meta.get("case", "study")), overlap)
    return result


def _missed_truth(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """The ground-truth lesions (18-connected) that no predicted voxel touches."""
    labels, count = label_components(truth)
    touched = np.zeros(count + 1, dtype=bool)
    touched[np.unique(labels[predicted & truth])] = True
    touched[0] = True
    return ~touched[labels]


def _missed_entry(lesion: Lesion, region: str | None) -> dict[str, Any]:
    """A missed ground-truth lesion as lesions.json lists it."""
    return {"id": lesion.id, "volume_ml": lesion.volume_ml, "suvmax": lesion.suvmax,
            "centroid_mm": lesion.centroid_mm, "region": region}
