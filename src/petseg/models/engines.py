"""Where a sliding window's network runs on a CPU: OpenVINO when it is installed (`pip install petseg[cpu-fast]`),
else eager PyTorch.

OpenVINO's CPU plugin runs the seed networks' 96^3 windows 1.3-2x faster than PyTorch at the same precision
(bfloat16 on CPUs that have it natively, else float32; `bench/engines.py`, docs/benchmarks.md). The network, with
its output turned into the lesion probability, is converted once per model folder (traced; exported by
`torch.export` where the traced conversion cannot run the window) and kept in the folder's
`.petseg-cache/` under a key of the weights' SHA-256, the window shape and the OpenVINO version: new weights (a
retrained or resumed model) make a new key, and the stale files are removed. A model folder that cannot be written
(read-only) is converted in memory for the run. Which engine runs is decided in `petseg.models.settings`
(`engine_for`): GPUs, and `engine="torch"`, run PyTorch.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from petseg.console import debug, info
from petseg.io.digest import file_sha256
from petseg.models.outputs import main_output, probability
from petseg.models.settings import WindowSettings

CACHE = ".petseg-cache"  # in the model folder


class ProbabilityGraph(nn.Module):
    """A network followed by its lesion probability (B, 1, ...): the graph OpenVINO runs."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return probability(main_output(self.network(x)))


def cache_key(weights: Path, channels: int, roi_zyx: tuple[int, ...]) -> str:
    """The converted model's name: weights, input shape and OpenVINO version."""
    import openvino

    shape = "x".join(str(s) for s in (channels, *roi_zyx))
    version = openvino.get_version().split("-")[0]
    return f"openvino-{file_sha256(weights)[:20]}-{shape}-{version}"


CONVERTERS = ("trace", "export")  # tried in turn until the converted network runs the window


def converted_model(build: Callable[[], nn.Module], weights: Path, channels: int, roi_zyx: tuple[int, ...],
                    converter: str = "trace") -> Any:
    """The OpenVINO model of the network `build()` makes (weights from the file `weights`) for (1, channels, *roi)
    windows: read from the model folder's cache (the network is not built), else converted through `converter`
    (`torch.jit.trace`, or `torch.export`, which keeps the shape arithmetic a trace freezes: Swin-UNETR's window
    padding traced at 64^3 gives OpenVINO an empty output) and cached there (stale conversions removed)."""
    import openvino as ov

    folder = weights.parent / CACHE
    key = cache_key(weights, channels, roi_zyx)
    xml = folder / f"{key}.xml"
    if xml.is_file() and xml.with_suffix(".bin").is_file():
        debug(f"OpenVINO model from the cache: {xml}")
        return ov.Core().read_model(xml)
    example = torch.zeros(1, channels, *roi_zyx)
    graph = ProbabilityGraph(build()).eval()
    with torch.no_grad():
        if converter == "export":
            model = ov.convert_model(torch.export.export(graph, (example,)))
        else:  # traced once, without torch's re-run check (it doubles a large network's conversion)
            model = ov.convert_model(torch.jit.trace(graph, example, check_trace=False), example_input=example)
    try:
        store(model, folder, key)
    except OSError as error:
        info(f"the OpenVINO model is not cached ({folder}: {error.strerror or error}); converted for this run")
    return model


def store(model: Any, folder: Path, key: str) -> None:
    """Save `model` as `folder/key.{xml,bin}` atomically (the .bin first: a reader checks both), removing the
    conversions of other weights or shapes."""
    import openvino as ov

    folder.mkdir(exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder))
    try:
        ov.save_model(model, staging / f"{key}.xml", compress_to_fp16=False)
        for suffix in (".bin", ".xml"):
            os.replace(staging / f"{key}{suffix}", folder / f"{key}{suffix}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for stale in folder.glob("openvino-*"):
        if stale.stem != key:
            stale.unlink(missing_ok=True)


def openvino_predictor(build: Callable[[], nn.Module], weights: Path, channels: int, settings: WindowSettings
                       ) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """(B, C, *roi) -> lesion probability (B, 1, *roi) by OpenVINO, averaged over the settings' flips, at the
    settings' precision (bfloat16 or float32), on torch's CPU threads. A conversion that fails on a window of the
    right shape is removed from the cache and the next of `CONVERTERS` tried; None when none runs: the caller runs
    PyTorch instead."""
    import openvino as ov

    config = {"INFERENCE_PRECISION_HINT": "bf16" if settings.dtype is torch.bfloat16 else "f32",
              "INFERENCE_NUM_THREADS": torch.get_num_threads(), "PERFORMANCE_HINT": "LATENCY"}
    for converter in CONVERTERS:
        model = converted_model(build, weights, channels, settings.roi_zyx, converter)
        request = ov.Core().compile_model(model, "CPU", config).create_infer_request()

        def run(window: np.ndarray, request: Any = request) -> np.ndarray:
            return np.array(request.infer({0: np.ascontiguousarray(window)})[0])

        try:
            if run(np.zeros((1, channels, *settings.roi_zyx), np.float32)).shape == (1, 1, *settings.roi_zyx):
                break
        except RuntimeError:
            pass
        debug(f"the OpenVINO model converted by {converter} cannot run a {settings.roi_zyx} window")
        for stale in (weights.parent / CACHE).glob(f"{cache_key(weights, channels, settings.roi_zyx)}.*"):
            stale.unlink(missing_ok=True)
    else:
        return None

    def predict(batch: torch.Tensor) -> torch.Tensor:
        images = batch.numpy()
        total = np.zeros((images.shape[0], 1, *images.shape[2:]), np.float32)
        for axes in settings.flips:
            dims = tuple(2 + a for a in axes)
            for index in range(images.shape[0]):
                window = images[index:index + 1]
                output = run(np.flip(window, dims) if dims else window)
                total[index:index + 1] += np.flip(output, dims) if dims else output
        return torch.from_numpy(total / len(settings.flips))

    return predict
