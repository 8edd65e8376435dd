"""One optimisation step on a batch, whatever the network's outputs (deep supervision or not)."""

from __future__ import annotations

import torch
from torch import nn

from petseg.models.outputs import main_output
from petseg.train.losses import StepwiseLoss


def compute_loss(loss: nn.Module, output, label: torch.Tensor, fills: torch.Tensor) -> torch.Tensor:
    """The recipe's loss on a network output (lists and DynUNet's stacked heads handled); `fills` are the image
    channels seed 001's auxiliary targets are filled with."""
    if isinstance(loss, StepwiseLoss):
        return loss(main_output(output), label, fills)
    if isinstance(output, torch.Tensor) and output.dim() == label.dim() + 1:  # DynUNet: (B, heads, C, ...)
        output = list(torch.unbind(output, dim=1))
    if isinstance(output, list | tuple) and not hasattr(loss, "weight_mode"):
        output = output[0]
    if isinstance(loss, nn.BCEWithLogitsLoss):
        return loss(output, label.float())
    return loss(output, label)


def training_step(network: nn.Module, loss: nn.Module, optimizer: torch.optim.Optimizer, image: torch.Tensor,
                  label: torch.Tensor, fill_channels: tuple[int, ...] = (0,),
                  scaler: torch.amp.GradScaler | None = None, autocast_dtype: torch.dtype | None = None,
                  distributed: bool = False) -> float | None:
    """Forward, backward and update; returns the loss, or None (no update) when it is not finite.

    `fill_channels` are the image channels (CT, PET) seed 001's auxiliary targets are filled with. With
    `autocast_dtype` the forward pass runs in that precision (`scaler` scales fp16 gradients); with
    `distributed`, all ranks skip together when any rank's loss is not finite (DDP would hang otherwise).
    """
    network.train()
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(image.device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
        value = compute_loss(loss, network(image), label, image[:, list(fill_channels)])
    finite = torch.isfinite(value.detach()).float()
    if distributed:
        torch.distributed.all_reduce(finite, op=torch.distributed.ReduceOp.MIN)
    if finite.item() < 1:
        return None
    if scaler is None:
        value.backward()
        optimizer.step()
    else:
        scaler.scale(value).backward()
        scaler.step(optimizer)
        scaler.update()
    return float(value.detach())
