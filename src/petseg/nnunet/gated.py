"""nnU-Net's predictor with petseg's window gate inside its window loop (imports nnunetv2: load it lazily).

`nnUNetPredictor._internal_predict_sliding_window_return_logits` places the windows, multiplies each window's
output by its Gaussian, adds it to the logits and the Gaussian to the normaliser; it gets each window's output from
`_internal_maybe_mirror_and_predict`. Overridden here: the loop's entry decides from the gate mask which windows
run (the mask travels as one extra input channel, so nnU-Net pads it with the image; it is dropped before any
window is cut), and a window that does not run returns a constant instead of the network's output. Placement,
padding, Gaussian, mirroring, fold averaging, resampling and export stay nnU-Net's code; at gate 0 nothing is
skipped and the logits are nnU-Net's bit for bit.

Two gates, two ways to skip:
- *Core* (the default): a window runs when its core (`window_cores`: per axis, the voxels nearer its centre than
  any other window's; the cores tile the image) holds a gate voxel, so every gate voxel is weighed most by a window
  that runs. A skipped window is left out of the average: it returns zeros and the Gaussian-weighted sum is then
  renormalised by the running windows' weight alone, so a voxel's logits are the weighted mean of the windows that
  ran over it (nnU-Net's own where all of them ran) and a voxel no running window covers is background. Why not
  a background constant here: a skipped neighbour weighs up to as much as the running window at a lesion near
  the border of their cores, and any constant would decide those voxels instead of the network.
- *Whole window* (`gate_core=False`, as petseg's calibrations before the core gate gated): a window runs when it
  holds a gate voxel anywhere, and a skipped one returns *background logits* (0 for background, -M for every other
  class or region) with its weight. With margin d (lesion minus background logit) per window and Gaussian weight w,
  nnU-Net's margin is (sum_run w d + sum_skip w d_net) / W and the gated one (sum_run w d - M sum_skip w) / W: a
  skip only lowers the margin of the voxels it covers, unless the network was even surer of background there than
  M, so where no skipped window touches nnU-Net's mask the mask stays (`mask_untouched`). M = 100 lies beyond the
  background margins of trained nnU-Nets (about -10..-40) and keeps nnU-Net's float16 accumulator far from
  overflow (at most 8 overlapping windows x Gaussian peak 10 x M).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from acvl_utils.cropping_and_padding.padding import pad_nd_image
from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
from scipy import ndimage

BACKGROUND_MARGIN = 100.0


class GatedPredictor(nnUNetPredictor):
    """nnUNetPredictor whose sliding window skips windows without a gate voxel (see the module docstring)."""

    def __init__(self, *args: Any, dtype: torch.dtype | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate_mask: np.ndarray | None = None  # bool, on the preprocessed grid; None: every window runs
        self.gate_core = True  # a window runs when its core holds a gate voxel (else: anywhere in it)
        self.autocast_dtype = dtype  # CPU bfloat16 when asked for; None: nnU-Net's own precision
        self.windows_total = self.windows_run = 0
        self._runs: Iterator[bool] | None = None  # per window, in nnU-Net's order: whether it runs

    def _internal_predict_sliding_window_return_logits(self, data: torch.Tensor, slicers: list,
                                                       do_on_device: bool = True) -> torch.Tensor:
        if self.gate_mask is None:
            return super()._internal_predict_sliding_window_return_logits(data, slicers, do_on_device)
        windows = [as_window(s[1:]) for s in slicers]
        runs = window_runs(data[-1].cpu().numpy() > 0.5, windows, self.gate_core)
        self._runs = iter(runs)
        try:  # nnU-Net's loop asks for the windows' outputs one by one in the order of `slicers`
            logits = super()._internal_predict_sliding_window_return_logits(data[:-1], slicers, do_on_device)
        finally:
            self._runs = None
        return self._over_running_windows(logits, windows, runs) if self.gate_core and not all(runs) else logits

    @torch.inference_mode()
    def _internal_maybe_mirror_and_predict(self, x: torch.Tensor) -> torch.Tensor:
        self.windows_total += 1
        if self._runs is not None and not next(self._runs):
            if self.gate_core:  # left out of the average (`_over_running_windows`)
                return torch.zeros((x.shape[0], self.label_manager.num_segmentation_heads, *x.shape[2:]),
                                   dtype=torch.float32, device=x.device)
            return self._background_logits(x)
        self.windows_run += 1
        if self.autocast_dtype is None:
            return super()._internal_maybe_mirror_and_predict(x)
        with torch.autocast(x.device.type, dtype=self.autocast_dtype):
            return super()._internal_maybe_mirror_and_predict(x).float()

    def _over_running_windows(self, logits: torch.Tensor, windows: list[tuple[slice, ...]], runs: list[bool]
                              ) -> torch.Tensor:
        """nnU-Net's average over every window, where the skipped ones added zeros, made the weighted mean over the
        windows that ran (weights: nnU-Net's Gaussian as its loop computes it); background where none ran."""
        from nnunetv2.inference.sliding_window_prediction import compute_gaussian

        device = logits.device
        gaussian = compute_gaussian(tuple(self.configuration_manager.patch_size), sigma_scale=1.0 / 8,
                                    value_scaling_factor=10, device=device).float() if self.use_gaussian else 1.0
        total = torch.zeros(logits.shape[1:], dtype=torch.float32, device=device)
        ran = torch.zeros_like(total)
        for window, run in zip(windows, runs, strict=True):
            total[window] += gaussian
            if run:
                ran[window] += gaussian
        covered = ran > 0
        scaled = logits.float() * torch.where(covered, total / ran.clamp_min(1e-12), 0.0)
        return torch.where(covered, scaled, self._background_logits(scaled[None])[0])

    def _background_logits(self, x: torch.Tensor) -> torch.Tensor:
        heads = self.label_manager.num_segmentation_heads
        output = torch.full((x.shape[0], heads, *x.shape[2:]), -BACKGROUND_MARGIN, dtype=torch.float32,
                            device=x.device)
        if not self.label_manager.has_regions:
            output[:, 0] = 0.0  # the background class
        return output  # a new tensor each time: nnU-Net multiplies it by the Gaussian in place

    @torch.inference_mode()
    def predict_sliding_window_return_logits(self, input_image: torch.Tensor) -> torch.Tensor:
        if self.gate_mask is None:
            return super().predict_sliding_window_return_logits(input_image)
        gate = torch.from_numpy(self.gate_mask.astype(np.float32))[None]
        return super().predict_sliding_window_return_logits(torch.cat([input_image, gate.to(input_image.dtype)]))


def to_network_grid(mask_zyx: np.ndarray, properties: dict[str, Any], transpose: list[int],
                    shape: tuple[int, ...], widen: bool = True) -> np.ndarray:
    """A mask on the study's grid carried to nnU-Net's preprocessed grid as its preprocessing carries the image
    (transposed, cropped) and, where the grid is resampled, without losing a voxel: a network voxel is set when a
    set voxel overlaps its footprint (`footprint_any`), and with `widen` also when one lies a network voxel beyond
    it (the logits are interpolated back from neighbours: what the whole-window gate, whose skips push logits to
    background, must keep off a lesion). The core gate leaves skipped windows out of the average, so the
    neighbours are read from running windows: no widening."""
    mask = np.asarray(mask_zyx, bool).transpose(transpose)
    mask = mask[tuple(slice(low, high) for low, high in properties["bbox_used_for_cropping"])]
    if tuple(mask.shape) == tuple(shape):
        return mask
    sampled = footprint_any(mask, shape)
    return ndimage.binary_dilation(sampled, np.ones((3, 3, 3), bool)) if widen else sampled


def footprint_any(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """`mask` resampled onto `shape` (the same extent): a voxel is set when a set voxel overlaps it (per axis,
    network voxel n spans source voxels n * r to (n + 1) * r, r = source / target size)."""
    out = mask
    for axis, target in enumerate(shape):
        ratio = out.shape[axis] / target
        low = np.floor(np.arange(target) * ratio).astype(int)
        high = np.maximum(np.ceil((np.arange(target) + 1) * ratio).astype(int), low + 1)
        counts = np.cumsum(out, axis=axis, dtype=np.int32)
        counts = np.concatenate([np.zeros_like(np.take(counts, [0], axis=axis)), counts], axis=axis)
        out = np.take(counts, high, axis=axis) - np.take(counts, low, axis=axis) > 0
    return out


def padded(predictor: nnUNetPredictor, array: np.ndarray) -> np.ndarray:
    """`array` (a mask on the preprocessed grid) padded to the patch size as nnU-Net pads the image."""
    return pad_nd_image(array[None], predictor.configuration_manager.patch_size, "constant", {"value": 0})[0]


def as_window(slicer: tuple) -> tuple[slice, ...]:
    """An nnU-Net slicer without its channel entry, as slices (a 2D configuration's slice index d: d to d + 1)."""
    return tuple(s if isinstance(s, slice) else slice(s, s + 1) for s in slicer)


def window_slices(predictor: nnUNetPredictor, padded_shape: tuple[int, ...]) -> list[tuple[slice, ...]]:
    """nnU-Net's windows over a padded preprocessed image (as `predict_sliding_window_return_logits` places them)."""
    return [as_window(s[1:]) for s in predictor._internal_get_sliding_window_slicers(padded_shape)]


def window_cores(windows: list[tuple[slice, ...]], shape: tuple[int, ...]) -> list[tuple[slice, ...]]:
    """Each window's core: per axis, the voxels nearer its centre (nnU-Net's Gaussian peaks at index size // 2)
    than any other window's, out to the image's faces. nnU-Net's windows share one size and lie on a grid of
    starts, so the cores tile the image; the separable Gaussian weighs a voxel most in the window whose core holds
    it. (petseg's own windows are MONAI's, evenly spaced: `petseg.models.windows.window_core`; nnU-Net spaces its
    starts by rounding, so the cores come from the starts themselves.)"""
    bounds = []
    for axis, length in enumerate(shape):
        starts = sorted({w[axis].start for w in windows})
        half = (windows[0][axis].stop - windows[0][axis].start) // 2
        cuts = [0, *((a + b + 2 * half + 1) // 2 for a, b in itertools.pairwise(starts)), length]
        bounds.append({start: slice(cuts[i], cuts[i + 1]) for i, start in enumerate(starts)})
    return [tuple(bounds[axis][s.start] for axis, s in enumerate(w)) for w in windows]


def window_runs(hot: np.ndarray, windows: list[tuple[slice, ...]], core: bool) -> list[bool]:
    """Per window: whether it runs, i.e. its core (`core`; else the whole window) holds a `hot` voxel."""
    regions = window_cores(windows, hot.shape) if core else windows
    return [bool(hot[region].any()) for region in regions]


def lesions_covered(lesion: np.ndarray, windows: list[tuple[slice, ...]], runs: list[bool], core: bool) -> bool:
    """Whether every `lesion` voxel lies in a running window (`core`: in a running window's core, where that window
    weighs it most)."""
    covered = np.zeros(lesion.shape, bool)
    for region, run in zip(window_cores(windows, lesion.shape) if core else windows, runs, strict=True):
        if run:
            covered[region] = True
    return not (lesion & ~covered).any()


def mask_untouched(mask: np.ndarray, windows: list[tuple[slice, ...]], runs: list[bool]) -> bool:
    """Whether no skipped window touches `mask`: a skip only changes the logits of the voxels it covers, so the
    gated mask is then nnU-Net's (a sufficient condition; `petseg calibrate` checks the others by a gated run)."""
    return not any(mask[window].any() for window, run in zip(windows, runs, strict=True) if not run)
