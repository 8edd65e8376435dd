"""Gaussian sliding-window inference by MONAI's `sliding_window_inference`, running only the windows that
can hold a lesion.

MONAI places the windows, pads, weights them with its Gaussian importance map and stitches. In a whole-body
PET most windows hold air or tissue without uptake, where a lesion cannot be: the wrapped predictor (given each
window's place by MONAI) runs the network only on the windows whose *core* holds an active voxel (at or above
the gate SUV, see `petseg.models.settings`). A window's core is the window less half the overlap on its inner
faces: the cores of MONAI's windows tile the volume, and within its core a window weighs most, so every active
voxel lies in the core of a window that runs (`gate_core: False` gates on the whole window instead). A skipped
window returns probability 0: it counts as a window that predicted background, its weight still enters MONAI's
normaliser, so it lowers the probability where it overlaps a running window by at most its share of the weight
there (`window_coverage`, which `petseg calibrate` uses to choose a gate that keeps held-out masks MONAI's).

Probabilities are blended, not logits, so that ensembles, test-time flips and skipped windows average on one
scale. This one function serves `petseg predict`, `segment --model`, `calibrate` and validation in training.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def monai_padding(shape_zyx: tuple[int, ...], roi_zyx: tuple[int, ...]) -> list[tuple[int, int]]:
    """(before, after) per axis: how MONAI's sliding window pads an image smaller than the ROI."""
    return [(max(r - n, 0) // 2, max(r - n, 0) - max(r - n, 0) // 2) for n, r in zip(shape_zyx, roi_zyx, strict=True)]


def core_margins(shape_zyx: tuple[int, ...], settings: WindowSettings) -> tuple[int, ...]:
    """Per axis, how far a window's core stays from its faces inside the volume: half the overlap of neighbouring
    windows (MONAI's scan interval), so the cores of MONAI's windows tile the volume (`window_core`)."""
    margins = []
    for size, roi in zip(shape_zyx, settings.roi_zyx, strict=True):
        step = roi if roi >= size else max(int(roi * (1 - settings.overlap)), 1)
        margins.append((roi - step) // 2 if settings.gate_core else 0)
    return tuple(margins)


def window_core(window: Sequence[slice], shape_zyx: tuple[int, ...], margins: tuple[int, ...]) -> tuple[slice, ...]:
    """The core of a window (index slices of the padded volume): the window less `margins` on each face that is
    not the volume's edge. Neighbouring windows lie a scan interval apart, so every voxel lies in the core of a
    window that weighs it at least as much as any other window does (the Gaussian peaks at the centre)."""
    return tuple(slice(0 if s.start <= 0 else s.start + m, n if s.stop >= n else s.stop - m)
                 for s, n, m in zip(window, shape_zyx, margins, strict=True))


def sliding_probability(predict: WindowPredictor, image: np.ndarray, settings: WindowSettings,
                        active: np.ndarray | None, device: torch.device) -> tuple[np.ndarray, WindowCount]:
    """Lesion probability (z, y, x) float32 of `image` (C, z, y, x) and the windows placed and run.

    `active` (z, y, x) bool marks where a lesion may be (None: every window runs); a window runs when its core
    holds an active voxel (`settings.gate_core`; else anywhere in the window)."""
    from monai.inferers import sliding_window_inference

    tensor = torch.from_numpy(np.require(image, np.float32, ["C_CONTIGUOUS", "WRITEABLE"]))[None]
    counts = {"total": 0, "run": 0}
    background: dict[tuple[int, ...], torch.Tensor] = {}  # one zero output per shape: MONAI only scales it in place
    padded = None if active is None else np.pad(active, monai_padding(active.shape, settings.roi_zyx))
    margins = core_margins(image.shape[1:], settings)

    def gated(windows: torch.Tensor, where: list[list[slice]]) -> torch.Tensor:
        counts["total"] += windows.shape[0]
        if padded is None:
            counts["run"] += windows.shape[0]
            return predict(windows)
        run = torch.tensor([bool(padded[window_core(w[2:], padded.shape, margins)].any()) for w in where])
        shape = (windows.shape[0], 1, *windows.shape[2:])
        if not run.any():
            if shape not in background:
                background[shape] = torch.zeros(shape, dtype=torch.float32, device=windows.device)
            return background[shape]
        counts["run"] += int(run.sum())
        if bool(run.all()):
            return predict(windows).float()
        output = torch.zeros(shape, dtype=torch.float32, device=windows.device)
        output[run] = predict(windows[run]).float()
        return output

    output = sliding_window_inference(tensor, settings.roi_zyx, settings.batch_size, gated, settings.overlap,
                                      mode="gaussian", sw_device=device,
                                      device=stitch_device(device, tuple(image.shape[1:])),
                                      progress=settings.progress, with_coord=True)
    return output[0, 0].float().cpu().numpy(), WindowCount(counts["total"], counts["run"])


def window_coverage(active: np.ndarray, settings: WindowSettings) -> tuple[np.ndarray, np.ndarray]:
    """For the windows MONAI places with these settings, gated by `active` (z, y, x) bool: (bool: the voxels in the
    core of a window that runs, float32: the skipped windows' share of the Gaussian weight at each voxel). Where
    the share is s, the gated probability lies between MONAI's p - s and p (skipping only lowers it); where it is
    0 the gated probability is MONAI's exactly."""
    from monai.inferers import sliding_window_inference

    padded = np.pad(active, monai_padding(active.shape, settings.roi_zyx))
    margins = core_margins(active.shape, settings)

    def flags(windows: torch.Tensor, where: list[list[slice]]) -> torch.Tensor:
        output = torch.zeros((windows.shape[0], 2, *windows.shape[2:]))
        for index, window in enumerate(where):
            core = window_core(window[2:], padded.shape, margins)
            if padded[core].any():
                output[index, 0][tuple(slice(c.start - w.start, c.stop - w.start)
                                       for c, w in zip(core, window[2:], strict=True))] = 1.0
            else:
                output[index, 1] = 1.0
        return output

    tensor = torch.zeros((1, 1, *active.shape))
    output = sliding_window_inference(tensor, settings.roi_zyx, settings.batch_size, flags, settings.overlap,
                                      mode="gaussian", with_coord=True)
    return output[0, 0].numpy() > 0, output[0, 1].numpy().astype(np.float32)
