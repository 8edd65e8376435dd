"""The networks of the seed papers, built with MONAI from a recipe's `network` section."""

from __future__ import annotations

from typing import Any

from torch import nn

from petseg.errors import PetsegError


def build_network(spec: dict[str, Any], in_channels: int) -> nn.Module:
    """A 3D MONAI network: segresnetds, dynunet, swinunetr or unet."""
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
