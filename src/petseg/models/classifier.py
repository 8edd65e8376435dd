"""The MIP classifier of seed 002: a 2D network on PET maximum-intensity projections that calls a study
lesion-positive or negative (one logit), so negative studies skip segmentation.

Input: the coronal and sagittal MIPs (projections along y and x) of the SUV, taken from the volume in
display orientation (`petseg.orientation`: head up, whatever the direction matrix) at about COARSE_MM
spacing (training augments that coarse volume in 3D; inference projects the same), resized to one
(height, width) and stacked as two channels (`mip_input`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from petseg.errors import PetsegError
from petseg.io.images import Volume
from petseg.orientation import oriented

COARSE_MM = 8.0
MIP_CHANNELS = 2  # coronal and sagittal projections


def build_classifier(spec: dict[str, Any], in_channels: int) -> nn.Module:
    """A 2D MONAI classifier with one output logit: densenet121 or the small strided `classifier`."""
    from monai.networks.nets import Classifier, DenseNet121

    name = spec.get("name")
    if name == "densenet121":
        return DenseNet121(spatial_dims=2, in_channels=in_channels, out_channels=1)
    if name == "classifier":
        size = tuple(int(v) for v in spec["input_size"])
        return Classifier(in_shape=(in_channels, *size), classes=1, channels=tuple(spec["channels"]),
                          strides=tuple(spec["strides"]), num_res_units=int(spec.get("num_res_units", 1)))
    raise PetsegError(f"unknown classifier {name!r}: choose densenet121 or classifier")


def coarse_suv(suv: Volume) -> np.ndarray:
    """The SUV in display orientation, resampled (linear) to about COARSE_MM spacing (finer axes only)."""
    from scipy import ndimage

    zoom = [min(s / COARSE_MM, 1.0) for s in suv.spacing_zyx]
    shown = np.asarray(oriented(suv, suv.array), dtype=np.float32)
    return ndimage.zoom(shown, zoom, order=1).astype(np.float32)


def mip_input(suv: np.ndarray, size_hw: tuple[int, int], suv_max: float = 10.0) -> torch.Tensor:
    """(2, H, W) float32: coronal and sagittal MIPs of a display-oriented `suv` (`coarse_suv`), scaled to [0, 1]."""
    volume = torch.from_numpy(np.clip(np.asarray(suv, dtype=np.float32), 0.0, suv_max) / suv_max)
    views = [volume.amax(dim=1), volume.amax(dim=2)]  # (z, x) and (z, y), head in the first row
    resized = [F.interpolate(v[None, None], size=tuple(size_hw), mode="bilinear", align_corners=False)[0, 0]
               for v in views]
    return torch.stack(resized)
