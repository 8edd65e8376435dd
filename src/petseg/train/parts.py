"""What one training run optimises, built from a recipe: network (DDP-wrapped when distributed), loss,
optimiser, schedule, AMP scaler and autocast precision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from petseg.console import info
from petseg.device import cpu_supports_bf16
from petseg.models.networks import build_network
from petseg.train.losses import build_loss
from petseg.train.optim import build_optimizer, build_scheduler


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
    pet_channel: int

    @property
    def per_step_schedule(self) -> bool:
        """False for ReduceLROnPlateau, which steps once an epoch with the epoch's loss."""
        return not isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)


def build_parts(recipe: dict[str, Any], fingerprint: dict[str, Any], device: torch.device, world: int, epochs: int,
                steps: int, bf16: bool) -> Parts:
    """The parts of a run; fp16 AMP on GPUs when the recipe asks, bfloat16 on CPUs when asked and native."""
    network = build_network(recipe["network"], len(recipe["inputs"])).to(device)
    loss = build_loss(recipe["loss"], float(np.mean(fingerprint["spacing_mm"]["median"]))).to(device)
    optimizer = build_optimizer(recipe["optimizer"], [*network.parameters(), *loss.parameters()])
    scheduler = build_scheduler(recipe["scheduler"], optimizer, epochs, steps)
    use_amp = bool(recipe["training"].get("amp")) and device.type == "cuda"
    autocast = torch.float16 if use_amp else None
    if bf16 and device.type == "cpu":
        if cpu_supports_bf16():
            autocast = torch.bfloat16
        else:
            info("this CPU has no native bfloat16 (avx512_bf16); training in float32")
    if world > 1 and device.type == "cuda":
        network = nn.SyncBatchNorm.convert_sync_batchnorm(network)  # batch statistics over all GPUs
    model = nn.parallel.DistributedDataParallel(network) if world > 1 else network
    return Parts(network, model, loss, optimizer, scheduler, torch.amp.GradScaler("cuda", enabled=use_amp), autocast,
                 recipe["inputs"].index("pet"))
