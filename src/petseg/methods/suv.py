"""The training-free SUV method: what a reader does by hand, automated.

1. Candidate lesion voxels from an SUV threshold: a fixed absolute SUV, the PERCIST liver-based
   threshold (1.5 x liver mean + 2 SD, liver found automatically), or a fraction (41 %) of each
   candidate's own SUVmax. Inside the liver a voxel must also exceed liver mean + 4 SD.
2. Physiological uptake and noise recognised region by region (`organs`): brain, bladder, kidneys,
   ureters, myocardium, testes, paired glands, bowel, noise specks, and for PSMA the liver and spleen.
3. A region named as an organ is split (`split`) where a lesion touches it, the organ's own piece keeps
   its name and the other pieces are judged again, so a node beside the brain, heart or bladder survives.
4. Regions under a minimum volume dropped.
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
from petseg.errors import ImportantWarning, PetsegError
from petseg.io.images import Volume
from petseg.methods.candidates import Candidate, describe_candidates
from petseg.methods.landmarks import BodyFrame, body_frame
from petseg.methods.liver import LiverReference, find_liver_reference
from petseg.methods.organs import Context, classify
from petseg.methods.outline import ABSORBED, NormalTissue, outline_lesions
from petseg.methods.params import check_parameters
from petseg.methods.split import split_region
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
    suppressed_labels: Volume | None = None  # uint16, PET grid: region k is suppressed[k - 1]

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


def segment_suv(study: Study, overrides: dict[str, str] | None = None, body: BodyFrame | None = None
                ) -> SuvMethodResult:
    """Lesion mask (uint8, PET grid) of `study` by the SUV method, with its tracer's parameters (`body`: the study's
    body model where the caller has it)."""
    params = method_parameters(study.tracer.name, overrides)
    suv = study.suv.array
    body = body or body_frame(study)
    liver = None
    if body.height_mm >= params["trunk_min_extent_mm"]:  # the trunk's anchor and noise reference; not in a crop
        search = params["liver_search"]
        liver = find_liver_reference(study, body, tuple(search["suv"]), search["max_cv"])
    level = _threshold(params["threshold"], liver)
    candidates = body.mask & (suv >= level)
    if params["threshold"]["mode"] == "relative":
        candidates = _relative_to_own_max(suv, candidates, float(params["threshold"]["relative_fraction"]))
    if liver is not None and params["organ_adaptive"]:
        candidates &= ~(liver.region & (suv < liver.mean + float(params["organ_adaptive_sd"]) * liver.sd))
    labels = label_components(candidates)[0].astype(np.uint32, copy=False)  # room for the split pieces
    described = _recognise(study, body, liver, level, params, labels)
    mask = np.zeros(suv.shape, dtype=bool)
    named = np.zeros(suv.shape, dtype=np.uint16)
    suppressed: list[dict[str, Any]] = []
    too_small = 0
    for candidate in described:
        if candidate.reason is not None:
            suppressed.append(_summary(candidate, len(suppressed) + 1))
            named[candidate.box][candidate.mask] = len(suppressed)
        elif candidate.volume_ml < params["min_volume_ml"]:
            too_small += 1
        else:
            mask[candidate.box][candidate.mask] = True
    organs = [item["id"] for item in suppressed if item["reason"] not in ABSORBED]
    outline = params["outline"]
    if params["threshold"]["mode"] == "relative":  # percent of each lesion's own SUVmax is its outline
        outline = {**outline, "adaptive": None}
    mask = outline_lesions(study, mask, named, organs, _normal_tissue(liver, params), level, outline)
    suppressed, named = _left_out(suppressed, named, mask)
    return SuvMethodResult(study.suv.with_array(mask.astype(np.uint8)), params, level, liver, suppressed, too_small,
                           study.suv.with_array(named))


def _normal_tissue(liver: LiverReference | None, params: dict[str, Any]) -> NormalTissue:
    """Where lesion outlines stop: below the liver mean, and in the liver where the candidates stop."""
    if liver is None:
        return NormalTissue()
    inside = liver.region if params["organ_adaptive"] else None
    return NormalTissue(liver.mean, inside, liver.mean + float(params["organ_adaptive_sd"]) * liver.sd)


def _left_out(suppressed: list[dict[str, Any]], named: np.ndarray, mask: np.ndarray
              ) -> tuple[list[dict[str, Any]], np.ndarray]:
    """The suppressed regions and their map without those a lesion's outline took in, numbered again."""
    taken = set(np.unique(named[mask]).tolist()) - {0}
    if not taken:
        return suppressed, named
    renumber = np.zeros(len(suppressed) + 1, dtype=np.uint16)
    kept = [item for item in suppressed if item["id"] not in taken]
    for new_id, item in enumerate(kept, start=1):
        renumber[item["id"]] = new_id
    return [{**item, "id": renumber[item["id"]].item()} for item in kept], renumber[named]


def _threshold(threshold: dict[str, Any], liver: LiverReference | None) -> float:
    """The candidate threshold in SUV."""
    level = float(threshold["suv"])
    if threshold["mode"] == "percist":
        if liver is None:
            warnings.warn(f"no liver reference found; using the fixed threshold SUV {level:g} instead of PERCIST",
                          ImportantWarning, stacklevel=3)
        else:
            level = 1.5 * liver.mean + threshold["percist_sd"] * liver.sd
    elif threshold["mode"] == "relative":
        level = float(threshold["relative_seed_suv"])
    return level


def _recognise(study: Study, body: BodyFrame, liver: LiverReference | None, level: float, params: dict[str, Any],
               labels: np.ndarray) -> list[Candidate]:
    """Candidates named by the organ rules, organs split from the lesions that touch them and judged again."""
    described = describe_candidates(study, labels)
    context = Context(study, body, liver, params["suppress"], level, params["trunk_min_extent_mm"])
    classify(described, context)
    split = params["split"]
    organs = [c for c in described if c.reason in split["organs"] and c.volume_ml >= split["min_volume_ml"]]
    pieces = [piece for c in organs for piece in _split(study, labels, c, split)]
    if not pieces:
        return described
    replaced = {c.index for c in organs if any(p.index == c.index for p in pieces)}
    described = [c for c in described if c.index not in replaced] + pieces
    for c in described:
        c.reason = c.reason if c.kept else None
    classify(described, Context(study, body, liver, params["suppress"], level, params["trunk_min_extent_mm"]))
    return described


def _split(study: Study, labels: np.ndarray, organ: Candidate, params: dict[str, Any]) -> list[Candidate]:
    """The pieces of `organ` (written into `labels`), the organ's own piece first and kept; [] if it stays whole."""
    spacing = study.suv.spacing_zyx
    margin = [int(np.ceil(params["smooth_mm"] / s)) + 1 for s in spacing]
    box = tuple(slice(max(b.start - m, 0), min(b.stop + m, n))
                for b, m, n in zip(organ.box, margin, labels.shape, strict=True))
    region = labels[box] == organ.index
    pieces = split_region(study.suv.array[box], region, spacing, params)
    count = int(pieces.max())
    if count <= 1:
        return []
    values = study.suv.array[box]
    uptake = np.bincount(pieces[region], weights=values[region], minlength=count + 1)
    order = [int(i) for i in np.argsort(-uptake[1:]) + 1]
    first_new = int(labels.max()) + 1
    indices = [organ.index, *range(first_new, first_new + count - 1)]
    for piece, index in zip(order, indices, strict=True):
        labels[box][pieces == piece] = index
    described = describe_candidates(study, labels, indices)
    described[0].reason, described[0].kept = organ.reason, True
    return described


def _relative_to_own_max(suv: np.ndarray, seeds: np.ndarray, fraction: float) -> np.ndarray:
    """Within each seed component, keep the voxels at or above `fraction` of that component's SUVmax."""
    labels, count = label_components(seeds)
    if count == 0:
        return seeds
    maxima = np.zeros(count + 1, dtype=np.float32)
    np.maximum.at(maxima, labels[seeds], suv[seeds])
    return seeds & (suv >= fraction * maxima[labels])


def _summary(candidate: Candidate, region_id: int) -> dict[str, Any]:
    return {"id": region_id, "reason": candidate.reason, "volume_ml": round(candidate.volume_ml, 3),
            "suvmax": round(candidate.suvmax, 2), "centroid_mm": [round(float(v), 1) for v in candidate.centroid]}
