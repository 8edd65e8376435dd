"""The networks of the seed papers, built with MONAI from a recipe's `network` section."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from petseg.errors import PetsegError


def build_network(spec: dict[str, Any], in_channels: int) -> nn.Module:
    """A 3D MONAI network: segresnetds, dynunet, swinunetr or unet (`output_prior` sets the output bias)."""
    network = _monai_network(spec, in_channels)
    if spec.get("output_prior") is not None:
        set_output_prior(network, float(spec["output_prior"]), int(spec.get("out_channels", 1)))
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


def _monai_network(spec: dict[str, Any], in_channels: int) -> nn.Module:
    from monai.networks.nets import DynUNet, SegResNetDS, SwinUNETR, UNet

    name = spec.get("name")
    out_channels = int(spec.get("out_channels", 1))
    if name == "segresnetds":
        return SegResNetDS(spatial_dims=3, init_filters=int(spec.get("init_filters", 32)), in_channels=in_channels,
                           out_channels=out_channels, blocks_down=tuple(spec.get("blocks_down", (1, 2, 2, 4, 4))),
                           norm=spec.get("norm", "batch"), dsdepth=int(spec.get("dsdepth", 1)))
    if name == "dynunet":
        strides = spec["strides"]
        kernels = spec.get("kernel_size", [3] * len(strides))
        return DynUNet(spatial_dims=3, in_channels=in_channels, out_channels=out_channels, kernel_size=kernels,
                       strides=strides, upsample_kernel_size=strides[1:], filters=spec.get("filters"),
                       norm_name=spec.get("norm", "instance"), deep_supervision=bool(spec.get("deep_supervision")),
                       deep_supr_num=int(spec.get("deep_supr_num", 1)), res_block=bool(spec.get("res_block", False)))
    if name == "swinunetr":
        return SwinUNETR(in_channels=in_channels, out_channels=out_channels,
                         feature_size=int(spec.get("feature_size", 24)), depths=tuple(spec.get("depths", (2, 2, 2, 2))),
                         num_heads=tuple(spec.get("num_heads", (3, 6, 12, 24))))
    if name == "unet":
        return UNet(spatial_dims=3, in_channels=in_channels, out_channels=out_channels, channels=spec["channels"],
                    strides=spec["strides"], num_res_units=int(spec.get("num_res_units", 2)),
                    norm=spec.get("norm", "instance"))
    raise PetsegError(f"unknown network {name!r}: choose segresnetds, dynunet, swinunetr or unet")


def count_parameters(network: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in network.parameters() if p.requires_grad)
