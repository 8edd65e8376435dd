"""nnU-Net v2 trained-model folders: recognised, checked and described without nnunetv2 or torch.

The folder `nnUNetv2_train` writes, `<Trainer>__<Plans>__<configuration>/` with `dataset.json`, `plans.json` and
`fold_<k>/<checkpoint>` (k = 0..4, or `all`), or the zip `nnUNetv2_export_model_to_zip` makes of it (unpacked once
into petseg's cache, `archive.py`). Folds: those asked for (`--folds`), else every `fold_*` holding the checkpoint,
`fold_all` included (nnU-Net's own auto-detection leaves `fold_all` out: give `--folds 0 1 2 3 4` to run exactly
what it runs where a folder holds both). Post-processing: nnU-Net's `postprocessing.pkl` of the cross-validation
of exactly these folds (`crossval_results_folds_<folds>/`), else of the only cross-validation there is.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from petseg.errors import PetsegError

DATASET_JSON, PLANS_JSON = "dataset.json", "plans.json"
DEFAULT_CHECKPOINT = "checkpoint_final.pth"
POSTPROCESSING = "postprocessing.pkl"
CROSSVAL = "crossval_results_folds_"
READER = "SimpleITKIO"  # the array order petseg's volumes have (ITK's), the default reader of nnU-Net's datasets


@dataclass(frozen=True)
class NnunetOptions:
    """What the user asked of an nnU-Net model; None: nnU-Net's own choice (see the module docstring)."""

    folds: tuple[str, ...] | None = None
    checkpoint: str | None = None  # None: checkpoint_final.pth
    mirror_axes: tuple[int, ...] | None = None  # PET array axes (0 z, 1 y, 2 x); None: what the checkpoint allows

    def asked(self) -> bool:
        """True when folds or a checkpoint were chosen (options that only nnU-Net models take)."""
        return self.folds is not None or self.checkpoint is not None


def is_model_folder(path: Path) -> bool:
    """True for a folder that looks like an nnU-Net trained-model folder (checked in full by `open_folder`)."""
    return path.is_dir() and ((path / DATASET_JSON).is_file() or (path / PLANS_JSON).is_file()) and any(
        child.is_dir() and child.name.startswith("fold_") for child in path.iterdir())


def is_nnunet_model(path: str | Path) -> bool:
    """True for an nnU-Net model folder or a zip (petseg's own model folders are never zips)."""
    path = Path(path)
    return is_model_folder(path) or (path.is_file() and zipfile.is_zipfile(path))


def not_a_model(path: Path) -> PetsegError:
    """The one line for a --model that is neither petseg's nor nnU-Net's (naming nnU-Net folders inside it)."""
    inside = sorted(child.name for child in path.iterdir() if is_model_folder(child)) if path.is_dir() else []
    if inside:
        return PetsegError(f"{path} holds nnU-Net model folders ({', '.join(inside)}): give one of them to --model")
    return PetsegError(f"{path} is neither a petseg model folder (recipe.yaml, model.json) nor an nnU-Net v2 model "
                       f"folder ({DATASET_JSON}, {PLANS_JSON}, fold_*/{DEFAULT_CHECKPOINT})")


def _fold_key(fold: str) -> tuple[int, str]:
    return (1, fold) if not fold.isdigit() else (0, f"{int(fold):04d}")


def fold_label(folds: tuple[str, ...]) -> str:
    """'folds 0-4', 'folds 0,2', 'fold all', 'fold 3'."""
    numbers = [int(f) for f in folds if f.isdigit()]
    if len(folds) == 1:
        return f"fold {folds[0]}"
    if len(numbers) == len(folds) and numbers == list(range(numbers[0], numbers[0] + len(numbers))):
        return f"folds {numbers[0]}-{numbers[-1]}"
    return "folds " + ",".join(folds)


@dataclass(frozen=True)
class NnunetFolder:
    """A checked nnU-Net model folder: its JSON files, the folds to run and their checkpoint files."""

    path: Path
    dataset_json: dict[str, Any]
    plans: dict[str, Any]
    folds: tuple[str, ...]
    checkpoint: str
    source: Path  # what was given: the folder, or the zip it was unpacked from

    @property
    def checkpoints(self) -> list[Path]:
        """One checkpoint file per fold, in fold order."""
        return [self.path / f"fold_{fold}" / self.checkpoint for fold in self.folds]

    @property
    def configuration(self) -> str:
        """The configuration the folder's name gives (Trainer__Plans__configuration), e.g. 3d_fullres."""
        parts = self.path.name.split("__")
        return parts[2] if len(parts) == 3 else "unknown configuration"

    @property
    def dataset(self) -> str:
        """The dataset's name in the plans (e.g. Dataset221_AutoPETII_2023)."""
        return str(self.plans.get("dataset_name", "unknown dataset"))

    @property
    def description(self) -> str:
        """How results name the model: 'nnU-Net v2 Dataset221_AutoPETII 3d_fullres folds 0-4'."""
        return f"nnU-Net v2 {self.dataset} {self.configuration} {fold_label(self.folds)}"

    def postprocessing_file(self) -> Path | None:
        """nnU-Net's postprocessing.pkl for these folds (see the module docstring), or None."""
        exact = self.path / f"{CROSSVAL}{'_'.join(self.folds)}" / POSTPROCESSING
        if exact.is_file():
            return exact
        found = sorted(self.path.glob(f"{CROSSVAL}*/{POSTPROCESSING}"))
        return found[0] if len(found) == 1 else None


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise PetsegError(f"{path.parent} is not a complete nnU-Net model folder: {path.name} is missing")
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PetsegError(f"{path} is not valid JSON ({error}); restore the model folder") from None
    if not isinstance(content, dict):
        raise PetsegError(f"{path} is not an nnU-Net {path.name} (no JSON object)")
    return content


def available_folds(path: Path, checkpoint: str) -> list[str]:
    """The folds of `path` holding `checkpoint`, numbered ones first."""
    folds = [child.name[len("fold_"):] for child in path.iterdir()
             if child.is_dir() and re.fullmatch(r"fold_(\d+|all)", child.name) and (child / checkpoint).is_file()]
    return sorted(folds, key=_fold_key)


def choose_folds(path: Path, checkpoint: str, asked: tuple[str, ...] | None) -> tuple[str, ...]:
    """The folds to run: those asked for (each must hold the checkpoint), else every one holding it."""
    present = available_folds(path, checkpoint)
    if asked is None:
        if not present:
            raise PetsegError(f"{path} holds no fold_*/{checkpoint}: did the training finish? (another checkpoint: "
                              "--checkpoint NAME)")
        return tuple(present)
    chosen = tuple(str(int(f)) if f.isdigit() else f for f in asked)
    for fold in chosen:
        if not re.fullmatch(r"\d+|all", fold):
            raise PetsegError(f"--folds takes fold numbers or 'all', got {fold!r}")
        if fold not in present:
            held = ", ".join(present) or "none"
            raise PetsegError(f"fold {fold} of {path} is missing (no fold_{fold}/{checkpoint}); the folder holds "
                              f"fold(s) {held}")
    return tuple(dict.fromkeys(chosen))


def open_folder(given: str | Path, options: NnunetOptions | None = None) -> NnunetFolder:
    """The checked model folder of `given` (a folder, or a zip unpacked into the cache)."""
    from petseg.nnunet.archive import unpack_model_zip

    options = options or NnunetOptions()
    source = Path(given)
    if not source.exists():
        raise PetsegError(f"model {source} does not exist")
    path = unpack_model_zip(source) if source.is_file() else source
    dataset_json, plans = _read_json(path / DATASET_JSON), _read_json(path / PLANS_JSON)
    reader = plans.get("image_reader_writer", READER)
    if reader != READER:
        raise PetsegError(f"{path} was planned with nnU-Net's image reader {reader}; petseg gives nnU-Net models the "
                          f"arrays {READER} reads (nnU-Net's default for NIfTI, MHA and NRRD) and runs only those")
    checkpoint = options.checkpoint or DEFAULT_CHECKPOINT
    if "/" in checkpoint or checkpoint in ("", ".", ".."):
        raise PetsegError(f"--checkpoint names a file in each fold folder (e.g. {DEFAULT_CHECKPOINT}), got "
                          f"{checkpoint!r}")
    folds = choose_folds(path, checkpoint, options.folds)
    return NnunetFolder(path, dataset_json, plans, folds, checkpoint, source)
