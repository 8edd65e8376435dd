"""Model folders -> lesion probability and mask of one study, on the study's PET grid.

The predictor composes the parts: settings resolved per model (`settings`), MONAI's gated sliding window
(`windows`), the MIP classifier gate (`gate`), cascade stages (`cascade`), and the ensemble's threshold and
post-processing (`calibrate`). Each model runs on its own preprocessing of the study, with test-time flips;
its probability map is resampled back to the PET grid before the models are combined (mean probability, or a
majority vote of the models' own masks).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from petseg.console import info
from petseg.data.study import Study, resample_onto
from petseg.device import pick_device, ranks_on_this_machine, use_threads
from petseg.errors import PetsegError, PetsegWarning
from petseg.infer.anatomy import READING_STEPS, Removed, anatomy_step
from petseg.infer.calibrate import Decision, decide, decision_steps
from petseg.infer.cascade import Stages
from petseg.infer.gate import GateVerdict, classify, split_classifier
from petseg.infer.models import ModelFolder, load_model_folder
from petseg.infer.postprocess import apply_postprocessing, mask_before_reading
from petseg.io.images import Volume
from petseg.models.settings import InferenceOptions, WindowSettings, window_gate, window_gate_core
from petseg.models.traced import traced_predictor
from petseg.models.windows import WindowCount, WindowPredictor, network_predictor, sliding_probability, uptake_gate
from petseg.preprocess import preprocess_study


@dataclass
class Prediction:
    """The ensemble's output on the PET grid, and how it was reached."""

    probability: Volume
    mask: Volume
    decision: Decision
    seconds: float
    windows: WindowCount
    gate_suv: float  # the window gate the sliding windows ran at
    gate: GateVerdict | None = None  # the MIP classifier's verdict when one was used
    removed: Removed | None = None  # the anatomy step's removed components, when it ran


def decision_mask(probability: np.ndarray, suv: Volume, decision: Decision) -> Volume:
    """The uint8 mask of a probability map under a threshold and post-processing."""
    mask = apply_postprocessing(probability >= decision.threshold, probability, suv, decision.postprocess)
    return suv.with_array(mask.astype(np.uint8))


class Predictor:
    """An ensemble of model folders: segmentation models of stage 1 and 2, at most one MIP classifier."""

    def __init__(self, folders: Sequence[str | Path], options: InferenceOptions | None = None) -> None:
        if not folders:
            raise PetsegError("give at least one model folder (--model RUN)")
        self.options = options or InferenceOptions()
        self.device = pick_device(self.options.device)
        if self.device.type == "cpu":
            use_threads(self.options.threads, ranks_on_this_machine())  # torchrun's ranks share the CPUs
        self.classifier, self.models = split_classifier([load_model_folder(f, self.device) for f in folders])
        self.stages = Stages.of(self.models)
        self.decision = decide(self.models, self.options.ensemble, self.options.threshold)
        # A cascade's first-stage mask is the one the first stage alone would give (its own calibration).
        self.first_stage_decision = decide(self.stages.first, self.options.ensemble) if self.stages.second else None
        self._engines: dict[tuple, WindowPredictor] = {}  # each model's network as its engine runs it
        for model in self.models:  # loaded (or converted) now, as a MONAI script loads its network: not per study
            self._window_predictor(model, self.options.resolve(model.recipe, self.device, 0.0, model.parameters))

    def predict(self, study: Study) -> Prediction:
        """Probability, thresholded and post-processed mask of one study, on its PET grid."""
        start = time.perf_counter()
        self._check_tracer(study)
        gate_suv = self.window_gate(study)
        gate = classify(self.classifier, study, self.device) if self.classifier is not None else None
        if gate is not None and not gate.positive:
            empty = np.zeros(study.suv.shape, np.float32)
            return Prediction(study.suv.with_array(empty), study.suv.with_array(empty.astype(np.uint8)),
                              self.decision, time.perf_counter() - start, WindowCount(), gate_suv, gate)
        probability, windows = self.probabilities(study, gate_suv)
        steps = self.postprocess()
        mask = mask_before_reading(probability, study.suv, self.decision.threshold, steps)
        reading = {key: value for key, value in steps.items() if key in READING_STEPS}
        mask, removed = anatomy_step(study.suv.with_array(mask.astype(np.uint8)), study, reading, probability)
        return Prediction(study.suv.with_array(probability), mask, self.decision, time.perf_counter() - start,
                          windows, gate_suv, gate, removed)

    def _check_tracer(self, study: Study) -> None:
        """Warn when a model was trained on another tracer than the study's (it still runs)."""
        for model in self.models:
            if model.tracer is not None and model.tracer != study.tracer.name:
                warnings.warn(f"model {model.name} was trained on {model.tracer.upper()} studies and this study is "
                              f"{study.tracer.name.upper()}: its uptake patterns differ; read the result with care",
                              PetsegWarning, stacklevel=3)

    def postprocess(self) -> dict[str, Any]:
        """The post-processing run on each mask: as calibrated, the reading steps as asked (`decision_steps`)."""
        return decision_steps(self.decision, self.options.anatomy, self.options.suv_outline)

    def window_gate(self, study: Study) -> float:
        """The window gate SUV the ensemble runs at on `study`: `--gate-suv`, else the calibrated gate up to the
        study's tracer's ceiling, else the tracer's default; either up to the post-processing's SUV floor."""
        return window_gate(self.options.gate_suv, self.decision.gate_suv, study.tracer,
                           self.decision.postprocess.get("suv_floor"))

    def gate_core(self) -> bool:
        """Whether windows are gated on their cores (`petseg.models.settings.window_gate_core`; the core by default:
        a skipped window lowers a probability by at most its share of the weight)."""
        return window_gate_core(self.options, self.decision.gate_suv, self.decision.gate_core, True)

    def probabilities(self, study: Study, gate_suv: float) -> tuple[np.ndarray, WindowCount]:
        """The ensemble's probability map on the PET grid (cascade included), before any threshold, and the
        windows placed and run at the window gate `gate_suv` (0: every window, MONAI's result)."""
        probability, windows = self._ensemble(self.stages.first, study, {}, gate_suv)
        if self.stages.second:
            first = decision_mask(probability, study.suv, self.first_stage_decision)  # type: ignore[arg-type]
            probability, more = self._ensemble(self.stages.second, study, {"stage1": first}, gate_suv)
            windows += more
        return probability, windows

    def member_probability(self, model: ModelFolder, study: Study) -> np.ndarray:
        """One first-stage member's probability map on the PET grid, every window run (MONAI's result): its
        out-of-fold prediction where `study` lies in the fold it held out."""
        return self._ensemble([model], study, {}, 0.0)[0]

    def describe(self, prediction: Prediction) -> dict[str, Any]:
        """lesions.json's `method` for trained models: folders, recipes, threshold, post-processing, windows."""
        described = {"name": "model", "models": [str(m.path) for m in self.models],
                     "recipes": sorted({m.recipe.name for m in self.models}),
                     "threshold": prediction.decision.threshold, "threshold_source": prediction.decision.source,
                     "ensemble": self.options.ensemble, "flips": [list(f) for f in self.options.flips],
                     "postprocess": self.postprocess(), "windows": prediction.windows.as_dict(),
                     "gate_suv": prediction.gate_suv, "gate_region": "core" if self.gate_core() else "window"}
        if prediction.gate is not None:
            described["gate"] = prediction.gate.as_dict()
        if prediction.removed is not None:
            described["suppressed"] = prediction.removed.items
        return described

    def _ensemble(self, models: list[ModelFolder], study: Study, inputs: dict[str, Volume], gate_suv: float
                  ) -> tuple[np.ndarray, WindowCount]:
        maps, windows = [], WindowCount()
        for model in models:
            probability, count = self._one_model(model, study, inputs, gate_suv)
            windows += count
            maps.append((probability >= model.threshold).astype(np.float32) if self.options.ensemble == "vote"
                        else probability)
        return np.mean(maps, axis=0).astype(np.float32), windows

    def _one_model(self, model: ModelFolder, study: Study, inputs: dict[str, Volume], gate_suv: float
                   ) -> tuple[np.ndarray, WindowCount]:
        settings = replace(self.options.resolve(model.recipe, self.device, gate_suv, model.parameters),
                           gate_core=self.gate_core())
        prepared = preprocess_study(study, model.recipe, model.fingerprint, inputs)
        active = uptake_gate(prepared.suv, settings.gate_suv)
        if active is not None and not active.any():  # no uptake anywhere: nothing can be a lesion
            return np.zeros(study.suv.shape, np.float32), WindowCount()
        probability, windows = sliding_probability(self._window_predictor(model, settings), prepared.image,
                                                   settings, active, self.device)
        if not prepared.grid.same_grid(study.suv):  # back to the PET grid
            probability = resample_onto(prepared.grid.with_array(probability), study.suv, sitk.sitkLinear, 0.0).array
        return np.clip(probability, 0.0, 1.0).astype(np.float32), windows

    def _window_predictor(self, model: ModelFolder, settings: WindowSettings) -> WindowPredictor:
        """The network of `model` as the settings' engine runs it (OpenVINO: converted and compiled once; PyTorch
        on a CPU: its cached trace), once per model and settings."""
        key = (model.path, settings.roi_zyx, settings.dtype, settings.flips, settings.engine)
        if key in self._engines:
            return self._engines[key]
        if settings.engine != "openvino" and self.device.type == "cpu":
            self._engines[key] = traced_predictor(lambda: model.network, model.weights, len(model.recipe.inputs),
                                                  settings)
        elif settings.engine != "openvino":
            self._engines[key] = network_predictor(model.network, settings)
        else:
            from petseg.models.engines import openvino_predictor

            converted = openvino_predictor(lambda: model.network, model.weights, len(model.recipe.inputs),
                                           settings)
            if converted is None:
                info(f"OpenVINO cannot run {model.name}'s network at {settings.roi_zyx}; running it in PyTorch")
                converted = self._window_predictor(model, replace(settings, engine="torch"))
            self._engines[key] = converted
        return self._engines[key]
