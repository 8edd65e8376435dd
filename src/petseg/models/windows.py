"""Gaussian sliding-window inference as MONAI's `sliding_window_inference` does it, running only the windows
that can hold a lesion.

The windows are MONAI's (placement, zero padding to the ROI, Gaussian importance map, blend; tests hold the
result equal to MONAI's). In a whole-body PET most windows hold air or tissue without uptake, where a lesion
cannot be: the network runs only on the windows whose *core* holds an active voxel (at or above the gate SUV,
see `petseg.models.settings`). A window's core is the window less half the overlap on its inner
faces: the cores of MONAI's windows tile the volume, and within its core a window weighs most, so every active
voxel lies in the core of a window that runs (`gate_core: False` gates on the whole window instead). A skipped
window returns probability 0: it counts as a window that predicted background, its weight still enters MONAI's
normaliser, so it lowers the probability where it overlaps a running window by at most its share of the weight
there (`window_coverage`, which `petseg calibrate` uses to choose a gate that keeps held-out masks MONAI's).

Probabilities are blended, not logits, so that ensembles, test-time flips and skipped windows average on one
scale. This one function serves `petseg predict`, `segment --model`, `calibrate` and validation in training.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from petseg.console import track
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

    @torch.no_grad()
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


def window_slices(shape_zyx: tuple[int, ...], settings: WindowSettings) -> list[tuple[slice, ...]]:
    """MONAI's windows (`dense_patch_slices` at `_get_scan_interval`) on a volume already padded to the ROI: per
    axis a scan interval of ROI x (1 - overlap) (the ROI where it fills the axis), the last window moved back to
    the volume's end; z slowest, as MONAI orders them."""
    starts = []
    for size, roi in zip(shape_zyx, settings.roi_zyx, strict=True):
        interval = roi if roi == size else max(int(roi * (1 - settings.overlap)), 1)
        starts.append([min(i * interval, size - roi) for i in range(math.ceil((size - roi) / interval) + 1)])
    return [tuple(slice(s, s + r) for s, r in zip(corner, settings.roi_zyx, strict=True))
            for corner in itertools.product(*starts)]


def gaussian_weights(roi_zyx: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """MONAI's Gaussian importance map (`compute_importance_map`, sigma = ROI / 8 per axis, clamped below at
    max(its minimum, 1e-3)), the weight of each window's voxels in the blend. Computed here (six lines) so that the
    stitching below needs no MONAI import; tests hold it equal to MONAI's."""
    weights = torch.ones((), dtype=torch.float32)
    for axis, roi in enumerate(roi_zyx):
        x = torch.arange(-(roi - 1) / 2.0, (roi - 1) / 2.0 + 1, dtype=torch.float32)
        weights = weights.unsqueeze(-1) * torch.exp(x**2 / (-2 * (0.125 * roi) ** 2))[(None,) * axis]
    return weights.clamp_(min=max(float(weights.min()), 1e-3)).to(device)


def sliding_probability(predict: WindowPredictor, image: np.ndarray, settings: WindowSettings,
                        active: np.ndarray | None, device: torch.device) -> tuple[np.ndarray, WindowCount]:
    """Lesion probability (z, y, x) float32 of `image` (C, z, y, x) and the windows placed and run.

    MONAI's `sliding_window_inference` (Gaussian blend, zero padding to the ROI) with the windows that cannot hold
    a lesion skipped: `active` (z, y, x) bool marks where a lesion may be (None: every window runs, MONAI's result);
    a window runs when its core holds an active voxel (`settings.gate_core`; else anywhere in it). A skipped window
    counts as one that predicted 0. Written here rather than wrapping MONAI's, because MONAI visits and stitches
    every window: this runs the windows that run in batches of `settings.batch_size`, adds them alone into the
    blend, and weighs only where they reach (tests hold the result equal to MONAI's, gated or not)."""
    roi = settings.roi_zyx
    padding = monai_padding(tuple(image.shape[1:]), roi)
    padded = np.pad(image, [(0, 0), *padding]) if any(sum(p) for p in padding) else image
    tensor = torch.from_numpy(np.require(padded, np.float32, ["C_CONTIGUOUS"]))
    shape = tuple(tensor.shape[1:])
    windows = window_slices(shape, settings)
    running = windows
    if active is not None:
        gate = np.pad(active, padding)
        margins = core_margins(tuple(image.shape[1:]), settings)
        running = [w for w in windows if gate[window_core(w, shape, margins)].any()]
    stitch = stitch_device(device, shape)
    weights = gaussian_weights(roi, stitch)
    reach = _bounds(running, shape)  # the blend is 0 beyond the running windows: stitched within their box only
    padded_probability = np.zeros(shape, np.float32)
    blend = (torch.from_numpy(padded_probability)[reach] if stitch.type == "cpu"  # on a CPU: stitched in place
             else torch.zeros(tuple(r.stop - r.start for r in reach), dtype=torch.float32, device=stitch))
    batches = [running[i:i + settings.batch_size] for i in range(0, len(running), settings.batch_size)]
    for batch in track(batches, "windows") if settings.progress else batches:
        inputs = torch.stack([tensor[(slice(None), *window)] for window in batch]).to(device)
        for window, output in zip(batch, predict(inputs).float().to(stitch), strict=True):
            blend[_meet(window, reach)[0]] += output[0] * weights
    total = torch.zeros_like(blend)
    for window in windows:  # MONAI's normaliser: the weights of every window, here within the box
        if (meet := _meet(window, reach)) is not None:
            total[meet[0]] += weights[meet[1]]
    blend /= total.masked_fill_(total == 0, 1.0)
    if stitch.type != "cpu":
        padded_probability[reach] = blend.cpu().numpy()
    unpadded = tuple(slice(before, size - after) for (before, after), size in zip(padding, shape, strict=True))
    return np.ascontiguousarray(padded_probability[unpadded]), WindowCount(len(windows), len(running))


def _bounds(windows: list[tuple[slice, ...]], shape: tuple[int, ...]) -> tuple[slice, ...]:
    """The box that holds `windows` (empty when there are none)."""
    if not windows:
        return tuple(slice(0, 0) for _ in shape)
    return tuple(slice(min(w[a].start for w in windows), max(w[a].stop for w in windows)) for a in range(len(shape)))


def _meet(region: tuple[slice, ...], box: tuple[slice, ...]) -> tuple[tuple[slice, ...], tuple[slice, ...]] | None:
    """Where `region` and `box` overlap, in `box`'s indices and in `region`'s; None where they do not."""
    starts = [max(r.start, b.start) for r, b in zip(region, box, strict=True)]
    stops = [min(r.stop, b.stop) for r, b in zip(region, box, strict=True)]
    if any(start >= stop for start, stop in zip(starts, stops, strict=True)):
        return None
    return (tuple(slice(a - b.start, z - b.start) for a, z, b in zip(starts, stops, box, strict=True)),
            tuple(slice(a - r.start, z - r.start) for a, z, r in zip(starts, stops, region, strict=True)))


def window_coverage(active: np.ndarray, settings: WindowSettings) -> tuple[np.ndarray, np.ndarray]:
    """For the windows MONAI places with these settings, gated by `active` (z, y, x) bool: (bool: the voxels in the
    core of a window that runs, float32: the skipped windows' share of the Gaussian weight at each voxel). Where
    the share is s, the gated probability lies between MONAI's p - s and p (skipping only lowers it); where it is
    0 the gated probability is MONAI's exactly."""
    padding = monai_padding(active.shape, settings.roi_zyx)
    gate = np.pad(active, padding)
    margins = core_margins(active.shape, settings)
    weights = gaussian_weights(settings.roi_zyx, torch.device("cpu"))
    covered = torch.zeros(gate.shape, dtype=torch.bool)
    skipped, total = torch.zeros(gate.shape), torch.zeros(gate.shape)
    for window in window_slices(gate.shape, settings):
        core = window_core(window, gate.shape, margins)
        total[window] += weights
        if gate[core].any():
            covered[core] = True
        else:
            skipped[window] += weights
    inside = tuple(slice(before, size - after) for (before, after), size in zip(padding, gate.shape, strict=True))
    return covered[inside].numpy(), (skipped / total)[inside].numpy().astype(np.float32)
