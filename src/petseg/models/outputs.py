"""From a network's raw output to the lesion probability, whatever the network (deep supervision, sigmoid
or softmax heads): shared by training, validation and inference."""

from __future__ import annotations

import torch


def main_output(output: torch.Tensor | list[torch.Tensor] | tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The full-resolution prediction of a network that may return deep-supervision outputs."""
    if isinstance(output, list | tuple):
        return output[0]
    return output


def probability(output: torch.Tensor) -> torch.Tensor:
    """Lesion probability (B, 1, ...) from a network output: softmax channel 1 for two channels, else the
    sigmoid of channel 0 (further channels are auxiliary outputs)."""
    if output.shape[1] == 2:
        return torch.softmax(output.float(), dim=1)[:, 1:2]
    return torch.sigmoid(output[:, :1].float())
