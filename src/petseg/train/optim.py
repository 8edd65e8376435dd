"""Optimisers and learning-rate schedules of the seed papers, built from a recipe."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from petseg.errors import PetsegError
from petseg.recipe.sections import Optimizer, Scheduler


def build_optimizer(spec: Optimizer, parameters: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """adamw, adam, nadam or sgd with the recipe's learning rate and weight decay."""
    name, lr, decay = spec.name, spec.lr, spec.weight_decay
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=decay)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr, weight_decay=decay)
    if name == "nadam":
        return torch.optim.NAdam(parameters, lr=lr, weight_decay=decay)
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, weight_decay=decay, momentum=spec.momentum,
                               nesterov=spec.nesterov)
    raise PetsegError(f"unknown optimizer {name!r}: choose adamw, adam, nadam or sgd")


def build_scheduler(spec: Scheduler, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int):
    """The recipe's schedule from torch/MONAI: warmup_cosine, cosine, cyclic_cosine, poly (stepped per
    optimiser step) or plateau (stepped per epoch with the epoch's loss)."""
    from monai.optimizers import WarmupCosineSchedule
    from torch.optim import lr_scheduler

    name = spec.name
    total = max(epochs * steps_per_epoch, 1)
    if name == "plateau":
        return lr_scheduler.ReduceLROnPlateau(optimizer, factor=spec.factor,
                                              threshold=spec.threshold)
    if name == "warmup_cosine":
        warmup = spec.warmup_epochs * steps_per_epoch
        # The warm-up starts at 1/(warmup + 1) of the rate, not at 0: no step of the run is wasted.
        return WarmupCosineSchedule(optimizer, warmup_steps=warmup, t_total=total,
                                    warmup_multiplier=1.0 / (warmup + 1))
    if name == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=total, eta_min=spec.eta_min)
    if name == "cyclic_cosine":
        return lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=max(spec.cycle_epochs * steps_per_epoch, 1))
    if name == "poly":
        return lr_scheduler.PolynomialLR(optimizer, total_iters=total, power=spec.power)
    raise PetsegError(f"unknown scheduler {name!r}: choose warmup_cosine, cosine, cyclic_cosine, poly, plateau")
