"""An nnU-Net v2 model folder as a petseg predictor: `.predict(study)` and `.describe(prediction)` as
`petseg.infer.predictor.Predictor` has them, so `petseg segment/predict --model`, lesions.json, the report,
DICOM-SEG, cohorts and shards take either.

Per study: the model's channels from the study (`channels`), nnunetv2's preprocessing (crop, resampling,
normalisation from plans.json), nnunetv2's sliding window with petseg's window gate inside it (`gated`), the folds'
logits averaged, nnunetv2's export back to the PET grid (argmax, or with `--threshold` the lesion probability
against it), nnU-Net's postprocessing.pkl. Settings: tile step = 1 - `--overlap` (nnU-Net's 0.5 by default);
mirroring = the checkpoint's axes unless `--tta` names others; precision = nnU-Net's (fp16 autocast on CUDA, fp32
on CPUs; `--bf16` asks for bfloat16 on CPUs); the window gate = `window_gate` (`--gate-suv`, else the gate
`petseg calibrate` chose for these folds up to the tracer's ceiling, else the tracer's), on whole windows unless
the calibration chose windows' cores (`gate_core`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from petseg.data.study import Study
from petseg.device import pick_device, precision, use_threads
from petseg.errors import PetsegError
from petseg.infer.anatomy import Removed, anatomy_step, step_fraction
from petseg.io.images import Volume
from petseg.models.settings import InferenceOptions, window_gate, window_gate_core
from petseg.models.windows import WindowCount
from petseg.nnunet.calibrate import load_calibration
from petseg.nnunet.channels import channel_kinds, model_inputs
from petseg.nnunet.folder import NnunetOptions, open_folder
from petseg.nnunet.runtime import load_postprocessing, nnunetv2_version, require_nnunetv2

NNUNET_STEP = 0.5  # nnU-Net's default tile step (window overlap 0.5)


def _plain(value: Any) -> Any:
    """JSON for numpy scalars and tuples in nnU-Net's post-processing arguments."""
    return value.item() if hasattr(value, "item") else str(value)


@dataclass
class NnunetRun:
    """One study through nnU-Net: the label map (PET grid, before post-processing), the lesion probability when
    asked for, the windows, and what the preprocessing did (for the gate's calibration)."""

    segmentation: np.ndarray
    probability: np.ndarray | None
    windows: WindowCount
    properties: dict[str, Any]
    network_shape: tuple[int, ...]


@dataclass
class NnunetPrediction:
    """The mask on the PET grid and how it was reached (the fields `Prediction` has that apply)."""

    mask: Volume
    seconds: float
    windows: WindowCount
    gate_suv: float
    probability: Volume | None = None  # the lesion probability, when a threshold or probabilities were asked for
    removed: Removed | None = None  # the anatomy step's removed components, when it ran


class NnunetPredictor:
    """One nnU-Net model folder (or zip), its folds averaged as nnU-Net averages them."""

    def __init__(self, model: str | Path, options: InferenceOptions | None = None,
                 nnunet: NnunetOptions | None = None, probabilities: bool = False) -> None:
        self.options = options or InferenceOptions()
        if self.options.ensemble != "mean":
            raise PetsegError("nnU-Net averages its folds' logits; --ensemble vote applies to petseg models only")
        if self.options.suv_outline:
            raise PetsegError("--suv-outline applies to petseg models only; for an nnU-Net model, --anatomy removes "
                              "its components lying in recognised physiology")
        self.folder = open_folder(model, nnunet)
        self.kinds = channel_kinds(self.folder.dataset_json)
        require_nnunetv2()
        from petseg.nnunet.loading import build_predictor

        self.device = pick_device(self.options.device)
        if self.device.type == "cpu":
            use_threads(self.options.threads)
        dtype = precision(self.device, True, bool(self.options.bf16)) if self.device.type == "cpu" else None
        step = 1.0 - self.options.overlap if self.options.overlap is not None else NNUNET_STEP
        self.runner = build_predictor(self.folder, self.device, step, dtype,
                                      (nnunet or NnunetOptions()).mirror_axes)
        self.keep_probability = probabilities or self.options.threshold is not None
        pp_file = self.folder.postprocessing_file()
        self.postprocessing = (pp_file, *load_postprocessing(pp_file)) if pp_file is not None else None
        calibration = load_calibration(self.folder, self.calibration_key())
        self.calibrated_gate = calibration.get("gate_suv")
        self.calibrated_core = bool(calibration.get("gate_core", False))  # earlier calibrations gated whole windows
        self.anatomy = step_fraction(calibration.get("anatomy"), self.options.anatomy)

    def calibration_key(self) -> dict[str, Any]:
        """What a calibrated gate holds for: these folds and checkpoint, windows placed at this tile step."""
        return {"folds": list(self.folder.folds), "checkpoint": self.folder.checkpoint,
                "tile_step_size": self.runner.tile_step_size}

    def window_gate(self, study: Study) -> float:
        """The window gate SUV on `study`: `--gate-suv`, else the calibrated one up to the tracer's ceiling, else the
        tracer's default (`petseg.models.settings.window_gate`)."""
        return window_gate(self.options.gate_suv, self.calibrated_gate, study.tracer)

    def gate_core(self) -> bool:
        """Whether windows are gated on their cores (`petseg.models.settings.window_gate_core`): whole windows by
        default, whose skips keep nnU-Net's mask wherever the network says background in windows without uptake
        (see `gated`); the core as asked, or where `petseg calibrate` found the held-out masks agree."""
        return window_gate_core(self.options, self.calibrated_gate, self.calibrated_core, False)

    def run(self, study: Study, gate_suv: float, probability: bool = False, core: bool | None = None) -> NnunetRun:
        """The study through nnunetv2 with the window gate `gate_suv` (0: every window, nnU-Net's result) on windows'
        cores (`core`; None: `gate_core()`) or whole windows."""
        from nnunetv2.inference.export_prediction import convert_predicted_logits_to_segmentation_with_correct_shape

        from petseg.nnunet.gated import to_network_grid

        runner = self.runner
        image = model_inputs(study, self.kinds)
        preprocessor = runner.configuration_manager.preprocessor_class(verbose=False)
        data, _, properties = preprocessor.run_case_npy(image, None, {"spacing": list(study.suv.spacing_zyx)},
                                                        runner.plans_manager, runner.configuration_manager,
                                                        runner.dataset_json)
        runner.gate_core = self.gate_core() if core is None else core
        runner.gate_mask = None if gate_suv <= 0 else to_network_grid(
            study.suv.array >= gate_suv, properties, list(runner.plans_manager.transpose_forward), data.shape[1:],
            widen=not runner.gate_core)
        runner.windows_total = runner.windows_run = 0
        try:
            tensor = torch.from_numpy(data).to(dtype=torch.float32, memory_format=torch.contiguous_format)
            logits = runner.predict_logits_from_preprocessed_data(tensor).cpu()
        finally:
            runner.gate_mask = None
        exported = convert_predicted_logits_to_segmentation_with_correct_shape(
            logits, runner.plans_manager, runner.configuration_manager, runner.label_manager, properties,
            return_probabilities=probability, num_threads_torch=torch.get_num_threads())
        segmentation, lesion = (exported[0], self._lesion_probability(exported[1])) if probability else (exported, None)
        return NnunetRun(segmentation, lesion, WindowCount(runner.windows_total, runner.windows_run), properties,
                         tuple(data.shape[1:]))

    def _lesion_probability(self, probabilities: np.ndarray) -> np.ndarray:
        """Probability of any lesion class or region (softmax: 1 - background)."""
        if self.runner.label_manager.has_regions:
            return probabilities.max(axis=0).astype(np.float32)
        return (1.0 - probabilities[0]).astype(np.float32)

    def decided(self, run: NnunetRun) -> np.ndarray:
        """The label map of a run under the decision rule: nnU-Net's argmax, or `--threshold` on the lesion
        probability (before post-processing)."""
        if self.options.threshold is None:
            return np.asarray(run.segmentation)
        return (run.probability >= self.options.threshold).astype(np.uint8)  # type: ignore[operator]

    def postprocessed(self, segmentation: np.ndarray) -> np.ndarray:
        """nnU-Net's post-processing (postprocessing.pkl) of a label map, where the model folder has one."""
        if self.postprocessing is None:
            return segmentation
        from nnunetv2.postprocessing.remove_connected_components import apply_postprocessing

        return np.asarray(apply_postprocessing(segmentation, *self.postprocessing[1:]))

    def predict(self, study: Study) -> NnunetPrediction:
        """The lesion mask of one study on its PET grid."""
        start = time.perf_counter()
        gate_suv = self.window_gate(study)
        result = self.run(study, gate_suv, self.keep_probability)
        segmentation = self.postprocessed(self.decided(result))
        probability = study.suv.with_array(result.probability) if result.probability is not None else None
        steps = {"anatomy": {"min_fraction": self.anatomy}} if self.anatomy is not None else {}
        mask, removed = anatomy_step(study.suv.with_array((segmentation > 0).astype(np.uint8)), study, steps)
        return NnunetPrediction(mask, time.perf_counter() - start, result.windows, gate_suv, probability, removed)

    def describe_mirroring(self) -> str:
        """The mirroring axes run, named as --tta names them ('' for none)."""
        from petseg.nnunet.loading import mirroring_letters

        return mirroring_letters(self.runner)

    def describe(self, prediction: NnunetPrediction) -> dict[str, Any]:
        """lesions.json's `method`: the model, folds, inputs, settings, windows, the gate and the anatomy step."""
        folder, runner = self.folder, self.runner
        pp = self.postprocessing
        anatomy = {"anatomy": {"min_fraction": self.anatomy}} if self.anatomy is not None else {}
        if prediction.removed is not None:
            anatomy["suppressed"] = prediction.removed.items
        return {"name": "nnunet", "description": folder.description, "model": str(folder.source),
                "model_folder": str(folder.path), "dataset": folder.dataset, "configuration": folder.configuration,
                "trainer": runner.trainer_name, "folds": list(folder.folds), "checkpoint": folder.checkpoint,
                "channels": [name for _, name in self.kinds], "mirroring": self.describe_mirroring(),
                "tile_step_size": runner.tile_step_size,
                "precision": "bfloat16" if runner.autocast_dtype is not None else (
                    "float16 autocast" if self.device.type == "cuda" else "float32"),
                "threshold": self.options.threshold, "rule": "argmax" if self.options.threshold is None else
                "lesion probability >= threshold",
                "postprocessing": None if pp is None else {"file": str(pp[0]), "functions": [f.__name__ for f in pp[1]],
                                                            "kwargs": json.loads(json.dumps(pp[2], default=_plain))},
                "windows": prediction.windows.as_dict(), "gate_suv": prediction.gate_suv,
                "gate_region": "core" if self.gate_core() else "window",
                "gate_source": "command line" if self.options.gate_suv is not None else
                "calibration" if self.calibrated_gate is not None else "tracer default",
                "nnunetv2": nnunetv2_version(), **anatomy}
