"""What one training run optimises, built from a recipe: network (DDP-wrapped when distributed), loss,
optimiser, schedule, AMP scaler and autocast precision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from petseg.device import precision
from petseg.models.networks import build_network
from petseg.recipe import Recipe
from petseg.train.losses import build_loss
from petseg.train.optim import build_optimizer, build_scheduler, epoch_wise


@dataclass
class Parts:
    """The trained network (`network`; `model` is what steps call: DDP-wrapped or the network itself) and
    everything that updates it."""

    network: nn.Module
    model: nn.Module
    loss: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    autocast: torch.dtype | None
    fill_channels: tuple[int, ...]  # the CT and PET channels (seed 001's auxiliary targets are filled with them)

    @property
    def per_step_schedule(self) -> bool:
        """False for the schedules that step once an epoch with the epoch's loss (plateau, plateau_cosine)."""
        return not epoch_wise(self.scheduler)


def build_parts(recipe: Recipe, fingerprint: dict[str, Any], device: torch.device, world: int, epochs: int,
                steps: int, bf16: bool) -> Parts:
    """The parts of a run, at the precision inference uses too (`petseg.device.precision`: fp16 on GPUs for
    recipes with `training.amp`; bfloat16 on CPUs only when asked for, and native)."""
    network = build_network(recipe.network, len(recipe.inputs)).to(device)  # type: ignore[arg-type]
    loss = build_loss(recipe.loss, float(np.mean(fingerprint["spacing_mm"]["median"]))).to(device)
    optimizer = build_optimizer(recipe.optimizer, [*network.parameters(), *loss.parameters()])
    scheduler = build_scheduler(recipe.scheduler, optimizer, epochs, steps)
    autocast = training_precision(recipe, device, bf16)
    use_amp = autocast is torch.float16
    if world > 1 and device.type == "cuda":
        network = nn.SyncBatchNorm.convert_sync_batchnorm(network)  # batch statistics over all GPUs
    model = nn.parallel.DistributedDataParallel(network) if world > 1 else network
    return Parts(network, model, loss, optimizer, scheduler, torch.amp.GradScaler("cuda", enabled=use_amp), autocast,
                 recipe.image_channels)


def training_precision(recipe: Recipe, device: torch.device, bf16: bool) -> torch.dtype | None:
    """The autocast precision of training: the rule of inference (`petseg.device.precision`), with bfloat16 on
    CPUs only when asked for (`--bf16`)."""
    return precision(device, recipe.training.amp, bf16)
