"""The training-free SUV method: what a reader does by hand, automated.

1. Candidate lesion voxels from an SUV threshold: a fixed absolute SUV, the PERCIST liver-based
   threshold (1.5 x liver mean + 2 SD, liver found automatically), or a fraction (41 %) of each
   candidate's own SUVmax. Inside the liver a voxel must also exceed liver mean + 4 SD.
2. Physiological uptake removed component by component (`physiology`): brain, bladder, kidneys,
   myocardium, paired glands, bowel and ureters, and for PSMA the liver and spleen.
3. Components under a minimum volume dropped.
Parameters per tracer live in `suv_params.yaml`.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import yaml

from petseg.data.study import Study
from petseg.errors import PetsegError, PetsegWarning
from petseg.io.images import Volume
from petseg.methods.landmarks import LiverReference, body_frame, find_liver_reference
from petseg.methods.params import check_parameters
from petseg.methods.physiology import Candidate, classify, describe_candidates
from petseg.metrics.components import label_components
from petseg.overrides import apply_overrides

THRESHOLD_MODES = ("fixed", "percist", "relative")


@dataclass
class SuvMethodResult:
    """The lesion mask and how it was obtained (for the report's provenance)."""

    mask: Volume
    parameters: dict[str, Any]
    threshold_suv: float
    liver: LiverReference | None
    suppressed: list[dict[str, Any]] = field(default_factory=list)
    too_small: int = 0

    def provenance(self) -> dict[str, Any]:
        """JSON-ready description of the method run."""
        liver = None if self.liver is None else {"mean": self.liver.mean, "sd": self.liver.sd,
                                                 "center_mm": self.liver.center_mm}
        return {"name": "suv", "threshold_suv": self.threshold_suv, "liver_reference": liver,
                "parameters": self.parameters, "suppressed": self.suppressed,
                "dropped_below_min_volume": self.too_small}


@cache
def _parameter_table() -> dict[str, Any]:
    text = resources.files("petseg.methods").joinpath("suv_params.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def method_parameters(tracer: str, overrides: dict[str, str] | None = None) -> dict[str, Any]:
    """The tracer's parameters with `overrides` applied ('threshold.suv' -> '3.5', YAML values)."""
    table = _parameter_table()
    if tracer not in table:
        raise PetsegError(f"no SUV-method parameters for tracer {tracer!r}; choose one of {', '.join(table)}")
    params = apply_overrides(copy.deepcopy(table[tracer]), overrides, table[tracer],
                             "parameter of the SUV method")
    check_parameters(params, table[tracer])
    if params["threshold"]["mode"] not in THRESHOLD_MODES:
        raise PetsegError(f"threshold.mode must be one of {', '.join(THRESHOLD_MODES)}")
    return params


def segment_suv(study: Study, tracer: str = "fdg", overrides: dict[str, str] | None = None) -> SuvMethodResult:
    """Lesion mask (uint8, PET grid) of `study` by the SUV method."""
    params = method_parameters(tracer, overrides)
    suv = study.suv.array
    body = body_frame(study)
    threshold = params["threshold"]
    liver = None
    if threshold["mode"] == "percist" or params["organ_adaptive"]:
        search = params["liver_search"]
        liver = find_liver_reference(study, body, tuple(search["suv"]), search["max_cv"])
    level = float(threshold["suv"])
    if threshold["mode"] == "percist":
        if liver is None:
            warnings.warn(f"no liver reference found; using the fixed threshold SUV {level:g} instead of PERCIST",
                          PetsegWarning, stacklevel=2)
        else:
            level = 1.5 * liver.mean + threshold["percist_sd"] * liver.sd
    elif threshold["mode"] == "relative":
        level = float(threshold["relative_seed_suv"])
    candidates = body.mask & (suv >= level)
    if threshold["mode"] == "relative":
        candidates = _relative_to_own_max(suv, candidates, float(threshold["relative_fraction"]))
    if liver is not None and params["organ_adaptive"]:
        candidates &= ~(liver.region & (suv < liver.mean + float(params["organ_adaptive_sd"]) * liver.sd))
    labels, count = label_components(candidates)
    described = describe_candidates(study, labels, count)
    classify(described, body, params["suppress"], study.has_ct)
    mask = np.zeros(suv.shape, dtype=np.uint8)
    suppressed, too_small = [], 0
    for candidate in described:
        if candidate.reason is not None:
            suppressed.append(_summary(candidate))
        elif candidate.volume_ml < params["min_volume_ml"]:
            too_small += 1
        else:
            mask[candidate.box][candidate.mask] = 1
    return SuvMethodResult(study.suv.with_array(mask), params, level, liver, suppressed, too_small)


def _relative_to_own_max(suv: np.ndarray, seeds: np.ndarray, fraction: float) -> np.ndarray:
    """Within each seed component, keep the voxels at or above `fraction` of that component's SUVmax."""
    labels, count = label_components(seeds)
    if count == 0:
        return seeds
    maxima = np.zeros(count + 1, dtype=np.float32)
    np.maximum.at(maxima, labels[seeds], suv[seeds])
    return seeds & (suv >= fraction * maxima[labels])


def _summary(candidate: Candidate) -> dict[str, Any]:
    return {"reason": candidate.reason, "volume_ml": round(candidate.volume_ml, 3),
            "suvmax": round(candidate.suvmax, 2), "centroid_mm": [round(float(v), 1) for v in candidate.centroid]}
