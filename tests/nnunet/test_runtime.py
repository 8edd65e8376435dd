"""nnunetv2 at run time: nothing from a model folder runs code (checkpoints weights-only, postprocessing.pkl by a
restricted unpickler), trainers are found without timm, mirroring axes map from the PET's axes, the gate's
grid mapping is conservative, and a missing nnunetv2 is one line."""

from __future__ import annotations

import os
import pickle
import sys

import numpy as np
import pytest
import torch

from petseg.errors import PetsegError
from petseg.nnunet.loading import mirror_axes
from petseg.nnunet.runtime import (
    find_trainer_class,
    load_checkpoint,
    load_postprocessing,
    require_nnunetv2,
)

nnunetv2 = pytest.importorskip("nnunetv2")


def test_postprocessing_pkl_of_nnunet_loads_and_foreign_code_is_refused(tmp_path):
    from batchgenerators.utilities.file_and_folder_operations import save_pickle
    from nnunetv2.postprocessing.remove_connected_components import (
        remove_all_but_largest_component_from_segmentation as keep_largest,
    )

    save_pickle(([keep_largest], [{"labels_or_regions": [np.int64(1)]}]), str(tmp_path / "pp.pkl"))
    functions, kwargs = load_postprocessing(tmp_path / "pp.pkl")
    assert functions == [keep_largest] and kwargs == [{"labels_or_regions": [1]}]
    marker = tmp_path / "ran"
    with open(tmp_path / "evil.pkl", "wb") as handle:
        pickle.dump(([os.system], [{"command": f"touch {marker}"}]), handle)
    with pytest.raises(PetsegError, match=r"names posix\.system, which is not nnU-Net's post-processing"):
        load_postprocessing(tmp_path / "evil.pkl")
    assert not marker.exists()


def test_checkpoints_load_weights_only_and_bad_ones_are_one_line(tmp_path):
    good = {"network_weights": {"w": torch.zeros(2)}, "trainer_name": "nnUNetTrainer", "_best_ema": np.float32(0.5),
            "logging": {"train_losses": [np.float64(0.1)]}, "init_args": {"device": torch.device("cpu")}}
    torch.save(good, tmp_path / "good.pth")
    assert load_checkpoint(tmp_path / "good.pth")["trainer_name"] == "nnUNetTrainer"
    (tmp_path / "cut.pth").write_bytes((tmp_path / "good.pth").read_bytes()[:300])
    with pytest.raises(PetsegError, match=r"cut\.pth cannot be loaded as an nnU-Net checkpoint"):
        load_checkpoint(tmp_path / "cut.pth")
    torch.save({**good, "extra": PetsegError("a class outside the allow-list")}, tmp_path / "foreign.pth")
    with pytest.raises(PetsegError, match="weights only"):
        load_checkpoint(tmp_path / "foreign.pth")
    torch.save({"model": {}}, tmp_path / "petseg.pth")
    with pytest.raises(PetsegError, match="is not an nnU-Net checkpoint"):
        load_checkpoint(tmp_path / "petseg.pth")


@pytest.mark.slow
def test_trainers_are_found_without_timm_and_an_unknown_one_is_one_line(monkeypatch):
    from nnunetv2.training.nnUNetTrainer.variants.training_length.nnUNetTrainer_Xepochs import nnUNetTrainer_5epochs

    assert find_trainer_class("nnUNetTrainer_5epochs") is nnUNetTrainer_5epochs
    monkeypatch.setenv("nnUNet_extTrainer", "")
    with pytest.raises(PetsegError, match="'nnUNetTrainerOfTheWinners', which is neither in nnunetv2"):
        find_trainer_class("nnUNetTrainerOfTheWinners")


def test_mirroring_axes_follow_the_pet_axes_through_the_transpose():
    assert mirror_axes(None, (0, 1, 2), [0, 1, 2], 3) == (0, 1, 2)  # the checkpoint's own
    assert mirror_axes((), (0, 1, 2), [0, 1, 2], 3) == ()  # --tta none
    assert mirror_axes((2,), (0, 1, 2), [2, 0, 1], 3) == (0,)  # x is the network's first axis
    assert mirror_axes((1, 2), (0, 1), [0, 1, 2], 2) == (0, 1)  # 2D: in-plane axes
    with pytest.raises(PetsegError, match="--tta z: this nnU-Net model allows mirroring over xy only"):
        mirror_axes((0,), (0, 1), [0, 1, 2], 2)
    with pytest.raises(PetsegError, match="allows mirroring over none only"):
        mirror_axes((0,), None, [0, 1, 2], 3)


def test_the_network_grid_mapping_never_loses_a_voxel():
    from petseg.nnunet.gated import to_network_grid

    mask = np.zeros((30, 40, 50), bool)
    mask[7, 11, 13] = mask[29, 0, 49] = True
    properties = {"bbox_used_for_cropping": [[0, 30], [0, 40], [0, 50]]}
    assert np.array_equal(to_network_grid(mask, properties, [0, 1, 2], (30, 40, 50)), mask)  # same grid: exact
    coarse = to_network_grid(mask, properties, [0, 1, 2], (12, 16, 20))  # resampled by 2.5
    assert coarse[int(7 / 2.5), int(11 / 2.5), int(13 / 2.5)] and coarse[-1, 0, -1]
    assert coarse.sum() < 0.05 * coarse.size
    moved = to_network_grid(mask, {"bbox_used_for_cropping": [[0, 50], [0, 30], [0, 40]]}, [2, 0, 1],
                            (50, 30, 40))
    assert moved[13, 7, 11] and moved.sum() == 2
    for factor in (2.5, 2.0, 0.5):  # the core gate's footprint mapping: coarser, coarser by 2, finer network grid
        shape = tuple(int(n / factor) for n in (30, 40, 50))
        footprint = to_network_grid(mask, properties, [0, 1, 2], shape, widen=False)
        assert not (footprint & ~to_network_grid(mask, properties, [0, 1, 2], shape)).any()  # within the widened
        for voxel in ((7, 11, 13), (29, 0, 49)):  # each set voxel's own network voxel is set
            assert footprint[tuple(min(int(v / factor), n - 1) for v, n in zip(voxel, shape, strict=True))]
        assert footprint.sum() == {2.5: 3, 2.0: 2, 0.5: 16}[factor]  # no widening: the voxels each one overlaps


def test_window_cores_tile_the_image_and_hold_the_voxels_each_window_weighs_most():
    from petseg.nnunet.gated import window_cores

    starts = (0, 13, 27, 40)  # nnU-Net's rounded starts: 72 voxels, windows of 32 at step 0.5 -> 4 per axis
    windows = [(slice(z, z + 32), slice(y, y + 32)) for z in starts for y in (0, 9)]  # 2nd axis: 41 voxels
    cores = window_cores(windows, (72, 41))
    owner = np.zeros((72, 41), int)
    for core in cores:
        owner[core] += 1
    assert (owner == 1).all()  # the cores tile the image
    distance = np.abs(np.arange(72)[:, None] - (np.array(starts) + 16)[None])  # to each window's Gaussian peak
    for window, core in zip(windows, cores, strict=True):  # no window's centre nearer (ties: either)
        assert (distance[core[0], starts.index(window[0].start)] == distance[core[0]].min(axis=1)).all()
    assert [(c[0].start, c[0].stop) for c in cores[::2]] == [(0, 23), (23, 36), (36, 50), (50, 72)]


def test_the_core_gate_runs_windows_whose_core_holds_uptake_and_checks_lesions_and_mask():
    from petseg.nnunet.gated import lesions_covered, mask_untouched, window_runs

    windows = [(slice(0, 4),), (slice(2, 6),), (slice(4, 8),)]  # cores: 0-3, 3-5, 5-8
    hot, lesion, mask = (np.zeros(8, bool) for _ in range(3))
    hot[1] = lesion[1] = mask[1] = True
    assert window_runs(hot, windows, core=True) == window_runs(hot, windows, core=False) == [True, False, False]
    hot[2] = True  # in window 1, not in its core
    assert window_runs(hot, windows, core=True) == [True, False, False]
    assert window_runs(hot, windows, core=False) == [True, True, False]
    runs = window_runs(hot, windows, core=True)
    assert lesions_covered(lesion, windows, runs, core=True) and mask_untouched(mask, windows, runs)
    mask[2] = True  # in the periphery of skipped window 1: only a gated run can say whether it stays
    assert not mask_untouched(mask, windows, runs)
    lesion[3] = True  # in window 0, but in the core of the skipped window 1
    assert lesions_covered(lesion, windows, runs, core=False) and not lesions_covered(lesion, windows, runs, core=True)


def test_a_missing_nnunetv2_is_one_line_naming_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "nnunetv2.inference.predict_from_raw_data", None)
    with pytest.raises(PetsegError, match=r"needs nnunetv2 .*pip install --no-deps nnunetv2==2\.8\.1"):
        require_nnunetv2()
