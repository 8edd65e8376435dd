"""Optimisers and learning-rate schedules of the seed papers, built from a recipe."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from petseg.errors import PetsegError


def build_optimizer(spec: dict[str, Any], parameters: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """adamw, adam, nadam or sgd with the recipe's learning rate and weight decay."""
    name, lr, decay = spec.get("name"), float(spec["lr"]), float(spec.get("weight_decay", 0.0))
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=decay)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr, weight_decay=decay)
    if name == "nadam":
        return torch.optim.NAdam(parameters, lr=lr, weight_decay=decay)
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, weight_decay=decay, momentum=float(spec.get("momentum", 0.99)),
                               nesterov=bool(spec.get("nesterov", True)))
    raise PetsegError(f"unknown optimizer {name!r}: choose adamw, adam, nadam or sgd")


def build_scheduler(spec: dict[str, Any], optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int):
    """A per-step schedule: warmup_cosine, cosine, cyclic_cosine, poly, or plateau (stepped per epoch)."""
    name = spec.get("name")
    total = max(epochs * steps_per_epoch, 1)
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=float(spec.get("factor", 0.4)),
                                                          threshold=float(spec.get("threshold", 5e-3)))
    if name == "warmup_cosine":
        warmup = max(int(spec.get("warmup_epochs", 0)) * steps_per_epoch, 0)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = (step - warmup) / max(total - warmup, 1)
            return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    elif name == "cosine":
        base = optimizer.param_groups[0]["lr"]
        floor = float(spec.get("eta_min", 0.0)) / base

        def factor(step: int) -> float:
            return floor + (1 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(step / total, 1.0)))
    elif name == "cyclic_cosine":
        cycle = max(int(spec.get("cycle_epochs", 5)) * steps_per_epoch, 1)

        def factor(step: int) -> float:
            return 0.5 * (1.0 + math.cos(math.pi * (step % cycle) / cycle))
    elif name == "poly":
        power = float(spec.get("power", 0.9))

        def factor(step: int) -> float:
            return (1.0 - min(step / total, 1.0)) ** power
    else:
        raise PetsegError(f"unknown scheduler {name!r}: choose warmup_cosine, cosine, cyclic_cosine, poly, plateau")
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
