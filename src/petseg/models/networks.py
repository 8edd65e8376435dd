"""The networks of the seed papers, built with MONAI from a recipe's `network` section."""

from __future__ import annotations

import math

import torch
from torch import nn

from petseg.errors import PetsegError
from petseg.recipe.networks import DynUNet, SegmentationNetwork, SegResNetDS, SwinUNETR, UNet


def build_network(spec: SegmentationNetwork, in_channels: int) -> nn.Module:
    """A 3D MONAI network: segresnetds, dynunet, swinunetr or unet (`output_prior` sets the output bias)."""
    network = _monai_network(spec, in_channels)
    if spec.output_prior is not None:
        set_output_prior(network, spec.output_prior, spec.out_channels)
    return network


def set_output_prior(network: nn.Module, prior: float, out_channels: int) -> None:
    """Start the network predicting foreground with probability `prior` (sigmoid outputs): the bias of the
    last layer that makes the output channels is set to logit(prior), so early steps are not spent
    unlearning "everything is lesion" on a sparse task (the focal-loss paper's prior initialisation)."""
    layers = [m for m in network.modules() if isinstance(m, nn.modules.conv._ConvNd) and m.bias is not None
              and m.out_channels == out_channels]
    if not layers:
        raise PetsegError("output_prior: the network has no output layer with a bias")
    with torch.no_grad():
        layers[-1].bias.fill_(math.log(prior / (1.0 - prior)))


def _monai_network(spec: SegmentationNetwork, in_channels: int) -> nn.Module:
    from monai.networks import nets

    common = {"in_channels": in_channels, "out_channels": spec.out_channels}
    if isinstance(spec, SegResNetDS):
        return nets.SegResNetDS(spatial_dims=3, init_filters=spec.init_filters, blocks_down=spec.blocks_down,
                                norm=spec.norm, dsdepth=spec.dsdepth, **common)
    if isinstance(spec, DynUNet):
        strides = [_listed(s) for s in spec.strides]
        kernels = [_listed(k) for k in spec.kernel_size] if spec.kernel_size else [3] * len(strides)
        return nets.DynUNet(spatial_dims=3, kernel_size=kernels, strides=strides, upsample_kernel_size=strides[1:],
                            filters=list(spec.filters) if spec.filters else None, norm_name=spec.norm,
                            deep_supervision=spec.deep_supervision, deep_supr_num=spec.deep_supr_num,
                            res_block=spec.res_block, **common)
    if isinstance(spec, SwinUNETR):
        return nets.SwinUNETR(feature_size=spec.feature_size, depths=spec.depths, num_heads=spec.num_heads, **common)
    if isinstance(spec, UNet):
        return nets.UNet(spatial_dims=3, channels=spec.channels, strides=[_listed(s) for s in spec.strides],
                         num_res_units=spec.num_res_units, norm=spec.norm, **common)
    raise PetsegError(f"unknown network {spec!r}: choose segresnetds, dynunet, swinunetr or unet")


def _listed(value: int | tuple[int, ...]) -> int | list[int]:
    return list(value) if isinstance(value, tuple) else value


def count_parameters(network: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in network.parameters() if p.requires_grad)
