from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from monai.inferers import sliding_window_inference

from petseg.models.settings import InferenceOptions, window_gate
from petseg.models.windows import (
    WindowCount,
    core_margins,
    gaussian_weights,
    monai_padding,
    sliding_probability,
    uptake_gate,
    window_core,
    window_coverage,
    window_slices,
)
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


@pytest.mark.parametrize("overlap", [0.25, 0.5, 0.9])
def test_windows_and_weights_are_monais(overlap):
    from monai.data.utils import compute_importance_map, dense_patch_slices
    from monai.inferers.utils import _get_scan_interval

    for shape, roi in (((50, 37, 29), (24, 24, 16)), ((24, 61, 96), (24, 32, 96)), ((291, 300, 300), (96, 96, 96))):
        ours = window_slices(shape, replace(settings(roi[::-1], overlap=overlap)))
        assert ours == dense_patch_slices(shape, roi, _get_scan_interval(shape, roi, 3, (overlap,) * 3))
        np.testing.assert_allclose(gaussian_weights(roi, CPU), compute_importance_map(roi, "gaussian", 0.125),
                                   rtol=1e-6, atol=0)


@pytest.mark.parametrize(("shape", "batch"), [((40, 36, 30), 1), ((40, 36, 30), 4), ((20, 50, 16), 2)])
def test_with_a_gate_it_is_monai_with_the_skipped_windows_predicting_0(shape, batch):
    """The windows that run, and the blend, are those of MONAI's sliding window whose predictor returns 0 for the
    windows whose core holds no active voxel (what petseg ran through MONAI before it stitched on its own)."""
    rng = np.random.default_rng(3)
    image = rng.random((2, *shape), dtype=np.float32)
    active = rng.random(shape) > 0.9997
    predict, ran = smooth_predictor(), []
    gated_settings = settings((24, 24, 24), batch=batch)
    padding = monai_padding(shape, gated_settings.roi_zyx)
    gate = np.pad(active, padding)
    margins = core_margins(shape, gated_settings)

    def zero_where_skipped(windows: torch.Tensor, where: list[list[slice]]) -> torch.Tensor:
        run = torch.tensor([bool(gate[window_core(w[2:], gate.shape, margins)].any()) for w in where])
        ran.extend(run.tolist())
        return predict(windows) * run[:, None, None, None, None]

    reference = sliding_window_inference(torch.from_numpy(image)[None], (24, 24, 24), batch, zero_where_skipped,
                                         overlap=0.5, mode="gaussian", with_coord=True)[0, 0].numpy()
    ours, counts = sliding_probability(predict, image, gated_settings, active, CPU)
    assert counts == WindowCount(len(ran), sum(ran)) and 0 < counts.run < counts.total
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-6)
    nothing, none_run = sliding_probability(predict, image, gated_settings, np.zeros(shape, bool), CPU)
    assert none_run == WindowCount(counts.total, 0) and nothing.shape == shape and not nothing.any()


@pytest.mark.parametrize("batch", [1, 2, 4])
def test_skipped_windows_count_as_background(batch):  # the lowest window's core is z 0..11 (margin 4)
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


def test_a_calibrated_gate_stops_at_the_tracers_ceiling_and_the_suv_floor_and_an_asked_one_does_not():
    assert window_gate(None, 6.0, FDG) == 2.5 and window_gate(None, 6.0, PSMA) == 1.5
    assert window_gate(None, 2.0, FDG) == 2.0 and window_gate(6.0, 2.0, FDG) == 6.0
    assert window_gate(None, None, FDG) == 1.5 and window_gate(-1.0, 3.0, FDG) == 0.0
    assert window_gate(None, 6.0, FDG, suv_floor=2.0) == 2.0 and window_gate(None, None, FDG, suv_floor=1.0) == 1.0
    assert window_gate(None, 6.0, FDG, suv_floor=4.0) == 2.5 and window_gate(6.0, 2.0, FDG, suv_floor=1.0) == 6.0


def test_window_coverage_is_where_running_cores_and_skipped_windows_reach():
    active = np.zeros((48, 24, 24), bool)
    active[2, 12, 12] = True
    ran, share = window_coverage(active, settings((24, 24, 16), batch=2))  # windows z 0-15, 8-23, ...: margin 4
    assert ran[:12].all() and not ran[12:].any()  # the core of the lowest window (z 0..11) alone
    assert (share[:8] == 0).all() and (share[8:] > 0).all() and (share[16:] == 1).all()
    ran, share = window_coverage(np.zeros((48, 24, 24), bool), settings((24, 24, 16)))
    assert not ran.any() and np.allclose(share, 1.0)


@pytest.mark.parametrize("overlap", [0.25, 0.5])
def test_window_cores_tile_the_volume(overlap):
    """Every active voxel lies in the core of a window that runs, wherever it is (MONAI's last windows included)."""
    rng = np.random.default_rng(1)
    for shape in ((50, 37, 29), (20, 61, 16)):
        for _ in range(5):
            active = rng.random(shape) > 0.9995
            ran, _ = window_coverage(active, settings((24, 24, 16), overlap=overlap, batch=4))
            assert ran[active].all()
        assert window_coverage(np.ones(shape, bool), settings((24, 24, 16), overlap=overlap))[0].all()


def test_the_core_gate_runs_fewer_windows_within_the_skipped_share():
    """A window whose core holds no active voxel is skipped; the gated probability stays between MONAI's p - share
    and p."""
    image = np.random.default_rng(2).random((2, 48, 40, 40), dtype=np.float32)
    active = np.zeros((48, 40, 40), bool)
    active[20, 21, 21] = True  # in the core of the windows around the centre only
    predict = smooth_predictor()
    core = settings((24, 24, 24), overlap=0.5, batch=2)
    whole = replace(core, gate_core=False)
    gated, counts = sliding_probability(predict, image, core, active, CPU)
    _, whole_counts = sliding_probability(predict, image, whole, active, CPU)
    assert counts.run < whole_counts.run and counts.total == whole_counts.total
    monai, _ = sliding_probability(predict, image, core, None, CPU)
    _, share = window_coverage(active, core)
    assert (gated <= monai + 1e-6).all() and (gated >= monai - share - 1e-6).all()
    assert (np.abs(gated - monai)[share == 0] < 1e-6).all() and (gated < monai - 1e-3).any()


def test_a_mask_is_kept_where_the_skipped_share_cannot_take_a_voxel_off():
    from petseg.infer.calibrate import mask_kept
    from petseg.models.settings import highest_safe_gate as highest_safe

    probability = np.array([0.2, 0.55, 0.7, 0.95], np.float32)
    share = np.array([0.9, 0.0, 0.15, 0.4], np.float32)
    assert mask_kept(probability, share, 0.5, "mean")  # 0.55 - 0, 0.7 - 0.15, 0.95 - 0.4 all >= 0.5
    assert not mask_kept(probability, share, 0.6, "mean")  # 0.7 - 0.15 < 0.6
    assert not mask_kept(probability, share, 0.5, "vote")  # a vote: no skipped window may touch the mask
    assert mask_kept(probability, np.where(probability >= 0.5, 0.0, 1.0), 0.5, "vote")
    assert highest_safe(lambda gate: gate <= 2.6) == 2.5 and highest_safe(lambda gate: False) == 0.0
    asked = []
    assert highest_safe(lambda gate: asked.append(gate) or True, up_to=2.5) == 2.5 and max(asked) <= 2.5
    assert len(asked) <= 4  # 9 candidates up to 2.5: a binary search
