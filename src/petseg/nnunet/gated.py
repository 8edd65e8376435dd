"""nnU-Net's predictor with petseg's window gate inside its window loop (imports nnunetv2: load it lazily).

`nnUNetPredictor._internal_predict_sliding_window_return_logits` places the windows, multiplies each window's
output by its Gaussian, adds it to the logits and the Gaussian to the normaliser; it gets each window's output from
`_internal_maybe_mirror_and_predict`, the one method overridden here. A window holding no gate voxel does not run
the network and returns *background logits* instead (0 for background, -M for every other class or region), which
nnU-Net weights and normalises like any other window. The gate mask travels as one extra input channel, so nnU-Net
pads and slices it with the image; it is dropped before the network sees a window. Placement, padding, Gaussian,
mirroring, fold averaging, resampling and export stay nnU-Net's code; at gate 0 nothing is skipped and the logits
are nnU-Net's bit for bit.

Why background logits and not "add nothing": with margin d (lesion minus background logit) per window and Gaussian
weight w, nnU-Net's margin is (sum_run w d + sum_skip w d_net) / W and the gated one (sum_run w d - M sum_skip w) / W.
A skip only lowers a voxel's margin unless the network was even surer of background there than M, and only running
windows can make a voxel a lesion. A zero output instead pulls the softmax towards uniform wherever a skipped window
overlaps and can add lesion voxels. M = 100 lies beyond the background margins of trained nnU-Nets (about -10..-40)
and keeps nnU-Net's float16 accumulator far from overflow (at most 8 overlapping windows x Gaussian peak 10 x M).
"""

from __future__ import annotations

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
        self.autocast_dtype = dtype  # CPU bfloat16 when asked for; None: nnU-Net's own precision
        self.windows_total = self.windows_run = 0

    @torch.inference_mode()
    def _internal_maybe_mirror_and_predict(self, x: torch.Tensor) -> torch.Tensor:
        self.windows_total += 1
        if self.gate_mask is not None:
            if not bool((x[:, -1] > 0.5).any()):
                return self._background_logits(x)
            x = x[:, :-1]
        self.windows_run += 1
        if self.autocast_dtype is None:
            return super()._internal_maybe_mirror_and_predict(x)
        with torch.autocast(x.device.type, dtype=self.autocast_dtype):
            return super()._internal_maybe_mirror_and_predict(x).float()

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
                    shape: tuple[int, ...]) -> np.ndarray:
    """A mask on the study's grid carried to nnU-Net's preprocessed grid as its preprocessing carries the image
    (transposed, cropped), and where the grid is resampled, conservatively: a network voxel is set when a set voxel
    lies in its footprint widened by one network voxel (the logits are interpolated back from neighbours)."""
    mask = np.asarray(mask_zyx, bool).transpose(transpose)
    mask = mask[tuple(slice(low, high) for low, high in properties["bbox_used_for_cropping"])]
    if tuple(mask.shape) == tuple(shape):
        return mask
    ratio = np.array(mask.shape) / np.array(shape)
    widened = ndimage.maximum_filter(mask, size=tuple(2 * int(np.ceil(r)) + 1 for r in ratio), mode="constant")
    index = [np.clip(np.round((np.arange(n) + 0.5) * r - 0.5).astype(int), 0, s - 1)
             for n, r, s in zip(shape, ratio, mask.shape, strict=True)]
    return ndimage.binary_dilation(widened[np.ix_(*index)], np.ones((3, 3, 3), bool))


def padded(predictor: nnUNetPredictor, array: np.ndarray) -> np.ndarray:
    """`array` (a mask on the preprocessed grid) padded to the patch size as nnU-Net pads the image."""
    return pad_nd_image(array[None], predictor.configuration_manager.patch_size, "constant", {"value": 0})[0]


def window_slices(predictor: nnUNetPredictor, padded_shape: tuple[int, ...]) -> list[tuple[slice, ...]]:
    """nnU-Net's windows over a padded preprocessed image (as `predict_sliding_window_return_logits` places them)."""
    return [tuple(s[1:]) for s in predictor._internal_get_sliding_window_slicers(padded_shape)]


def gate_is_safe(hot: np.ndarray, lesion: np.ndarray, mask: np.ndarray, windows: list[tuple[slice, ...]]) -> bool:
    """True when, with the windows holding a `hot` voxel run, every `lesion` voxel lies in a running window and no
    skipped window touches `mask` (all three bool, padded preprocessed grid): the gated mask is then nnU-Net's."""
    covered = np.zeros(hot.shape, bool)
    for window in windows:
        if hot[window].any():
            covered[window] = True
        elif mask[window].any():
            return False
    return not (lesion & ~covered).any()
