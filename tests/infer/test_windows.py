from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from monai.inferers import sliding_window_inference

from petseg.models.settings import InferenceOptions, window_gate
from petseg.models.windows import WindowCount, sliding_probability, uptake_gate, window_coverage
from petseg.recipe import Recipe, load_recipe
from petseg.recipe.sections import Inference
from petseg.tracers import TRACERS

CPU = torch.device("cpu")
FDG, PSMA = TRACERS["fdg"], TRACERS["psma"]


TINY = load_recipe("tiny_unet")


def recipe_of(patch_xyz, roi_xyz=None, overlap=Inference.overlap) -> Recipe:
    """The tiny recipe with another patch, and ROI and overlap (default: the recipe's defaults)."""
    return replace(TINY, training=replace(TINY.training, patch_size=tuple(patch_xyz)),
                   inference=Inference(roi_size=roi_xyz, overlap=overlap))


def smooth_predictor():
    """A fixed random convolution + sigmoid: a deterministic stand-in for a network."""
    torch.manual_seed(0)
    conv = torch.nn.Conv3d(2, 1, 3, padding=1)

    @torch.no_grad()
    def predict(batch: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(conv(batch))

    return predict


def settings(roi_xyz, overlap=0.5, batch=3):
    return InferenceOptions(batch_size=batch, progress=False).resolve(recipe_of(roi_xyz, overlap=overlap), CPU,
                                                                      FDG.gate_suv)


@pytest.mark.parametrize("shape", [(40, 36, 30), (20, 50, 16)])  # the second is smaller than the ROI on 2 axes
def test_without_a_gate_it_is_monai(shape):
    image = np.random.default_rng(0).random((2, *shape), dtype=np.float32)
    predict = smooth_predictor()
    ours, counts = sliding_probability(predict, image, settings((24, 24, 24)), None, CPU)
    reference = sliding_window_inference(torch.from_numpy(image)[None], (24, 24, 24), 3, predict, overlap=0.5,
                                         mode="gaussian")[0, 0].numpy()
    assert ours.shape == reference.shape == shape
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-6)
    assert counts.run == counts.total > 0


@pytest.mark.parametrize("batch", [1, 2, 4])
def test_skipped_windows_count_as_background(batch):
    image = np.zeros((1, 48, 24, 24), np.float32)
    active = np.zeros((48, 24, 24), bool)
    active[2, 12, 12] = True  # only the lowest window holds an active voxel
    ones = lambda windows: torch.ones((windows.shape[0], 1, *windows.shape[2:]))  # noqa: E731
    output, counts = sliding_probability(ones, image, settings((24, 24, 16), batch=batch), active, CPU)
    assert counts == WindowCount(total=5, run=1)
    assert output[:8].min() == 1.0  # covered by the run window only
    assert output[16:].max() == 0.0  # covered by skipped windows only
    assert 0.0 < output[12].mean() < 1.0  # blended where a run and a skipped window overlap


def test_gate_and_settings():
    suv = np.zeros((9, 9, 9), np.float32)
    suv[4, 4, 4] = 3.0
    assert uptake_gate(suv, 1.5).sum() == 1 and uptake_gate(suv, 3.0).sum() == 1
    assert uptake_gate(suv, 5.0).sum() == 0 and uptake_gate(suv, 0.0) is None
    resolved = InferenceOptions().resolve(recipe_of((32, 24, 16)), CPU, window_gate(None, None, PSMA))
    assert resolved.roi_zyx == (16, 24, 32) and resolved.overlap == Inference().overlap and resolved.gate_suv == 1.0
    recipe = recipe_of((32, 32, 32), roi_xyz=(48, 48, 40), overlap=0.25)
    resolved = InferenceOptions(overlap=0.6).resolve(recipe, CPU, 0.0)
    assert resolved.roi_zyx == (40, 48, 48) and resolved.overlap == 0.6 and resolved.gate_suv == 0.0
    validation = InferenceOptions(flips=((), (2,))).for_validation().resolve(recipe, CPU, 0.0)
    assert validation.flips == ((),) and validation.gate_suv == 0.0 and validation.overlap == 0.25


def test_a_calibrated_gate_stops_at_the_tracers_ceiling_and_an_asked_one_does_not():
    assert window_gate(None, 6.0, FDG) == 2.5 and window_gate(None, 6.0, PSMA) == 1.5
    assert window_gate(None, 2.0, FDG) == 2.0 and window_gate(6.0, 2.0, FDG) == 6.0
    assert window_gate(None, None, FDG) == 1.5 and window_gate(-1.0, 3.0, FDG) == 0.0


def test_window_coverage_is_where_running_and_skipped_windows_reach():
    active = np.zeros((48, 24, 24), bool)
    active[2, 12, 12] = True
    ran, skipped = window_coverage(active, settings((24, 24, 16), batch=2))
    assert ran[:16].all() and not ran[16:].any()  # the lowest window (z 0..15) alone runs
    assert skipped[8:].all() and not skipped[:8].any()  # the next window (z 8..23) is skipped
    ran, skipped = window_coverage(np.zeros((48, 24, 24), bool), settings((24, 24, 16)))
    assert not ran.any() and skipped.all()
