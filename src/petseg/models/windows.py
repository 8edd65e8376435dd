"""Gaussian sliding-window inference by MONAI's `sliding_window_inference`, running only the windows that
can hold a lesion.

MONAI places the windows, pads, weights them with its Gaussian importance map and stitches. In a whole-body
PET most windows hold air or tissue without uptake, where a lesion cannot be: the uptake gate (voxels at or
above the gate SUV, see `petseg.infer.settings`) travels with the image as one extra input channel, so MONAI
pads and crops it with the image, and the wrapped predictor runs the network only on the windows whose gate
channel holds an active voxel. A skipped window returns probability 0: it counts as a window that predicted
background, its weight still enters MONAI's normaliser. The result is MONAI's wherever the network would have
predicted background in the skipped windows (tested against plain MONAI; benchmarked in `bench/inference.py`).

Probabilities are blended, not logits, so that ensembles, test-time flips and skipped windows average on one
scale. This one function serves `petseg predict`, `segment --model`, `calibrate` and validation in training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from petseg.models.outputs import main_output, probability
from petseg.models.settings import WindowSettings

WindowPredictor = Callable[[torch.Tensor], torch.Tensor]  # (B, C, *roi) -> probabilities (B, 1, *roi)


@dataclass(frozen=True)
class WindowCount:
    """Windows placed and windows run (summed over models with +)."""

    total: int = 0
    run: int = 0

    def __add__(self, other: WindowCount) -> WindowCount:
        return WindowCount(self.total + other.total, self.run + other.run)

    def as_dict(self) -> dict[str, int]:
        """For JSON: {"windows", "run"}."""
        return {"windows": self.total, "run": self.run}


def network_predictor(network: nn.Module, settings: WindowSettings) -> WindowPredictor:
    """(B, C, *roi) -> lesion probability (B, 1, *roi), averaged over the settings' flips, in its precision."""
    dtype = settings.dtype

    @torch.no_grad()  # not inference_mode: MONAI's sliding window edits the outputs in place
    def predict(batch: torch.Tensor) -> torch.Tensor:
        if settings.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last_3d)
        total = None
        for axes in settings.flips:
            dims = [2 + a for a in axes]
            inputs = batch.flip(dims) if dims else batch
            with torch.autocast(batch.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                output = probability(main_output(network(inputs)))
            output = output.flip(dims) if dims else output
            total = output if total is None else total + output
        return total / len(settings.flips)

    return predict


def uptake_gate(suv: np.ndarray, gate_suv: float) -> np.ndarray | None:
    """Voxels at or above `gate_suv`: where a lesion can be (None: no gate). Conservative by design (under any
    lesion's SUVmax of the tracer: a skipped lesion is lost)."""
    return None if gate_suv <= 0 else np.asarray(suv) >= gate_suv


def stitch_device(device: torch.device, shape_zyx: tuple[int, ...]) -> torch.device:
    """Stitch on the GPU when it has room for the output and the weights (x3 for headroom), else on the CPU."""
    if device.type != "cuda":
        return device
    free, _ = torch.cuda.mem_get_info(device)
    return device if free > 3 * 2 * 4 * int(np.prod(shape_zyx)) else torch.device("cpu")


def sliding_probability(predict: WindowPredictor, image: np.ndarray, settings: WindowSettings,
                        active: np.ndarray | None, device: torch.device) -> tuple[np.ndarray, WindowCount]:
    """Lesion probability (z, y, x) float32 of `image` (C, z, y, x) and the windows placed and run.

    `active` (z, y, x) bool marks where a lesion may be (None: every window runs)."""
    from monai.inferers import sliding_window_inference

    tensor = torch.from_numpy(np.require(image, np.float32, ["C_CONTIGUOUS", "WRITEABLE"]))[None]
    if active is not None:
        tensor = torch.cat([tensor, torch.from_numpy(np.asarray(active, dtype=np.float32))[None, None]], dim=1)
    counts = {"total": 0, "run": 0}
    background: dict[tuple[int, ...], torch.Tensor] = {}  # one zero output per shape: MONAI only scales it in place

    def gated(windows: torch.Tensor) -> torch.Tensor:
        counts["total"] += windows.shape[0]
        if active is None:
            counts["run"] += windows.shape[0]
            return predict(windows)
        run = windows[:, -1].amax(dim=(1, 2, 3)) > 0
        shape = (windows.shape[0], 1, *windows.shape[2:])
        if not run.any():
            if shape not in background:
                background[shape] = torch.zeros(shape, dtype=torch.float32, device=windows.device)
            return background[shape]
        counts["run"] += int(run.sum())
        if bool(run.all()):
            return predict(windows[:, :-1]).float()
        output = torch.zeros(shape, dtype=torch.float32, device=windows.device)
        output[run] = predict(windows[run, :-1]).float()
        return output

    output = sliding_window_inference(tensor, settings.roi_zyx, settings.batch_size, gated, settings.overlap,
                                      mode="gaussian", sw_device=device,
                                      device=stitch_device(device, tuple(image.shape[1:])),
                                      progress=settings.progress)
    return output[0, 0].float().cpu().numpy(), WindowCount(counts["total"], counts["run"])


def window_coverage(active: np.ndarray, settings: WindowSettings) -> tuple[np.ndarray, np.ndarray]:
    """bool (z, y, x) pair: the voxels some window that runs covers (a window holding an `active` voxel), and the
    voxels some skipped window covers, for the windows MONAI places with these settings. A voxel that no skipped
    window covers gets exactly MONAI's probability from the gated sliding window; one that no running window
    covers gets 0."""
    from monai.inferers import sliding_window_inference

    def flags(windows: torch.Tensor) -> torch.Tensor:
        ran = (windows.amax(dim=(1, 2, 3, 4)) > 0).float()[:, None, None, None, None]
        ones = torch.ones((1, 1, *windows.shape[2:]))
        return torch.cat([ran * ones, (1 - ran) * ones], dim=1)

    tensor = torch.from_numpy(np.asarray(active, dtype=np.float32))[None, None]
    output = sliding_window_inference(tensor, settings.roi_zyx, settings.batch_size, flags, settings.overlap)
    return output[0, 0].numpy() > 0, output[0, 1].numpy() > 0
