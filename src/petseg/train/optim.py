"""Optimisers and learning-rate schedules of the seed papers, built from a recipe."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

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


class PlateauThenCosine:
    """Seed 001's schedule, stepped once an epoch with the epoch's loss: ReduceLROnPlateau, then for the last
    `cosine_epochs` the rate reset to `restart_lr` and cosine-annealed to zero. Written here because torch's
    SequentialLR cannot chain ReduceLROnPlateau (it takes no metric)."""

    def __init__(self, optimizer: torch.optim.Optimizer, spec: Scheduler, epochs: int) -> None:
        self.optimizer, self.restart_lr = optimizer, spec.restart_lr
        self.switch = max(epochs - spec.cosine_epochs, 0)
        self.cosine_epochs, self.epoch = max(min(spec.cosine_epochs, epochs), 1), 0
        self.plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=spec.factor, threshold=spec.threshold, threshold_mode=spec.threshold_mode)

    def step(self, loss: float) -> None:
        """End of an epoch with mean training loss `loss`."""
        self.epoch += 1
        if self.epoch < self.switch:
            self.plateau.step(loss)
            return
        done = self.epoch - self.switch  # epochs of the cosine phase completed
        rate = 0.5 * self.restart_lr * (1 + math.cos(math.pi * min(done, self.cosine_epochs) / self.cosine_epochs))
        for group in self.optimizer.param_groups:
            group["lr"] = rate

    def state_dict(self) -> dict[str, Any]:
        """For the resume checkpoint."""
        return {"epoch": self.epoch, "plateau": self.plateau.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from a resume checkpoint."""
        self.epoch = int(state["epoch"])
        self.plateau.load_state_dict(state["plateau"])


def epoch_wise(scheduler: object) -> bool:
    """True for schedules stepped once an epoch with the epoch's loss (plateau, plateau_cosine)."""
    return isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau | PlateauThenCosine)


def build_scheduler(spec: Scheduler, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int):
    """The recipe's schedule from torch/MONAI: warmup_cosine, cosine, cyclic_cosine, poly (stepped per
    optimiser step), plateau or plateau_cosine (stepped per epoch with the epoch's loss: `epoch_wise`)."""
    from monai.optimizers import WarmupCosineSchedule
    from torch.optim import lr_scheduler

    name = spec.name
    total = max(epochs * steps_per_epoch, 1)
    if name == "plateau":
        return lr_scheduler.ReduceLROnPlateau(optimizer, factor=spec.factor, threshold=spec.threshold,
                                              threshold_mode=spec.threshold_mode)
    if name == "plateau_cosine":
        return PlateauThenCosine(optimizer, spec, epochs)
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
    raise PetsegError(f"unknown scheduler {name!r}: choose warmup_cosine, cosine, cyclic_cosine, poly, plateau, "
                      "plateau_cosine")
