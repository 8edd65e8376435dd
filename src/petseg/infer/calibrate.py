"""An ensemble's threshold and post-processing: chosen on held-out studies by `petseg calibrate` and stored in
every member's model folder (`calibration.json`), and looked up for `predict` and `segment --model`.

The decision for a set of models: the threshold asked for on the command line, else the calibration made for
exactly these models, else the models' own thresholds (mean; 0.5 for a majority vote); post-processing from
the calibration, else none. The held-out probabilities are MONAI's (every window run). The calibration also
holds the ensemble's window gate: the highest SUV at which, on every held-out study, every lesion voxel still
lies in the core of a window that runs and the skipped windows' share of the weight is too small anywhere to
take a voxel off the ensemble's mask, so that the gated masks are MONAI's masks exactly (skipping only lowers
probabilities, by at most the skipped share, so it never adds a voxel).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import SimpleITK as sitk

from petseg.data.datalist import DatalistEntry
from petseg.data.study import Study, load_study, resample_onto
from petseg.errors import PetsegError
from petseg.infer.anatomy import READING_STEPS, physiology, reading_steps
from petseg.infer.models import ModelFolder, is_builtin
from petseg.infer.threshold import HeldOutCase, choose_postprocessing, choose_threshold, score
from petseg.io.atomic import write_json_atomic
from petseg.models.settings import core_or_window, highest_safe_gate
from petseg.models.windows import window_coverage
from petseg.preprocess import preprocess_study
from petseg.tracers import Tracer

if TYPE_CHECKING:
    from petseg.infer.predictor import Predictor

CALIBRATION = "calibration.json"
OUT_OF_FOLD = "out-of-fold"  # the split of `petseg calibrate --split out-of-fold`
VOTE_MAJORITY = 0.5  # a majority vote: more than half of the models' own masks


@dataclass(frozen=True)
class Decision:
    """How an ensemble's probability becomes a mask: threshold and post-processing, and where they came from."""

    threshold: float
    postprocess: dict[str, Any] = field(default_factory=dict)
    source: str = "models"  # of the threshold: "command line", "calibration" or "models"
    gate_suv: float | None = None  # the calibrated window gate, if any
    gate_core: bool = True  # whether that gate was calibrated on windows' cores (else on whole windows)


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


def decide(models: list[ModelFolder], ensemble: str, threshold: float | None = None) -> Decision:
    """The decision for `models` combined by `ensemble` (see the module docstring)."""
    calibration = load_calibration(models) or {}
    steps, gate = dict(calibration.get("postprocess", {})), calibration.get("gate_suv")
    core = bool(calibration.get("gate_core", False))  # calibrations before the core gate gated whole windows
    if threshold is not None:
        return Decision(float(threshold), steps, "command line", gate, core)
    if calibration:
        return Decision(float(calibration["threshold"]), steps, "calibration", gate, core)
    own = VOTE_MAJORITY if ensemble == "vote" else float(np.mean([m.threshold for m in models]))
    return Decision(own, {}, "models")


def decision_steps(decision: Decision, anatomy: bool | None, suv_outline: bool | None) -> dict[str, Any]:
    """The post-processing a predictor runs: the decision's steps on the mask, then the steps reading the SUV
    method's view as asked (`--anatomy`, `--suv-outline`), else as calibrated (`reading_steps`)."""
    on_mask = {key: value for key, value in decision.postprocess.items() if key not in READING_STEPS}
    return {**on_mask, **reading_steps(decision.postprocess, decision.threshold, anatomy, suv_outline)}


def safe_gate(predictor: Predictor, study: Study, probability: np.ndarray, thresholds: list[float],
              core: bool = True) -> float:
    """The highest of `GATE_CANDIDATES` at which, for every model of the ensemble, the cores of the windows that run
    (`core`; else the whole windows) cover every lesion voxel of `study`, and the ensemble's mask (`probability >= t`,
    PET grid, MONAI's: every window run) stays the same at every threshold t of `thresholds` (see `mask_kept`); 0 when
    none is."""
    stage1 = {"stage1": study.suv.with_array(np.zeros(study.suv.shape, np.uint8))}  # only the grid matters here
    members = []
    for model in predictor.models:
        settings = replace(predictor.options.resolve(model.recipe, predictor.device, gate_suv=0.0), gate_core=core)
        prepared = preprocess_study(study, model.recipe, model.fingerprint, stage1)
        lesion = prepared.label > 0 if prepared.label is not None else np.zeros(prepared.suv.shape, bool)
        members.append((settings, prepared, lesion))
    probability = np.asarray(probability, dtype=np.float32)

    def safe(gate: float) -> bool:
        share = np.zeros(study.suv.shape, np.float32)
        for settings, prepared, lesion in members:
            covered, skipped = window_coverage(prepared.suv >= gate, settings)
            if not covered[lesion].all():
                return False
            if not prepared.grid.same_grid(study.suv):  # the share goes back as the probability does
                skipped = resample_onto(prepared.grid.with_array(skipped), study.suv, sitk.sitkLinear, 0.0).array
            share += skipped / len(members)
        return all(mask_kept(probability, share, t, predictor.options.ensemble) for t in thresholds)

    return highest_safe_gate(safe)


def mask_kept(probability: np.ndarray, share: np.ndarray, threshold: float, ensemble: str) -> bool:
    """Whether gated windows whose skipped share of the weight is `share` keep MONAI's mask `probability >= threshold`.
    A skipped window lowers a voxel's probability by at most its share (the network's output is at most 1) and
    never raises it, so every voxel of the mask with p - share >= threshold stays, and no voxel joins. A majority
    vote of the models' own masks has no such bound: there no skipped window may touch the mask."""
    mask = probability >= threshold
    if ensemble == "vote":
        return not (share[mask] > 0).any()
    return bool((probability[mask] - share[mask] >= threshold).all())


def choose_gate(predictor: Predictor, cases: list[HeldOutCase], thresholds: list[float], tracer: Tracer
                ) -> tuple[bool, float]:
    """(core, gate): the gate safe on every case, on windows' cores or whole windows (`core_or_window`)."""
    safe = {core: min(safe_gate(predictor, c.study, c.probability, thresholds, core)  # type: ignore[arg-type]
                      for c in cases) for core in (True, False)}
    return core_or_window(safe, tracer.gate_ceiling_suv)


def out_of_fold(models: list[ModelFolder], entries: list[DatalistEntry]
                ) -> list[tuple[ModelFolder, DatalistEntry]]:
    """(member, study) for every study a member held out: its fold of `entries` (of the datalist it trained with;
    each must be among the held-out studies its model.json records); one member per fold."""
    pairs: list[tuple[ModelFolder, DatalistEntry]] = []
    holders: dict[int, str] = {}
    for model in models:
        fold = model.description.get("fold")
        if not isinstance(fold, int) or isinstance(fold, bool):
            raise PetsegError(f"{model.name} trained on fold {fold!r}, not one cross-validation fold: out-of-fold "
                              "calibration needs members that each held out one fold (else use --split fold:K)")
        if fold in holders:
            raise PetsegError(f"{holders[fold]} and {model.name} both held out fold {fold}: out-of-fold calibration "
                              "takes one member per fold")
        holders[fold] = model.name
        held = [e for e in entries if e.fold == fold]
        recorded = model.description.get("held_out_cases")
        if not held or (recorded is not None and not {e.case for e in held} <= set(recorded)):
            raise PetsegError(f"fold {fold} of the datalist holds studies {model.name} did not hold out (or none): "
                              "give --datalist the datalist the members were trained with")
        pairs.extend((model, entry) for entry in held)
    return pairs


def held_out_cases(predictor: Predictor, entries: list[DatalistEntry], tracer: Tracer,
                   progress: Callable[[Iterable], Iterable] | None = None,
                   split_out_of_fold: bool = False) -> list[HeldOutCase]:
    """The ensemble's probabilities on studies with ground truth, every window run (MONAI's sliding window), in
    float16 to hold many whole-body maps; with `split_out_of_fold`, each member's own on the studies it held out
    (`out_of_fold`)."""
    if split_out_of_fold and predictor.stages.second:
        raise PetsegError("out-of-fold calibration takes one stage's members: calibrate a cascade on studies none "
                          "of its models trained on (--split fold:K or testing)")
    pairs = out_of_fold(predictor.models, entries) if split_out_of_fold else [(None, e) for e in entries]
    if not pairs:
        raise PetsegError("the split holds no study: choose held-out studies with --split (e.g. testing or fold:0)")
    missing = [e.case for _, e in pairs if e.label is None]
    if missing:
        raise PetsegError(f"calibration needs ground truth; no label for {', '.join(missing[:5])}")
    cases = []
    for model, entry in (progress or iter)(pairs):
        study = load_study(entry.pet, entry.ct, entry.label, ct_optional=True, tracer=tracer.name)
        probability = predictor.probabilities(study, gate_suv=0.0)[0] if model is None else \
            predictor.member_probability(model, study)
        cases.append(HeldOutCase(entry.case, probability.astype(np.float16), study.label.array > 0, study.suv, study,
                                 physiology(study)))
    return cases


def calibrate(predictor: Predictor, entries: list[DatalistEntry], objective: str, tracer: Tracer,
              progress: Callable[[Iterable], Iterable] | None = None, split_out_of_fold: bool = False
              ) -> dict[str, Any]:
    """Choose the threshold, then the post-processing, then the window gate on held-out studies of `tracer` (with
    `split_out_of_fold`: the members' out-of-fold predictions among `entries`); write calibration.json into each
    member folder."""
    shipped = [str(m.path) for m in predictor.models if is_builtin(m.path)]
    if shipped:
        raise PetsegError(f"{shipped[0]} ships with petseg and its own calibration; copy the folder to calibrate it on "
                          "your studies, and give the copy to --model")
    cases = held_out_cases(predictor, entries, tracer, progress, split_out_of_fold)
    threshold, sweep = choose_threshold(cases, objective)
    steps, trials = choose_postprocessing(cases, threshold, objective, tracer)
    thresholds = [threshold, *([float(steps["candidates"]["threshold"])] if "candidates" in steps else [])]
    core, gate = choose_gate(predictor, cases, thresholds, tracer)
    if not any(c.label.any() for c in cases):
        gate = None  # without a held-out lesion nothing says which gate keeps lesions
    result = {"members": sorted(m.name for m in predictor.models), "objective": objective, "tracer": tracer.name,
              "threshold": threshold, "postprocess": steps, "gate_suv": gate, "gate_core": core,
              "split": OUT_OF_FOLD if split_out_of_fold else "held out", "cases": [c.case for c in cases],
              "at_0.5": score(cases, 0.5, {}), "chosen": score(cases, threshold, steps),
              "sweep": sweep, "trials": trials}
    for model in predictor.models:
        write_json_atomic(model.path / CALIBRATION, result)
    return result
