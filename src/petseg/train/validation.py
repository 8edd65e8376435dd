"""Validation on whole cached volumes: Dice, false-positive volume, top-K AUROC.

The windows are predict's: the ROI, overlap and window code that `petseg predict` resolves for this recipe
(`InferenceOptions.for_validation`: one pass, every window run, i.e. MONAI's sliding window exactly).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from petseg.metrics.autopet import autopet_metrics, nan_mean
from petseg.metrics.components import Overlap
from petseg.metrics.ranking import top_k_auroc
from petseg.models.settings import InferenceOptions
from petseg.models.windows import network_predictor, sliding_probability
from petseg.recipe import Recipe
from petseg.train.cache import CachedCase


def validate(network: nn.Module, cases: list[CachedCase], recipe: Recipe, device: torch.device,
             threshold: float) -> dict[str, Any]:
    """Mean Dice (lesion-positive cases), mean FPV and mean top-K AUROC over `cases` at `threshold`."""
    settings = InferenceOptions(progress=False).for_validation().resolve(recipe, device, gate_suv=0.0)
    predict = network_predictor(network, settings)
    network.eval()
    per_case = []
    for case in cases:
        prob, _ = sliding_probability(predict, np.asarray(case.image()), settings, None, device)
        label = np.asarray(case.label()) > 0
        spacing = case.meta()["spacing"]
        metrics = autopet_metrics(Overlap.of(label, prob >= threshold, float(np.prod(spacing)) / 1000.0))
        per_case.append({"case": case.case, "dice": metrics["dice"], "fpv_ml": metrics["fpv_ml"],
                         "top_k_auroc": top_k_auroc(prob, label) if label.any() else math.nan})
    return {"dice": nan_mean(c["dice"] for c in per_case), "fpv_ml": nan_mean(c["fpv_ml"] for c in per_case),
            "top_k_auroc": nan_mean(c["top_k_auroc"] for c in per_case), "cases": per_case}
