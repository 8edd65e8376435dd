from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.inferers import sliding_window_inference

from petseg.infer.sliding import active_windows, sliding_window, uptake_gate, window_slices


def smooth_predictor():
    """A fixed random convolution + sigmoid: a deterministic stand-in for a network."""
    torch.manual_seed(0)
    conv = torch.nn.Conv3d(2, 1, 3, padding=1)

    @torch.no_grad()
    def predict(batch: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(conv(batch))

    return predict


@pytest.mark.parametrize("shape", [(40, 36, 30), (20, 50, 16)])  # the second is smaller than the ROI on 2 axes
def test_without_a_gate_it_is_monai(shape):
    image = torch.rand((2, *shape))
    predict = smooth_predictor()
    ours, counts = sliding_window(image, (24, 24, 24), predict, overlap=0.5, batch_size=3)
    reference = sliding_window_inference(image[None], (24, 24, 24), 3, predict, overlap=0.5, mode="gaussian")[0]
    assert ours.shape == reference.shape == (1, *shape)
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-6)
    assert counts["run"] == counts["windows"]


def test_skipped_windows_count_as_background():
    image = torch.zeros((1, 48, 24, 24))
    active = np.zeros((48, 24, 24), bool)
    active[2, 12, 12] = True  # only the lowest windows hold an active voxel
    ones = lambda batch: torch.ones((batch.shape[0], 1, *batch.shape[2:]))  # noqa: E731
    output, counts = sliding_window(image, (16, 24, 24), ones, overlap=0.5, active=active)
    assert counts == {"windows": 5, "run": 1}
    assert output[0, :8].min() == 1.0  # covered by the run window only
    assert output[0, 16:].max() == 0.0  # covered by skipped windows only
    assert 0.0 < output[0, 12].mean() < 1.0  # blended where a run and a skipped window overlap


def test_window_activity_and_gate():
    slices = window_slices((32, 32, 32), (16, 16, 16), 0.0)
    assert len(slices) == 8
    active = np.zeros((32, 32, 32), bool)
    active[20, 3, 30] = True
    assert active_windows(active, slices) == [s == (slice(16, 32), slice(0, 16), slice(16, 32)) for s in slices]
    suv = np.zeros((9, 9, 9), np.float32)
    suv[4, 4, 4] = 3.0
    assert uptake_gate(suv, 1.5).sum() == 1 and uptake_gate(suv, 3.0).sum() == 1
    assert uptake_gate(suv, 5.0).sum() == 0
