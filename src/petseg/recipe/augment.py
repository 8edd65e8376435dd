"""The recipe's `augment` section: training augmentations (MONAI transforms), each off when absent."""

from __future__ import annotations

from dataclasses import dataclass

from petseg.recipe.typed import doc

Size3 = tuple[int, int, int]


@dataclass(frozen=True, kw_only=True)
class Rotate:
    """Random rotation (MONAI RandRotated)."""

    prob: float = doc("probability")
    range_rad: float = doc("rotation range about each axis (radians)")


@dataclass(frozen=True, kw_only=True)
class Scale:
    """Random zoom (MONAI RandZoomd)."""

    prob: float = doc("probability")
    range: float = doc("zoom range (1 +- range)")


@dataclass(frozen=True, kw_only=True)
class Flip:
    """Random flips (MONAI RandFlipd), each axis on its own."""

    prob: float = doc("probability per axis")
    axes: tuple[int, ...] = doc("axes (0 x, 1 y, 2 z)", (0, 1, 2))


@dataclass(frozen=True, kw_only=True)
class Chance:
    """An augmentation with only a probability."""

    prob: float = doc("probability")


@dataclass(frozen=True, kw_only=True)
class Smooth:
    """Random Gaussian smoothing of the image."""

    prob: float = doc("probability")
    sigma: tuple[float, float] = doc("Gaussian sigma range (voxels)")


@dataclass(frozen=True, kw_only=True)
class Noise:
    """Random Gaussian noise on the image."""

    prob: float = doc("probability")
    std: float = doc("noise standard deviation")


@dataclass(frozen=True, kw_only=True)
class Contrast:
    """Random gamma contrast of the image (MONAI RandAdjustContrastd)."""

    prob: float = doc("probability")
    gamma: tuple[float, float] = doc("gamma range")


@dataclass(frozen=True, kw_only=True)
class Intensity:
    """Random intensity scale and shift of the image."""

    prob: float = doc("probability")
    shift: float = doc("intensity shift range")
    scale: float = doc("intensity scale range")


@dataclass(frozen=True, kw_only=True)
class MaskDropout:
    """Random coarse dropout of the stage-1 mask channel (seed 003)."""

    prob: float = doc("probability")
    holes: int = doc("holes")
    size: Size3 = doc("hole size (x, y, z)")


@dataclass(frozen=True, kw_only=True)
class Augment:
    """Training augmentations (MONAI transforms; each off when absent)."""

    rotate: Rotate | None = doc("random rotation", None)
    scale: Scale | None = doc("random zoom", None)
    flip: Flip | None = doc("random flips", None)
    rotate90: Chance | None = doc("random quarter turns in each plane whose sides are equal", None)
    smooth: Smooth | None = doc("random Gaussian smoothing of the image", None)
    noise: Noise | None = doc("random Gaussian noise on the image", None)
    intensity: Intensity | None = doc("random intensity scale and shift", None)
    contrast: Contrast | None = doc("random gamma contrast", None)
    mask_dropout: MaskDropout | None = doc("random coarse dropout of a cascade's stage-1 mask channel", None)
    ct_dropout: Chance | None = doc("probability that a patch loses its CT (ct and ct_present zeroed as in a "
                                    "PET-only study)", None)
    flip_prob: float = doc("classification: probability of a left-right flip of the volume before projecting", 0.5)
    rotate_deg: float = doc("classification: rotation range about the body axis before projecting (degrees)", 0.0)
