"""A tiny nnU-Net v2 model folder made with nnunetv2's own tools, for the tests (and the benchmark's agreement run).

Raw dataset (synthetic CT + PET, nnU-Net naming) -> nnunetv2's fingerprint extraction and ExperimentPlanner
(3d_fullres) -> plans shrunk for a CPU (a 3-stage 4-8-16 PlainConvUNet on 32^3 patches) -> per fold, the network
nnunetv2 builds from the plans, fitted for a few hundred steps on the cases as nnunetv2's preprocessor makes them
(enough to call the hot spheres lesions, so that masks can be compared; nnUNetTrainer's own training needs ~10x
longer on a CPU to get there, its augmentation dominating) and saved in nnU-Net's checkpoint format -> the
trainer folder nnUNetTrainer__nnUNetPlans__3d_fullres with dataset.json, plans.json, fold_0/ and
fold_1/checkpoint_final.pth, and a postprocessing.pkl as nnU-Net's find_best_configuration writes it. nnunetv2 runs
with its environment variables pointed into `root`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from collections.abc import Iterator
from copy import deepcopy
from pathlib import Path

import numpy as np
import SimpleITK as sitk

DATASET_ID = 990
TRAINER_FOLDER = "nnUNetTrainer__nnUNetPlans__3d_fullres"
FOLDS = (0, 1)
TRAIN_CASES = 4
PATCH = 32
TINY_NETWORK = {"n_stages": 3, "features_per_stage": [4, 8, 16], "kernel_sizes": [[3, 3, 3]] * 3,
                "strides": [[1, 1, 1], [2, 2, 2], [2, 2, 2]], "n_conv_per_stage": [2, 2, 2],
                "n_conv_per_stage_decoder": [2, 2]}


def synthetic_case(seed: int, shape_zyx: tuple[int, int, int] = (48, 48, 48), spheres: int = 3
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(CT in HU, PET in SUV, label), arrays [z, y, x]: an elliptic body (CT ~40 HU, PET ~0.8 SUV with noise kept
    under 1.3) in air, and hot spheres (SUV 4-10) that are the lesions."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*[np.arange(n) for n in shape_zyx], indexing="ij")
    centre = [(n - 1) / 2 for n in shape_zyx]
    body = ((y - centre[1]) / (0.38 * shape_zyx[1])) ** 2 + ((x - centre[2]) / (0.45 * shape_zyx[2])) ** 2 <= 1
    ct = np.where(body, 40.0, -1000.0) + rng.normal(0, 15, shape_zyx)
    pet = np.where(body, 0.8, 0.02) + np.clip(rng.normal(0, 0.1, shape_zyx), -0.3, 0.3)
    label = np.zeros(shape_zyx, np.uint8)
    for _ in range(spheres):
        radius = rng.uniform(2.5, 4.0)
        at = [rng.uniform(0.25 * n, 0.75 * n) for n in shape_zyx]
        ball = (z - at[0]) ** 2 + (y - at[1]) ** 2 + (x - at[2]) ** 2 <= radius * radius
        pet[ball] = rng.uniform(4.0, 10.0)
        label[ball] = 1
    return ct.astype(np.float32), pet.astype(np.float32), label


def write_image(array: np.ndarray, path: Path, spacing_xyz: tuple[float, float, float] = (4.0, 4.0, 4.0)) -> Path:
    """A NIfTI as nnU-Net's raw data holds it (SimpleITK, identity direction)."""
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing_xyz)
    image.SetOrigin((-100.0, -120.0, 30.0))
    sitk.WriteImage(image, str(path), True)
    return path


@contextlib.contextmanager
def nnunet_environment(root: Path) -> Iterator[None]:
    """nnU-Net's folders under `root`, one process; the old values restored after."""
    values = {"nnUNet_raw": str(root / "raw"), "nnUNet_preprocessed": str(root / "preprocessed"),
              "nnUNet_results": str(root / "results"), "nnUNet_n_proc_DA": "1", "nnUNet_compile": "false"}
    old = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def write_raw_dataset(root: Path, name: str, pet_only: bool) -> Path:
    """imagesTr/labelsTr and dataset.json of a few synthetic cases (PET only: the same cases without CT)."""
    base = root / "raw" / name
    for sub in ("imagesTr", "labelsTr"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    for i in range(TRAIN_CASES):
        ct, pet, label = synthetic_case(seed=i)
        for channel, array in enumerate([pet] if pet_only else [ct, pet]):
            write_image(array, base / "imagesTr" / f"tiny_{i:03d}_{channel:04d}.nii.gz")
        write_image(label, base / "labelsTr" / f"tiny_{i:03d}.nii.gz")
    channels = {"0": "PET"} if pet_only else {"0": "CT", "1": "PET"}
    (base / "dataset.json").write_text(json.dumps({"channel_names": channels, "labels": {"background": 0, "lesion": 1},
                                                   "numTraining": TRAIN_CASES, "file_ending": ".nii.gz"}))
    return base


def pet_only_plans(plans: dict, name: str) -> dict:
    """The CT + PET plans with the CT channel taken out (the PET channel's normalisation and statistics kept), at
    8 mm: a real whole-body PET then takes ~100 windows, not ~1000 (the DICOM test stays affordable)."""
    plans = deepcopy(plans)
    plans["configurations"]["3d_fullres"]["spacing"] = [8.0, 8.0, 8.0]
    plans["dataset_name"] = name
    plans["foreground_intensity_properties_per_channel"] = {
        "0": plans["foreground_intensity_properties_per_channel"]["1"]}
    for configuration in plans["configurations"].values():
        configuration["normalization_schemes"] = configuration["normalization_schemes"][1:]
        configuration["use_mask_for_norm"] = configuration["use_mask_for_norm"][1:]
    return plans


def plan(name: str, root: Path) -> dict:
    """nnunetv2's fingerprint and 3d_fullres plans, shrunk to a tiny network (written back for preprocessing)."""
    from batchgenerators.utilities.file_and_folder_operations import load_json, save_json
    from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import ExperimentPlanner
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprint_dataset,
        plan_experiment_dataset,
    )

    extract_fingerprint_dataset(DATASET_ID, num_processes=1, check_dataset_integrity=False, clean=True,
                                verbose=False, show_progress_bar=False)
    plan_experiment_dataset(DATASET_ID, ExperimentPlanner)
    path = root / "preprocessed" / name / "nnUNetPlans.json"
    plans = deepcopy(load_json(str(path)))
    configuration = plans["configurations"]["3d_fullres"]
    plans["configurations"] = {"3d_fullres": configuration}
    configuration.update({"patch_size": [PATCH] * 3, "batch_size": 2})
    configuration["architecture"]["arch_kwargs"].update(TINY_NETWORK)
    save_json(plans, str(path), sort_keys=False)
    return plans


def preprocessed_cases(name: str, root: Path, plans: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """The training cases as nnunetv2's preprocessor makes them from the raw files (data, seg)."""
    from batchgenerators.utilities.file_and_folder_operations import load_json
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    manager = PlansManager(plans)
    configuration = manager.get_configuration("3d_fullres")
    dataset_json = load_json(str(root / "raw" / name / "dataset.json"))
    preprocessor = configuration.preprocessor_class(verbose=False)
    base = root / "raw" / name
    cases = []
    for i in range(TRAIN_CASES):
        images = sorted(str(p) for p in (base / "imagesTr").glob(f"tiny_{i:03d}_*.nii.gz"))
        data, seg, _ = preprocessor.run_case(images, str(base / "labelsTr" / f"tiny_{i:03d}.nii.gz"), manager,
                                             configuration, dataset_json)
        room = [(0, 0)] + [(0, max(PATCH - n, 0)) for n in data.shape[1:]]  # at least one patch
        cases.append((np.pad(data.astype(np.float32), room), np.pad((seg[0] > 0).astype(np.int64), room[1:])))
    return cases


def fit(network, cases: list[tuple[np.ndarray, np.ndarray]], steps: int, seed: int) -> list[float]:
    """A short fit on random 32^3 crops (half of them centred on a lesion voxel): cross-entropy + soft Dice."""
    import torch

    rng = np.random.default_rng(seed)
    optimiser = torch.optim.Adam(network.parameters(), lr=3e-3)
    losses = []
    network.train()
    for _ in range(steps):
        batch, target = [], []
        for _ in range(2):
            data, seg = cases[rng.integers(len(cases))]
            lesion = np.argwhere(seg > 0)
            centre = lesion[rng.integers(len(lesion))] if rng.random() < 0.5 else [rng.integers(n) for n in seg.shape]
            low = [int(np.clip(c - PATCH // 2, 0, n - PATCH)) for c, n in zip(centre, seg.shape, strict=True)]
            window = tuple(slice(lo, lo + PATCH) for lo in low)
            batch.append(data[(slice(None), *window)])
            target.append(seg[window])
        x, y = torch.from_numpy(np.stack(batch)), torch.from_numpy(np.stack(target))
        logits = network(x)
        p = torch.softmax(logits, 1)[:, 1]
        dice = 1 - (2 * (p * y).sum() + 1) / (p.sum() + y.sum() + 1)
        loss = torch.nn.functional.cross_entropy(logits, y) + dice
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    network.eval()
    return losses


def write_folds(name: str, root: Path, plans: dict, steps: tuple[int, ...]) -> Path:
    """The trainer folder: plans.json, dataset.json, dataset_fingerprint.json (as nnUNetTrainer copies them) and
    per fold the network nnunetv2 builds from the plans, fitted, in nnU-Net's checkpoint format."""
    import torch
    from batchgenerators.utilities.file_and_folder_operations import load_json
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    folder = root / "results" / name / TRAINER_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    dataset_json = load_json(str(root / "raw" / name / "dataset.json"))
    (folder / "plans.json").write_text(json.dumps(plans, indent=1))
    (folder / "dataset.json").write_text(json.dumps(dataset_json, indent=1))
    shutil.copy(root / "preprocessed" / name / "dataset_fingerprint.json", folder)
    manager = PlansManager(plans)
    configuration = manager.get_configuration("3d_fullres")
    inputs = determine_num_input_channels(manager, configuration, dataset_json)
    cases = preprocessed_cases(name, root, plans)
    for fold, fold_steps in zip(FOLDS, steps, strict=False):
        torch.manual_seed(fold)
        network = nnUNetTrainer.build_network_architecture(manager, configuration, inputs, 2,
                                                           enable_deep_supervision=False)
        losses = fit(network, cases, fold_steps, seed=fold)
        checkpoint = {  # what nnUNetTrainer.save_checkpoint writes (its log holds numpy scalars, as here)
            "network_weights": network.state_dict(), "optimizer_state": None, "grad_scaler_state": None,
            "logging": {"train_losses": [np.float32(v) for v in losses]}, "_best_ema": np.float32(0.0),
            "current_epoch": 1, "trainer_name": "nnUNetTrainer", "inference_allowed_mirroring_axes": (0, 1, 2),
            "init_args": {"plans": plans, "configuration": "3d_fullres", "fold": fold, "dataset_json": dataset_json,
                          "device": torch.device("cpu")}}
        (folder / f"fold_{fold}").mkdir(exist_ok=True)
        torch.save(checkpoint, folder / f"fold_{fold}" / "checkpoint_final.pth")
    return folder


def write_postprocessing(folder: Path) -> None:
    """crossval_results_folds_0_1/postprocessing.pkl as find_best_configuration writes it (keep the largest
    component of label 1 - a choice that changes masks, so that tests see it applied)."""
    from batchgenerators.utilities.file_and_folder_operations import save_pickle
    from nnunetv2.postprocessing.remove_connected_components import (
        remove_all_but_largest_component_from_segmentation,
    )

    target = folder / f"crossval_results_folds_{'_'.join(map(str, FOLDS))}"
    target.mkdir(exist_ok=True)
    save_pickle(([remove_all_but_largest_component_from_segmentation], [{"labels_or_regions": [1]}]),
                str(target / "postprocessing.pkl"))


def build_tiny_models(root: Path, steps: tuple[int, ...] = (150, 120), pet_steps: int = 120) -> dict[str, Path]:
    """Trainer folders of two tiny nnU-Net models fitted on synthetic cases (see the module docstring): "petct"
    (CT + PET, folds 0 and 1, with a postprocessing.pkl) and "pet" (PET only, fold 0; its plans are the CT + PET
    plans without the CT channel)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny network: one thread is fastest, also on a busy machine
    root.mkdir(parents=True, exist_ok=True)
    names = {"petct": f"Dataset{DATASET_ID}_PetsegTiny", "pet": f"Dataset{DATASET_ID + 1}_PetsegTinyPET"}
    try:
        with nnunet_environment(root), contextlib.redirect_stdout(io.StringIO()):
            write_raw_dataset(root, names["petct"], pet_only=False)
            write_raw_dataset(root, names["pet"], pet_only=True)
            plans = plan(names["petct"], root)
            (root / "preprocessed" / names["pet"]).mkdir(parents=True, exist_ok=True)
            shutil.copy(root / "preprocessed" / names["petct"] / "dataset_fingerprint.json",
                        root / "preprocessed" / names["pet"])
            folders = {"petct": write_folds(names["petct"], root, plans, steps),
                       "pet": write_folds(names["pet"], root, pet_only_plans(plans, names["pet"]), (pet_steps,))}
            write_postprocessing(folders["petct"])
    finally:
        torch.set_num_threads(threads)
    return folders
