"""Validation on whole cached volumes by Gaussian sliding window: Dice, false-positive volume, top-K AUROC."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from petseg.data.cache import CachedCase
from petseg.metrics.autopet import autopet_metrics, nan_mean
from petseg.metrics.components import Overlap
from petseg.metrics.ranking import top_k_auroc
from petseg.train.step import main_output

HIGHER_IS_BETTER = {"dice": True, "top_k_auroc": True, "fpv_ml": False}


def probability(output: torch.Tensor) -> torch.Tensor:
    """Lesion probability from a network output: softmax channel 1 for two channels, else sigmoid of channel 0."""
    if output.shape[1] == 2:
        return torch.softmax(output.float(), dim=1)[:, 1:2]
    return torch.sigmoid(output[:, :1].float())


@torch.no_grad()
def predict_case(network: nn.Module, image: np.ndarray, roi_zyx: tuple[int, int, int], overlap: float,
                 device: torch.device) -> np.ndarray:
    """Probability map (z, y, x) of one cached image by MONAI's Gaussian sliding window."""
    from monai.inferers import sliding_window_inference

    network.eval()
    tensor = torch.from_numpy(np.array(image, dtype=np.float32))[None].to(device)  # a writable copy of the memmap
    output = sliding_window_inference(tensor, roi_zyx, sw_batch_size=2, predictor=lambda x: main_output(network(x)),
                                      overlap=overlap, mode="gaussian")
    return probability(output)[0, 0].cpu().numpy()


def validate(network: nn.Module, cases: list[CachedCase], roi_zyx: tuple[int, int, int], overlap: float,
             device: torch.device) -> dict[str, Any]:
    """Mean Dice (lesion-positive cases), mean FPV and mean top-K AUROC over `cases`."""
    per_case = []
    for case in cases:
        prob = predict_case(network, case.image(), roi_zyx, overlap, device)
        label = np.asarray(case.label()) > 0
        spacing = case.meta()["spacing"]
        overlap_ = Overlap.of(label, prob >= 0.5, float(np.prod(spacing)) / 1000.0)
        metrics = autopet_metrics(overlap_)
        per_case.append({"case": case.case, "dice": metrics["dice"], "fpv_ml": metrics["fpv_ml"],
                         "top_k_auroc": top_k_auroc(prob, label) if label.any() else math.nan})
    return {"dice": nan_mean(c["dice"] for c in per_case), "fpv_ml": nan_mean(c["fpv_ml"] for c in per_case),
            "top_k_auroc": nan_mean(c["top_k_auroc"] for c in per_case), "cases": per_case}
