"""The dataset fingerprint (what nnU-Net and Auto3DSeg compute before training): spacings, shapes,
intensity statistics of CT and PET inside the lesions, stored with every model so that recipes never
hard-code dataset numbers."""

from __future__ import annotations

from typing import Any

import numpy as np

from petseg.console import track
from petseg.data.datalist import DatalistEntry
from petseg.data.study import load_study

PERCENTILES = (0.5, 5, 50, 95, 99.5)
SAMPLES_PER_CASE = 10000


def fingerprint(entries: list[DatalistEntry], seed: int = 0) -> dict[str, Any]:
    """Spacing/shape statistics of all studies and intensity statistics of lesion voxels (sampled)."""
    rng = np.random.default_rng(seed)
    spacings, shapes = [], []
    samples: dict[str, list[np.ndarray]] = {"pet": [], "ct": []}
    for entry in track(entries, "fingerprint", total=len(entries)):
        study = load_study(entry.pet, entry.ct, entry.label, ct_optional=True)
        spacings.append(study.suv.spacing)
        shapes.append(study.suv.shape)
        if study.label is None or not study.label.array.any():
            continue
        lesion = np.flatnonzero(study.label.array)
        chosen = rng.choice(lesion, size=min(SAMPLES_PER_CASE, lesion.size), replace=False)
        samples["pet"].append(study.suv.array.ravel()[chosen])
        if study.ct is not None:  # CT values where the CT covers (outside it the fill value is not tissue)
            covered = chosen[study.ct_coverage.array.ravel()[chosen] > 0] if study.ct_coverage is not None else chosen
            samples["ct"].append(study.ct.array.ravel()[covered])
    spacing = np.array(spacings)
    return {
        "cases": len(entries),
        "spacing_mm": {"median": np.median(spacing, axis=0).tolist(), "min": spacing.min(axis=0).tolist(),
                       "max": spacing.max(axis=0).tolist()},
        "shape_zyx": {"median": np.median(np.array(shapes), axis=0).tolist()},
        "intensity": {name: _stats(np.concatenate(values)) for name, values in samples.items() if values},
    }


def _stats(values: np.ndarray) -> dict[str, float]:
    values = values.astype(np.float64)
    result = {"mean": float(values.mean()), "std": float(values.std()), "min": float(values.min()),
              "max": float(values.max())}
    result.update({f"p{p:g}": float(np.percentile(values, p)) for p in PERCENTILES})
    return result
