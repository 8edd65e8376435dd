"""Threshold and post-processing selection for an ensemble on held-out studies (`petseg calibrate`).

Seed 002: an ensemble's threshold must be chosen for the ensemble, on studies none of its members
trained on, not averaged from the folds' own thresholds. The probability maps are computed once; the
sweep then only thresholds and scores them. Objectives:
- `dice`: the highest mean Dice (lesion-positive studies);
- `autopet`: the autoPET III ranking among the candidates: each candidate ranked by mean Dice (higher
  first), mean FPV and mean FNV (lower first), ranks weighted 0.5 / 0.25 / 0.25, lowest weighted rank wins.
Post-processing steps are then added one at a time, each kept only where it improves the objective on
the same studies (as nnU-Net decides its post-processing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from petseg.data.study import Study
from petseg.errors import PetsegError
from petseg.infer.anatomy import DEFAULT_FRACTION, READING_STEPS, Physiology, apply_reading
from petseg.infer.postprocess import mask_before_reading
from petseg.io.images import Volume
from petseg.metrics.autopet import autopet_metrics, nan_mean
from petseg.metrics.components import Overlap
from petseg.tracers import Tracer

OBJECTIVES = ("dice", "autopet")
RANK_WEIGHTS = {"dice": 0.5, "fpv_ml": 0.25, "fnv_ml": 0.25}
DEFAULT_THRESHOLDS = tuple(round(t, 3) for t in np.arange(0.05, 0.951, 0.025))


@dataclass
class HeldOutCase:
    """One held-out study: the ensemble's probability, the truth and the SUV (all on the PET grid)."""

    case: str
    probability: np.ndarray
    label: np.ndarray
    suv: Volume
    study: Study | None = None  # the study itself, when the window gate is calibrated too
    physiology: Physiology | None = None  # the SUV method's reading, when the steps reading it are tried


def score(cases: list[HeldOutCase], threshold: float, steps: dict[str, Any]) -> dict[str, float]:
    """Mean Dice (positive studies), FPV and FNV at `threshold` with the post-processing `steps`."""
    rows = []
    for case in cases:
        mask = mask_before_reading(case.probability, case.suv, threshold, steps)
        if READING_STEPS & set(steps):
            mask = apply_reading(mask, case.probability, case.suv, case.physiology, steps).mask  # type: ignore[arg-type]
        rows.append(autopet_metrics(Overlap.of(case.label, mask, case.suv.voxel_ml)))
    return {key: nan_mean(row[key] for row in rows) for key in ("dice", "fpv_ml", "fnv_ml")}


def best_index(rows: list[dict[str, float]], objective: str) -> int:
    """The winning candidate among `rows` (mean metrics) under `objective`; the first on ties."""
    if objective not in OBJECTIVES:
        raise PetsegError(f"unknown objective {objective!r}: choose {' or '.join(OBJECTIVES)}")
    dice = np.array([-1.0 if math.isnan(r["dice"]) else r["dice"] for r in rows])
    if objective == "dice":
        return int(np.argmax(dice))
    from scipy.stats import rankdata  # here: scipy.stats costs every `petseg predict` process 0.5 s to import

    ranks = RANK_WEIGHTS["dice"] * rankdata(-dice)
    for key in ("fpv_ml", "fnv_ml"):
        values = np.array([0.0 if math.isnan(r[key]) else r[key] for r in rows])
        ranks = ranks + RANK_WEIGHTS[key] * rankdata(values)
    return int(np.argmin(ranks))


def choose_threshold(cases: list[HeldOutCase], objective: str = "dice",
                     thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS) -> tuple[float, list[dict[str, float]]]:
    """The best threshold and the sweep's table (threshold, dice, fpv_ml, fnv_ml per candidate)."""
    if not cases:
        raise PetsegError("calibration needs held-out studies with ground truth")
    table = [{"threshold": float(t), **score(cases, float(t), {})} for t in thresholds]
    return float(table[best_index(table, objective)]["threshold"]), table


def candidate_steps(threshold: float, tracer: Tracer, reading: bool = False) -> list[dict[str, Any]]:
    """The post-processing steps tried, in order (each alone on top of what was kept before); the anatomy step and
    the SUV method's outlines confirmed at the threshold and lower (a lesion the model sees faintly) when the
    held-out studies carry the SUV method's reading."""
    floor = tracer.suv_floor
    steps = [{"suv_floor": floor},
             {"min_volume_ml": 0.5},
             {"candidates": {"threshold": round(threshold / 2, 4), "suvmax": 4 * floor}},
             {"closing_mm": 4.0}]
    if not reading:
        return steps
    outlines = [{"suv_outline": {"confirm": round(threshold / share, 4)}} for share in (1, 2, 4, 8)]
    return [*steps, {"anatomy": {"min_fraction": DEFAULT_FRACTION}}, *outlines]


def choose_postprocessing(cases: list[HeldOutCase], threshold: float, objective: str, tracer: Tracer
                          ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Greedy selection: each candidate step is kept when it beats the chain so far; returns the chain and
    the trials (step, metrics, kept)."""
    chain: dict[str, Any] = {}
    current = score(cases, threshold, chain)
    trials = []
    for step in candidate_steps(threshold, tracer, all(c.physiology is not None for c in cases)):
        trial = score(cases, threshold, {**chain, **step})
        kept = best_index([current, trial], objective) == 1  # a tie keeps the shorter chain
        trials.append({"step": step, **trial, "kept": kept})
        if kept:
            chain, current = {**chain, **step}, trial
    return chain, trials
