"""Model folders -> lesion probability and mask of one study, on the study's PET grid.

One or more model folders (folds, recipes) form an ensemble: each model runs the gated Gaussian sliding
window (`petseg.infer.sliding`) on its own preprocessing of the study, with test-time flips, and its
probability map is resampled back to the PET grid before the models are combined (mean probability, or
a majority vote of the models' own masks). The ensemble's threshold and post-processing come from its
calibration (`petseg calibrate`), else the models' thresholds. A MIP classifier (seed 002) may gate the
study: a study it calls negative gets an empty mask without segmentation. A cascade (seed 003) runs the
stage-1 models first and gives their mask to the stage-2 models as an input channel.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
import torch

from petseg.console import debug, track
from petseg.data.study import Study, resample_onto
from petseg.device import cpu_supports_bf16, pick_device
from petseg.errors import PetsegError
from petseg.infer.models import ModelFolder, load_calibration, load_model_folder
from petseg.infer.postprocess import apply_postprocessing
from petseg.infer.sliding import sliding_window, uptake_gate
from petseg.io.images import Volume
from petseg.preprocess import preprocess_study
from petseg.train.step import main_output
from petseg.train.validation import probability

DEFAULT_GATE_SUV = {"fdg": 1.5, "psma": 1.0}  # under any lesion's SUVmax: the gate must never lose one


@dataclass
class InferenceOptions:
    """How to run the models (None: the recipe's or the calibration's value)."""

    device: str = "auto"
    overlap: float | None = None
    batch_size: int = 2
    flips: Sequence[Sequence[int]] = ((),)  # each entry: array axes (0 z, 1 y, 2 x) flipped together
    ensemble: str = "mean"  # or "vote"
    gate_suv: float | None = None  # None: by tracer; <= 0: no window skipping
    bf16: bool = False  # CPU bfloat16 autocast (only where the CPU has it natively)
    threshold: float | None = None
    progress: bool = True


@dataclass
class Prediction:
    """The ensemble's output on the PET grid."""

    probability: Volume
    mask: Volume
    threshold: float
    seconds: float
    windows: dict[str, int] = field(default_factory=dict)
    gate: dict[str, Any] | None = None  # the MIP classifier's verdict when one was used


def flip_sets(axes: Sequence[int]) -> list[tuple[int, ...]]:
    """All combinations of flips over `axes` (nnU-Net's mirroring): 2^len(axes) passes, identity first."""
    axes = sorted(set(int(a) for a in axes))
    if any(a not in (0, 1, 2) for a in axes):
        raise PetsegError(f"flip axes are 0 (z), 1 (y) and 2 (x), got {axes}")
    return [combo for n in range(len(axes) + 1) for combo in itertools.combinations(axes, n)]


def window_predictor(network: torch.nn.Module, flips: Sequence[Sequence[int]], dtype: torch.dtype | None,
                     channels_last: bool = False):
    """(B, C, *roi) -> lesion probability (B, 1, *roi), averaged over the flips (`channels_last`: the batch
    in channels-last-3d memory order, which pays off with bfloat16 on CPUs)."""

    @torch.no_grad()  # not inference_mode: MONAI's sliding window (the reference) edits the outputs in place
    def predict(batch: torch.Tensor) -> torch.Tensor:
        total = None
        if channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last_3d)
        for axes in flips:
            dims = [2 + a for a in axes]
            inputs = batch.flip(dims) if dims else batch
            with torch.autocast(batch.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                output = probability(main_output(network(inputs)))
            output = output.flip(dims) if dims else output
            total = output if total is None else total + output
        return total / len(flips)

    return predict


class Predictor:
    """An ensemble of model folders (segmentation models of stage 1 and 2, at most one MIP classifier)."""

    def __init__(self, folders: Sequence[str | Path], options: InferenceOptions | None = None) -> None:
        if not folders:
            raise PetsegError("give at least one model folder (--model RUN)")
        self.options = options or InferenceOptions()
        self.device = pick_device(self.options.device)
        loaded = [load_model_folder(folder, self.device) for folder in folders]
        classifiers = [m for m in loaded if m.task == "classification"]
        if len(classifiers) > 1:
            raise PetsegError("give at most one MIP classifier model folder")
        self.classifier = classifiers[0] if classifiers else None
        self.models = [m for m in loaded if m.task == "segmentation"]
        if not self.models:
            raise PetsegError("the model folders hold no segmentation model (only a classifier)")
        self.stage1 = [m for m in self.models if m.stage == 1]
        self.stage2 = [m for m in self.models if m.stage == 2]
        if self.stage2 and not self.stage1:
            raise PetsegError("a cascade's stage-2 model needs the stage-1 model folders too")
        if self.options.ensemble not in ("mean", "vote"):
            raise PetsegError(f"--ensemble is mean or vote, got {self.options.ensemble!r}")
        self.calibration = load_calibration(self.models)
        self.dtype = self._precision()
        self.channels_last = self.dtype is torch.bfloat16 and self.device.type == "cpu"
        if self.channels_last:
            for model in self.models:
                model.network.to(memory_format=torch.channels_last_3d)

    def _precision(self) -> torch.dtype | None:
        if self.device.type == "cuda":
            return torch.float16 if all(m.recipe.get("training", {}).get("amp", True) for m in self.models) else None
        if self.options.bf16:
            if cpu_supports_bf16():
                return torch.bfloat16
            debug("this CPU has no native bfloat16: inference in float32")
        return None

    def threshold(self) -> float:
        """The ensemble's threshold: asked for, else calibrated, else the models' (0.5 for a vote)."""
        if self.options.threshold is not None:
            return float(self.options.threshold)
        return self._settings(self.models, self.calibration)[0]

    def postprocessing(self) -> dict[str, Any]:
        """The calibrated post-processing chain (empty: none)."""
        return self._settings(self.models, self.calibration)[1]

    def _settings(self, models: list[ModelFolder], calibration: dict[str, Any] | None
                  ) -> tuple[float, dict[str, Any]]:
        """(threshold, post-processing) of a group of models: its calibration, else the models' own."""
        if calibration is not None:
            return float(calibration["threshold"]), dict(calibration.get("postprocess", {}))
        if self.options.ensemble == "vote":
            return 0.5, {}
        return float(np.mean([m.threshold for m in models])), {}

    def _mask(self, prob: np.ndarray, suv: Volume, threshold: float, steps: dict[str, Any]) -> Volume:
        return suv.with_array(apply_postprocessing(prob >= threshold, prob, suv, steps).astype(np.uint8))

    # -- one study --------------------------------------------------------------------------------------
    def predict(self, study: Study, tracer: str = "fdg") -> Prediction:
        """Probability, thresholded and post-processed mask of one study, on its PET grid."""
        start = time.perf_counter()
        gate = self.classify(study) if self.classifier is not None else None
        if gate is not None and not gate["positive"]:
            empty = np.zeros(study.suv.shape, np.float32)
            return Prediction(study.suv.with_array(empty), study.suv.with_array(empty.astype(np.uint8)),
                              self.threshold(), time.perf_counter() - start, {"windows": 0, "run": 0}, gate)
        windows = {"windows": 0, "run": 0}
        prob = self.probabilities(study, tracer, windows)
        threshold = self.threshold()
        mask = self._mask(prob, study.suv, threshold, self.postprocessing())
        return Prediction(study.suv.with_array(prob), mask, threshold, time.perf_counter() - start, windows, gate)

    def probabilities(self, study: Study, tracer: str = "fdg", windows: dict[str, int] | None = None) -> np.ndarray:
        """The ensemble's probability map on the PET grid (cascade included), before any threshold;
        `windows` counts the windows there were and the windows run."""
        windows = windows if windows is not None else {"windows": 0, "run": 0}
        prob = self._ensemble(self.stage1, study, tracer, {}, windows)
        if self.stage2:
            # The first stage's mask as the first stage alone would give it (its own calibration, if any).
            first = self._mask(prob, study.suv, *self._settings(self.stage1, load_calibration(self.stage1)))
            prob = self._ensemble(self.stage2, study, tracer, {"stage1": first}, windows)
        return prob

    def classify(self, study: Study) -> dict[str, Any]:
        """The MIP classifier's probability that the study holds a lesion, and its verdict at its threshold."""
        from petseg.models.classifier import coarse_suv, mip_input

        model = self.classifier
        size = tuple(model.recipe["network"]["input_size"])
        inputs = mip_input(coarse_suv(study.suv), size, float(model.recipe.get("suv_max", 10.0)))[None].to(self.device)
        with torch.inference_mode():
            value = float(torch.sigmoid(model.network(inputs).float()).flatten()[0])
        return {"probability": value, "threshold": model.threshold, "positive": value >= model.threshold}

    def _ensemble(self, models: list[ModelFolder], study: Study, tracer: str, extra: dict[str, Volume],
                  windows: dict[str, int]) -> np.ndarray:
        maps = []
        for model in models:
            prob = self._one_model(model, study, tracer, extra, windows)
            maps.append((prob >= model.threshold).astype(np.float32) if self.options.ensemble == "vote" else prob)
        return np.mean(maps, axis=0).astype(np.float32)

    def _one_model(self, model: ModelFolder, study: Study, tracer: str, extra: dict[str, Volume],
                   windows: dict[str, int]) -> np.ndarray:
        image, _, grid = preprocess_study(study, model.recipe, model.fingerprint, extra)
        gate_suv = self.options.gate_suv if self.options.gate_suv is not None else DEFAULT_GATE_SUV.get(tracer, 0.5)
        active = None
        if gate_suv > 0:
            suv = study.suv if grid.same_grid(study.suv) else resample_onto(study.suv, grid, sitk.sitkLinear, 0.0)
            active = uptake_gate(suv.array, gate_suv)
        inference = model.recipe.get("inference", {})
        roi = tuple(int(v) for v in inference.get("roi_size", model.recipe["training"]["patch_size"]))[::-1]
        overlap = self.options.overlap if self.options.overlap is not None else float(inference.get("overlap", 0.5))
        if active is not None and not active.any():  # no uptake anywhere: nothing can be a lesion
            return np.zeros(study.suv.shape, np.float32)
        tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
        predict = window_predictor(model.network, self.options.flips, self.dtype, self.channels_last)
        progress = (lambda batches: track(batches, f"{model.name}", total=len(batches))) \
            if self.options.progress else None
        output, counts = sliding_window(tensor, roi, predict, 1, overlap, self.options.batch_size, active,
                                        compute_on=self.device, accumulate_on=self._accumulator(tensor.shape),
                                        progress=progress)
        windows["windows"] += counts["windows"]
        windows["run"] += counts["run"]
        prob = output[0].cpu().numpy()
        if not grid.same_grid(study.suv):  # back to the PET grid
            prob = resample_onto(grid.with_array(prob), study.suv, sitk.sitkLinear, 0.0).array
        return np.clip(prob, 0.0, 1.0).astype(np.float32)

    def _accumulator(self, shape: tuple[int, ...]) -> torch.device:
        """Stitch on the GPU when it has room for the output and the weights (x3 for headroom), else on the CPU."""
        if self.device.type != "cuda":
            return self.device
        free, _ = torch.cuda.mem_get_info(self.device)
        needed = 3 * 2 * 4 * int(np.prod(shape[1:]))
        return self.device if free > needed else torch.device("cpu")
