"""nnU-Net model folders for the tests: tiny real ones made with nnunetv2's tools (once per session, about a
minute), fake ones (JSON files and a fold folder) for the refusals that come before anything is loaded, and
nnU-Net's own predictor as the reference."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.nnunet.tiny_model import synthetic_case, write_image


@dataclass(frozen=True)
class Case:
    """A test study as nnU-Net's raw files: CT (_0000), PET (_0001), the truth."""

    ct: Path
    pet: Path
    label: Path

    @property
    def channels(self) -> list[str]:
        return [str(self.ct), str(self.pet)]


@dataclass(frozen=True)
class TinyModels:
    petct: Path  # CT + PET, folds 0 and 1, crossval_results_folds_0_1/postprocessing.pkl
    pet: Path  # PET only, fold 0, planned at 8 mm
    cases: dict[str, Case]  # "grid": 96x64x64 at 4 mm (the plans' spacing); "aniso": 3x3x5 mm; "small": 48^3


def write_case(folder: Path, seed: int, shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> Case:
    folder.mkdir(parents=True, exist_ok=True)
    ct, pet, label = synthetic_case(seed, shape, spheres=3)
    return Case(write_image(ct, folder / "case_0000.nii.gz", spacing), write_image(pet, folder / "case_0001.nii.gz",
                                                                                   spacing),
                write_image(label, folder / "label.nii.gz", spacing))


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> TinyModels:
    pytest.importorskip("nnunetv2")
    from tests.nnunet.tiny_model import build_tiny_models

    root = tmp_path_factory.mktemp("nnunet")
    folders = build_tiny_models(root / "models")
    cases = {"grid": write_case(root / "grid", 100, (96, 64, 64), (4.0, 4.0, 4.0)),
             "aniso": write_case(root / "aniso", 101, (60, 80, 80), (3.0, 3.0, 5.0)),
             "small": write_case(root / "small", 102, (48, 48, 48), (4.0, 4.0, 4.0))}
    return TinyModels(folders["petct"], folders["pet"], cases)


def nnunet_reference(folder: Path, files: list[str], folds: tuple, mirroring: bool = False) -> np.ndarray:
    """nnU-Net's own label map of one case (nnUNetPredictor from the model folder, on the NIfTI files)."""
    import torch
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    with contextlib.redirect_stdout(io.StringIO()):
        predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=mirroring,
                                    device=torch.device("cpu"), allow_tqdm=False)
        predictor.initialize_from_trained_model_folder(str(folder), folds, "checkpoint_final.pth")
        return predictor.predict_from_files_sequential([files], None)[0]


def fake_model(root: Path, folds: tuple[str, ...] = ("0", "1"), channels: dict | None = None,
               checkpoint: bytes = b"not a checkpoint") -> Path:
    """A folder that looks like an nnU-Net trainer folder (its checkpoints are bytes, its plans nearly empty)."""
    folder = root / "Dataset990_Fake" / "nnUNetTrainer__nnUNetPlans__3d_fullres"
    folder.mkdir(parents=True)
    (folder / "dataset.json").write_text(json.dumps({"channel_names": channels or {"0": "CT", "1": "PET"},
                                                     "labels": {"background": 0, "lesion": 1}}))
    (folder / "plans.json").write_text(json.dumps({"dataset_name": "Dataset990_Fake", "configurations": {}}))
    for fold in folds:
        (folder / f"fold_{fold}").mkdir()
        (folder / f"fold_{fold}" / "checkpoint_final.pth").write_bytes(checkpoint)
    return folder


def one_line_error(capsys) -> str:
    """The one `error:` line a refused command printed (no traceback)."""
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and "Traceback" not in err, err
    return err
