"""Top-K AUROC, the model-selection metric of seed paper 002 (Galdran, autoPET II).

For a scan with n lesion voxels, the AUROC is computed on those n voxels against the n background
voxels with the highest predicted probability (the hardest negatives), which removes the class
imbalance that makes the plain voxel AUROC close to 1 for any model.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import rankdata


def top_k_auroc(probability: np.ndarray, label: np.ndarray) -> float:
    """Top-K AUROC of a probability map against a binary label (NaN when the label is empty)."""
    label = np.asarray(label) > 0
    positives = np.asarray(probability)[label].astype(np.float64)
    n = positives.size
    if n == 0:
        return math.nan
    background = np.asarray(probability)[~label].astype(np.float64)
    if background.size == 0:
        return math.nan
    k = min(n, background.size)
    hardest = np.partition(background, background.size - k)[background.size - k:]
    return auroc(positives, hardest)


def auroc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
    ranks = rankdata(np.concatenate([positives, negatives]))
    n_pos, n_neg = positives.size, negatives.size
    u = ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))
