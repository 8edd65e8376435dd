"""An ensemble's threshold and post-processing: chosen on held-out studies by `petseg calibrate` and stored in
every member's model folder (`calibration.json`), and looked up for `predict` and `segment --model`.

The decision for a set of models: the threshold asked for on the command line, else the calibration made for
exactly these models, else the models' own thresholds (mean; 0.5 for a majority vote); post-processing from
the calibration, else none.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from petseg.data.datalist import DatalistEntry
from petseg.data.study import load_study
from petseg.errors import PetsegError
from petseg.infer.models import ModelFolder
from petseg.infer.threshold import HeldOutCase, choose_postprocessing, choose_threshold, score
from petseg.io.atomic import write_json_atomic

if TYPE_CHECKING:
    from petseg.infer.predictor import Predictor

CALIBRATION = "calibration.json"


@dataclass(frozen=True)
class Decision:
    """How an ensemble's probability becomes a mask: threshold and post-processing, and where they came from."""

    threshold: float
    postprocess: dict[str, Any] = field(default_factory=dict)
    source: str = "models"  # "command line", "calibration" or "models"


def load_calibration(models: list[ModelFolder]) -> dict[str, Any] | None:
    """The calibration chosen for exactly this set of models, if any."""
    members = sorted(m.name for m in models)
    for model in models:
        path = model.path / CALIBRATION
        if path.is_file():
            calibration = json.loads(path.read_text(encoding="utf-8"))
            if sorted(calibration.get("members", [])) == members:
                return calibration
    return None


def decide(models: list[ModelFolder], ensemble: str = "mean", threshold: float | None = None) -> Decision:
    """The decision for `models` combined by `ensemble` (see the module docstring)."""
    calibration = load_calibration(models)
    steps = dict(calibration.get("postprocess", {})) if calibration else {}
    if threshold is not None:
        return Decision(float(threshold), steps, "command line")
    if calibration is not None:
        return Decision(float(calibration["threshold"]), steps, "calibration")
    return Decision(0.5 if ensemble == "vote" else float(np.mean([m.threshold for m in models])), {}, "models")


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
        study = load_study(entry.pet, entry.ct, entry.label, {"tracer": tracer})
        probability = predictor.probabilities(study)[0].astype(np.float16)
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
