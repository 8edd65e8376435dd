"""The MIP classifier of seed 002: a 2D network on PET maximum-intensity projections that calls a study
lesion-positive or negative (one logit), so negative studies skip segmentation.

Input: the coronal and sagittal MIPs (projections along y and x) of the SUV, taken from the volume in
display orientation (`petseg.orientation`: head up, whatever the direction matrix) at about COARSE_MM
spacing (training augments that coarse volume in 3D; inference projects the same), resized to one
(height, width) and stacked as two channels (`mip_input`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from petseg.io.images import Volume
from petseg.orientation import oriented
from petseg.recipe.networks import ClassificationNetwork, MipClassifier

COARSE_MM = 8.0
MIP_CHANNELS = 2  # coronal and sagittal projections


def build_classifier(spec: ClassificationNetwork, in_channels: int) -> nn.Module:
    """A 2D MONAI classifier with one output logit: densenet121 or the small strided `classifier`."""
    from monai.networks.nets import Classifier, DenseNet121

    if isinstance(spec, MipClassifier):
        return Classifier(in_shape=(in_channels, *spec.input_size), classes=1, channels=spec.channels,
                          strides=spec.strides, num_res_units=spec.num_res_units)
    return DenseNet121(spatial_dims=2, in_channels=in_channels, out_channels=1)


def coarse_suv(suv: Volume) -> np.ndarray:
    """The SUV in display orientation, resampled (linear) to about COARSE_MM spacing (finer axes only)."""
    from scipy import ndimage

    zoom = [min(s / COARSE_MM, 1.0) for s in suv.spacing_zyx]
    shown = np.asarray(oriented(suv, suv.array), dtype=np.float32)
    return ndimage.zoom(shown, zoom, order=1).astype(np.float32)


def mip_input(suv: np.ndarray, size_hw: tuple[int, int], suv_max: float) -> torch.Tensor:
    """(2, H, W) float32: coronal and sagittal MIPs of a display-oriented `suv` (`coarse_suv`), scaled to [0, 1]."""
    volume = torch.from_numpy(np.clip(np.asarray(suv, dtype=np.float32), 0.0, suv_max) / suv_max)
    views = [volume.amax(dim=1), volume.amax(dim=2)]  # (z, x) and (z, y), head in the first row
    resized = [F.interpolate(v[None, None], size=tuple(size_hw), mode="bilinear", align_corners=False)[0, 0]
               for v in views]
    return torch.stack(resized)
