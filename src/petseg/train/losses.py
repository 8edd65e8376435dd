"""Losses of the seed papers, built from a recipe's `loss` section (MONAI losses where MONAI has them)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from petseg.errors import PetsegError
from petseg.recipe.sections import Loss


class AutomaticWeightedLoss(nn.Module):
    """Learned uncertainty weighting of several losses (Liebel & Koerner 2018, as used by seed 001):
    sum_i 0.5 / w_i^2 * L_i + log(1 + w_i^2), with the w_i learned with the network."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.ones(count))

    def forward(self, *losses: torch.Tensor) -> torch.Tensor:
        total = torch.zeros((), device=self.weights.device)
        for weight, loss in zip(self.weights, losses, strict=True):
            total = total + 0.5 / weight**2 * loss + torch.log1p(weight**2)
        return total


def auxiliary_targets(image: torch.Tensor, label: torch.Tensor, radii_voxels: list[int]) -> torch.Tensor:
    """Seed 001's auxiliary targets: the lesion mask dilated step by step (cubes of the given radii),
    filled with the image (B, 1, z, y, x) -> (B, len(radii), z, y, x)."""
    channels = []
    for radius in radii_voxels:
        size = 2 * radius + 1
        grown = F.max_pool3d(label.float(), size, stride=1, padding=radius) if radius > 0 else label.float()
        channels.append(grown * image)
    return torch.cat(channels, dim=1)


class StepwiseLoss(nn.Module):
    """Seed 001: DiceFocal on channel 0 (the mask), MSE on the auxiliary channels against dilated-mask
    targets filled with the PET, weighted by `AutomaticWeightedLoss`."""

    def __init__(self, radii_voxels: list[int]) -> None:
        super().__init__()
        from monai.losses import DiceFocalLoss

        self.radii = radii_voxels
        self.mask_loss = DiceFocalLoss(sigmoid=True)
        self.weighting = AutomaticWeightedLoss(2)

    def forward(self, output: torch.Tensor, label: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        targets = auxiliary_targets(image, label, self.radii)
        return self.weighting(self.mask_loss(output[:, :1], label), F.mse_loss(output[:, 1:], targets))


def build_loss(spec: Loss, spacing_mm: float = 2.0) -> nn.Module:
    """The loss module; called as loss(output, label) (stepwise: loss(output, label, pet))."""
    from monai.losses import DeepSupervisionLoss, DiceCELoss

    if spec.name == "dice_ce":
        if spec.softmax:
            loss: nn.Module = DiceCELoss(softmax=True, to_onehot_y=True, squared_pred=spec.squared_pred,
                                         include_background=spec.include_background, batch=spec.batch_dice)
        else:
            loss = DiceCELoss(sigmoid=True, squared_pred=spec.squared_pred, batch=spec.batch_dice)
        if spec.deep_supervision == "halving":
            loss = DeepSupervisionLoss(loss, weight_mode="exp")  # weights 1, 1/2, 1/4, ... as in seed 000, eq. 1
        return loss
    if spec.name == "bce":
        return nn.BCEWithLogitsLoss()
    if spec.name == "stepwise":
        radii = [max(round(mm / spacing_mm), 0) for mm in spec.dilation_steps_mm][: spec.auxiliary_channels]
        return StepwiseLoss([min(r, 64) for r in radii])
    raise PetsegError(f"unknown loss {spec.name!r}: choose dice_ce, bce or stepwise")
