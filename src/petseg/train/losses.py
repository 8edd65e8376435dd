"""Losses of the seed papers, built from a recipe's `loss` section (MONAI losses where MONAI has them)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from petseg.errors import PetsegError
from petseg.recipe.sections import Loss


class AutomaticWeightedLoss(nn.Module):
    """Learned uncertainty weighting of several losses (Liebel & Koerner 2018, as used by seed 001, one weight
    per loss): sum_i 0.5 / w_i^2 * L_i + log(1 + w_i^2), with the w_i learned with the network."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.ones(count))

    def forward(self, *losses: torch.Tensor) -> torch.Tensor:
        total = torch.zeros((), device=self.weights.device)
        for weight, loss in zip(self.weights, losses, strict=True):
            total = total + 0.5 / weight**2 * loss + torch.log1p(weight**2)
        return total


def dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """A (B, 1, z, y, x) mask dilated by a cube of half-size `radius` voxels: three 1D max-pools, one per axis
    (the same as one cubic max-pool, at a cost linear in the radius instead of cubic)."""
    grown = mask.float()
    if radius <= 0:
        return grown
    size = 2 * radius + 1
    for axis in range(3):
        kernel, padding = [1, 1, 1], [0, 0, 0]
        kernel[axis], padding[axis] = size, radius
        grown = F.max_pool3d(grown, tuple(kernel), stride=1, padding=tuple(padding))
    return grown


def auxiliary_targets(fills: torch.Tensor, label: torch.Tensor, radii_voxels: list[int]) -> torch.Tensor:
    """Seed 001's auxiliary targets: the lesion mask dilated step by step (cubes of the given radii), the k-th
    filled with the input channel k mod C of `fills` (B, C, z, y, x; the CT and the PET in turn, as the authors'
    code does) -> (B, len(radii), z, y, x)."""
    channels = [dilate(label, radius) * fills[:, k % fills.shape[1]:k % fills.shape[1] + 1]
                for k, radius in enumerate(radii_voxels)]
    return torch.cat(channels, dim=1)


class StepwiseLoss(nn.Module):
    """Seed 001: DiceFocal on channel 0 (the mask), MSE on each auxiliary channel against its dilated-mask
    target filled with the CT or the PET, every loss with its own weight (`AutomaticWeightedLoss`)."""

    def __init__(self, radii_voxels: list[int]) -> None:
        super().__init__()
        from monai.losses import DiceFocalLoss

        self.radii = radii_voxels
        self.mask_loss = DiceFocalLoss(sigmoid=True)
        self.weighting = AutomaticWeightedLoss(1 + len(radii_voxels))

    def forward(self, output: torch.Tensor, label: torch.Tensor, fills: torch.Tensor) -> torch.Tensor:
        targets = auxiliary_targets(fills, label, self.radii)
        auxiliary = [F.mse_loss(output[:, 1 + k], targets[:, k]) for k in range(len(self.radii))]
        return self.weighting(self.mask_loss(output[:, :1], label), *auxiliary)


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
