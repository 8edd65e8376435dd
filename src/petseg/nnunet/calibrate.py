"""The window gate of an nnU-Net model, chosen on held-out studies by `petseg calibrate` by the rule petseg's own
models follow (`petseg.infer.calibrate`): the highest candidate SUV at which, on every held-out study, the windows
that run cover every ground-truth lesion voxel and the gated mask is nnU-Net's own (every window run, before
post-processing). nnU-Net places the same windows for every fold, on its preprocessed grid; lesion, mask and uptake
are carried there conservatively (`gated.to_network_grid`). A skipped window only lowers the lesion margin of the
voxels it covers (while the network's own margin there is above -100, see `gated`), so where no skipped window
touches the mask the gated mask is nnU-Net's. The core gate leaves skipped windows out of the average instead,
which moves the logits a little wherever a skipped window's periphery overlaps a running window: a gated run at
each candidate says whether the mask agrees (`agrees`: Dice >= 0.99 against nnU-Net's, no component of either
missing from the other, the issue's acceptance rule for the gate). Both gates are calibrated, and the one that
skips more at the tracer's ceiling kept (`core_or_window`).

The threshold stays nnU-Net's (argmax): it is what the model's authors validated. Calibration chooses the gate
and whether petseg's anatomy step (`petseg.infer.anatomy`: components lying in physiology the SUV method
recognises removed) runs after nnU-Net's post-processing: kept when it raises the held-out studies' mean Dice, or
lowers their false-positive volume without lowering the Dice. The result goes into `petseg_calibration.json` in
the model folder (for a zip, in its unpacked folder in petseg's cache), one entry per set of folds, checkpoint and
tile step, and is used whenever those are run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from petseg.data.datalist import DatalistEntry
from petseg.data.study import Study, load_study
from petseg.errors import PetsegError
from petseg.infer.anatomy import DEFAULT_FRACTION, physiology, remove_physiology
from petseg.io.atomic import write_json_atomic
from petseg.metrics.autopet import autopet_metrics, nan_mean
from petseg.metrics.components import Overlap
from petseg.models.settings import core_or_window, highest_safe_gate
from petseg.nnunet.folder import NnunetFolder
from petseg.tracers import Tracer

if TYPE_CHECKING:
    from petseg.nnunet.predictor import NnunetPredictor, NnunetRun

CALIBRATION = "petseg_calibration.json"
AGREEMENT_DICE = 0.99  # a core-gated mask against nnU-Net's on a held-out study


def _entries(folder: NnunetFolder) -> list[dict[str, Any]]:
    path = folder.path / CALIBRATION
    if not path.is_file():
        return []
    try:
        entries = json.loads(path.read_text(encoding="utf-8")).get("calibrations", [])
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        raise PetsegError(f"{path} is damaged: delete it and run petseg calibrate again") from None
    return [e for e in entries if isinstance(e, dict)]


def load_calibration(folder: NnunetFolder, key: dict[str, Any]) -> dict[str, Any]:
    """What `petseg calibrate` chose for exactly these folds, checkpoint and tile step ({} when never run)."""
    return next((entry for entry in _entries(folder) if entry.get("key") == key), {})


def study_safe_gate(predictor: NnunetPredictor, study: Study, run: NnunetRun, mask: np.ndarray, core: bool,
                    ceiling: float) -> float:
    """The highest candidate gate safe on `study` on windows' cores (`core`; candidates up to the tracer's
    `ceiling`: each costs a gated run, and higher gates are never used) or whole windows (see the module
    docstring); `run` is its every-window run and `mask` nnU-Net's mask of it (PET grid, before post-processing)."""
    from petseg.nnunet.gated import lesions_covered, mask_untouched, padded, to_network_grid, window_runs, window_slices

    runner = predictor.runner
    transpose = list(runner.plans_manager.transpose_forward)

    def on_grid(array: np.ndarray, widen: bool = True) -> np.ndarray:
        return padded(runner, to_network_grid(array, run.properties, transpose, run.network_shape, widen))

    label = study.label.array > 0 if study.label is not None else np.zeros(study.suv.shape, bool)
    lesion, predicted = on_grid(label, widen=not core), on_grid(mask)  # as the gate carries its mask (`gated`)
    windows = window_slices(runner, lesion.shape)

    def safe(gate: float) -> bool:
        runs = window_runs(on_grid(study.suv.array >= gate, widen=not core), windows, core)
        if not lesions_covered(lesion, windows, runs, core):
            return False
        if all(runs) or not core:
            return mask_untouched(predicted, windows, runs)
        return agrees(mask, predictor.decided(predictor.run(study, gate, predictor.keep_probability, core)) > 0)

    return highest_safe_gate(safe, ceiling if core else None)


def agrees(reference: np.ndarray, mask: np.ndarray) -> bool:
    """Whether a gated `mask` keeps nnU-Net's `reference` (bool, one grid): Dice >= `AGREEMENT_DICE`, every
    component of each touched by the other (no lesion lost, none added)."""
    if not reference.any() or not mask.any():
        return not reference.any() and not mask.any()
    overlap = Overlap.of(reference, mask, 1.0)
    touched = bool(overlap.gt_touched().all()) and bool(overlap.pred_touched().all())
    return touched and autopet_metrics(overlap)["dice"] >= AGREEMENT_DICE


def _scores(truth: np.ndarray, mask: np.ndarray, voxel_ml: float, prefix: str = "") -> dict[str, float]:
    metrics = autopet_metrics(Overlap.of(truth, mask, voxel_ml))
    return {prefix + key: metrics[key] for key in ("dice", "fpv_ml", "fnv_ml")}


def _anatomy_helps(cases: list[dict[str, Any]]) -> bool:
    """The anatomy step raises the mean Dice, or lowers the false-positive volume at no cost in Dice."""
    dice, cleaned = nan_mean(c["dice"] for c in cases), nan_mean(c["anatomy_dice"] for c in cases)
    fpv, cleaned_fpv = sum(c["fpv_ml"] for c in cases), sum(c["anatomy_fpv_ml"] for c in cases)
    if np.isnan(dice) or np.isnan(cleaned):  # no lesion held out: only the false positives speak
        return cleaned_fpv < fpv
    return cleaned > dice or (cleaned == dice and cleaned_fpv < fpv)


def calibrate_gate(predictor: NnunetPredictor, entries: list[DatalistEntry], tracer: Tracer,
                   progress: Callable[[Iterable], Iterable] | None = None) -> dict[str, Any]:
    """Run every window on the held-out studies of `tracer`, choose the gate and the anatomy step, store them in the
    model folder."""
    if not entries:
        raise PetsegError("the split holds no study: choose held-out studies with --split (e.g. testing or fold:0)")
    missing = [e.case for e in entries if e.label is None]
    if missing:
        raise PetsegError(f"calibration needs ground truth; no label for {', '.join(missing[:5])}")
    cases, lesions = [], False
    for entry in (progress or iter)(entries):
        study = load_study(entry.pet, entry.ct, entry.label, ct_optional=True, tracer=tracer.name)
        run = predictor.run(study, 0.0, predictor.keep_probability)
        mask = predictor.decided(run) > 0
        final = predictor.postprocessed(mask.astype(np.uint8)) > 0
        truth = study.label.array > 0  # type: ignore[union-attr]
        lesions = lesions or bool(truth.any())
        cleaned = remove_physiology(final, study.suv, physiology(study)).mask
        safe = {core: study_safe_gate(predictor, study, run, mask, core, tracer.gate_ceiling_suv)
                for core in (True, False)}
        cases.append({"case": entry.case, "gate_suv_core": safe[True], "gate_suv_window": safe[False],
                      "windows": run.windows.total, **_scores(truth, final, study.suv.voxel_ml),
                      **_scores(truth, cleaned, study.suv.voxel_ml, "anatomy_")})
    core, gate = core_or_window({True: min(c["gate_suv_core"] for c in cases),
                                 False: min(c["gate_suv_window"] for c in cases)}, tracer.gate_ceiling_suv)
    gate = gate if lesions else None  # no held-out lesion says nothing
    result = {"key": predictor.calibration_key(), "model": predictor.folder.description, "tracer": tracer.name,
              "rule": "argmax" if predictor.options.threshold is None else f"threshold {predictor.options.threshold}",
              "mirroring": predictor.describe_mirroring(), "gate_suv": gate, "gate_core": core,
              "anatomy": {"min_fraction": DEFAULT_FRACTION} if _anatomy_helps(cases) else None, "cases": cases}
    kept = [e for e in _entries(predictor.folder) if e.get("key") != result["key"]]
    write_json_atomic(predictor.folder.path / CALIBRATION, {"calibrations": [*kept, result]})
    return result
