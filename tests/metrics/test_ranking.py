from __future__ import annotations

import math

import numpy as np
import pytest

from petseg.metrics.ranking import auroc, top_k_auroc


def test_auroc_by_hand():
    assert auroc(np.array([0.9, 0.8]), np.array([0.1, 0.2])) == 1.0
    assert auroc(np.array([0.1]), np.array([0.9])) == 0.0
    assert auroc(np.array([0.5, 0.9]), np.array([0.5, 0.1])) == pytest.approx((1 + 0.5 + 1 + 1) / 4)


def test_top_k_uses_only_the_hardest_background():
    label = np.zeros((4, 4, 4), bool)
    label[0, 0, :2] = True  # n = 2 lesion voxels
    prob = np.full(label.shape, 0.01)
    prob[label] = [0.6, 0.8]
    prob[3, 3, 3] = 0.7  # the hardest negative
    prob[3, 3, 2] = 0.5  # second hardest
    # Evaluation set: positives {0.6, 0.8} vs negatives {0.7, 0.5}: pairs won 3 of 4.
    assert top_k_auroc(prob, label) == pytest.approx(0.75)
    # The plain AUROC on all 62 negatives is much closer to 1: the metric removes the imbalance.
    assert auroc(prob[label], prob[~label]) > 0.97


def test_top_k_edge_cases():
    assert math.isnan(top_k_auroc(np.random.default_rng(0).random((3, 3, 3)), np.zeros((3, 3, 3))))
    label = np.ones((2, 2, 2), bool)
    assert math.isnan(top_k_auroc(np.ones((2, 2, 2)), label))
    perfect = np.zeros((5, 5, 5))
    truth = np.zeros((5, 5, 5), bool)
    truth[2, 2, 2] = True
    perfect[2, 2, 2] = 1.0
    assert top_k_auroc(perfect, truth) == 1.0
