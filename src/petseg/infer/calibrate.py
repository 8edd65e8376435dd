"""`petseg calibrate`: choose an ensemble's threshold and post-processing on held-out studies and store
them in every member's model folder (`calibration.json`, used by `predict` and `segment`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from petseg.data.datalist import DatalistEntry
from petseg.data.study import load_study
from petseg.errors import PetsegError
from petseg.infer.models import CALIBRATION
from petseg.infer.predictor import Predictor
from petseg.infer.threshold import HeldOutCase, choose_postprocessing, choose_threshold, score
from petseg.io.atomic import write_json_atomic


def held_out_cases(predictor: Predictor, entries: list[DatalistEntry], tracer: str,
                   progress: Callable[[Iterable], Iterable] | None = None) -> list[HeldOutCase]:
    """The ensemble's probabilities on studies with ground truth (float16 to hold many whole-body maps)."""
    if not entries:
        raise PetsegError("the split holds no study: choose held-out studies with --split (e.g. testing or fold:0)")
    missing = [e.case for e in entries if e.label is None]
    if missing:
        raise PetsegError(f"calibration needs ground truth; no label for {', '.join(missing[:5])}")
    cases = []
    for entry in (progress or iter)(entries):
        study = load_study(entry.pet, entry.ct, entry.label)
        probability = predictor.probabilities(study, tracer).astype(np.float16)
        cases.append(HeldOutCase(entry.case, probability, study.label.array > 0, study.suv))
    return cases


def calibrate(predictor: Predictor, entries: list[DatalistEntry], objective: str = "dice", tracer: str = "fdg",
              progress: Callable[[Iterable], Iterable] | None = None) -> dict[str, Any]:
    """Choose the threshold, then the post-processing; write calibration.json into each member folder."""
    cases = held_out_cases(predictor, entries, tracer, progress)
    threshold, sweep = choose_threshold(cases, objective)
    steps, trials = choose_postprocessing(cases, threshold, objective, tracer)
    result = {"members": sorted(m.name for m in predictor.models), "objective": objective, "tracer": tracer,
              "threshold": threshold, "postprocess": steps, "cases": [c.case for c in cases],
              "at_0.5": score(cases, 0.5, {}), "chosen": score(cases, threshold, steps),
              "sweep": sweep, "trials": trials}
    for model in predictor.models:
        write_json_atomic(model.path / CALIBRATION, result)
    return result
