"""The recipe's `network` section, one typed class per network, chosen by its `name` (MONAI networks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from petseg.recipe.typed import doc

Stride = int | tuple[int, int, int]


@dataclass(frozen=True, kw_only=True)
class Head:
    """What every segmentation network has."""

    out_channels: int = doc("output channels: 1 sigmoid, 2 softmax, more for auxiliary outputs", 1)
    output_prior: float | None = doc("start the output bias at this foreground probability (sigmoid outputs); "
                                     "null: the network's own initialisation", None)


@dataclass(frozen=True, kw_only=True)
class SegResNetDS(Head):
    """MONAI SegResNetDS (seed 000)."""

    name: Literal["segresnetds"] = doc("the network")
    init_filters: int = doc("filters of the first level", 32)
    blocks_down: tuple[int, ...] = doc("residual blocks per level", (1, 2, 2, 4, 4))
    norm: Literal["batch", "instance"] = doc("normalisation layers", "batch")
    dsdepth: int = doc("deep-supervision heads (1: none)", 1)


@dataclass(frozen=True, kw_only=True)
class DynUNet(Head):
    """MONAI DynUNet (seeds 003, 004)."""

    name: Literal["dynunet"] = doc("the network")
    filters: tuple[int, ...] | None = doc("filters per level; null: MONAI's (32 doubling, capped at 320)", None)
    strides: tuple[Stride, ...] = doc("stride per level (a number, or one per axis)")
    kernel_size: tuple[Stride, ...] | None = doc("kernel size per level; null: 3 at every level", None)
    norm: Literal["batch", "instance"] = doc("normalisation layers", "instance")
    deep_supervision: bool = doc("deep-supervision heads on", False)
    deep_supr_num: int = doc("number of deep-supervision heads", 1)
    res_block: bool = doc("residual blocks", False)


@dataclass(frozen=True, kw_only=True)
class SwinUNETR(Head):
    """MONAI Swin-UNETR (seed 002)."""

    name: Literal["swinunetr"] = doc("the network")
    feature_size: int = doc("embedding size", 24)
    depths: tuple[int, ...] = doc("Swin blocks per stage", (2, 2, 2, 2))
    num_heads: tuple[int, ...] = doc("attention heads per stage", (3, 6, 12, 24))


@dataclass(frozen=True, kw_only=True)
class UNet(Head):
    """MONAI residual UNet (seed 001, seed 003's stage 2, the tiny CPU recipe)."""

    name: Literal["unet"] = doc("the network")
    channels: tuple[int, ...] = doc("channels per level")
    strides: tuple[Stride, ...] = doc("stride between levels")
    num_res_units: int = doc("residual units per level", 2)
    norm: Literal["batch", "instance"] = doc("normalisation layers", "instance")


@dataclass(frozen=True, kw_only=True)
class DenseNet121:
    """MONAI DenseNet121 on the MIPs (seed 002's classifier gate; MONAI has no 2D Swin classifier)."""

    name: Literal["densenet121"] = doc("the network")
    input_size: tuple[int, int] = doc("(height, width) of the projections")


@dataclass(frozen=True, kw_only=True)
class MipClassifier:
    """MONAI's small strided Classifier on the MIPs (the tiny classifier gate)."""

    name: Literal["classifier"] = doc("the network")
    input_size: tuple[int, int] = doc("(height, width) of the projections")
    channels: tuple[int, ...] = doc("channels per level")
    strides: tuple[int, ...] = doc("stride per level")
    num_res_units: int = doc("residual units per level", 1)


SegmentationNetwork = SegResNetDS | DynUNet | SwinUNETR | UNet
ClassificationNetwork = DenseNet121 | MipClassifier
