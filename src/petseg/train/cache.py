"""The preprocessed cache: each study resampled and normalised once, stored as .npy arrays that
training memory-maps, so folds and epochs never decode NIfTI again.

Layout: `<root>/<key>/<case>/{image.npy (C, z, y, x) float32, label.npy (z, y, x) uint8,
lesion_voxels.npy (N, 3) int32, meta.json}`, where the key hashes the recipe's inputs and
preprocessing and the fingerprint, so a changed recipe never reads stale arrays.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from petseg.console import track
from petseg.data.datalist import DatalistEntry
from petseg.data.study import label_on_pet_grid, load_study
from petseg.errors import PetsegError
from petseg.io.atomic import atomic_path, write_json_atomic
from petseg.io.images import Volume, read_volume
from petseg.preprocess import preprocess_study
from petseg.recipe import Recipe
from petseg.recipe.typed import as_plain

CACHE_VERSION = 3  # 2: missing CT zeroed with a coverage channel, foreground crop; 3: typed recipe keys
MAX_HOT_VOXELS = 50_000  # hard-negative centres kept per study (a random subset of its hot voxels)


def cache_key(recipe: Recipe, fingerprint: dict[str, Any] | None, stage1_dir: Path | None = None) -> str:
    """A short hash of everything that changes the cached arrays."""
    content = json.dumps({"version": CACHE_VERSION, "inputs": list(recipe.inputs),
                          "preprocess": as_plain(recipe.preprocess),
                          "intensity": (fingerprint or {}).get("intensity"),
                          "stage1": str(Path(stage1_dir).resolve()) if stage1_dir else None,
                          "hot_suv": recipe.training.hard_negative_suv}, sort_keys=True)
    return hashlib.sha256(content.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CachedCase:
    """One cached study, memory-mapped on access."""

    case: str
    folder: Path
    positive: bool
    source: str | None = None  # the datalist source of a merged datalist

    def image(self) -> np.ndarray:
        """(C, z, y, x) float32, memory-mapped."""
        return np.load(self.folder / "image.npy", mmap_mode="r")

    def label(self) -> np.ndarray:
        """(z, y, x) uint8, memory-mapped."""
        return np.load(self.folder / "label.npy", mmap_mode="r")

    def lesion_voxels(self) -> np.ndarray:
        """Indices (N, 3) of lesion voxels, for lesion-centred sampling."""
        return np.load(self.folder / "lesion_voxels.npy", mmap_mode="r")

    def hot_voxels(self) -> np.ndarray:
        """Indices (N, 3) of hot voxels outside the lesions (physiological uptake), for hard negatives."""
        return np.load(self.folder / "hot_voxels.npy", mmap_mode="r")

    def meta(self) -> dict[str, Any]:
        """Grid of the cached arrays (spacing, origin, direction) and the case's source files."""
        return json.loads((self.folder / "meta.json").read_text(encoding="utf-8"))


def build_cache(entries: list[DatalistEntry], recipe: Recipe, fingerprint: dict[str, Any] | None,
                root: Path, stage1_dir: Path | None = None) -> list[CachedCase]:
    """Cache every entry (only those not cached yet are computed); returns them in order. A cascade's
    stage-2 recipe reads each study's stage-1 mask from `stage1_dir/<case>.nii.gz`."""
    folder = Path(root) / cache_key(recipe, fingerprint, stage1_dir)
    cases = []
    todo = [e for e in entries if not (folder / e.case / "meta.json").exists()]
    for entry in track(todo, "caching", total=len(todo)):
        _cache_one(entry, recipe, fingerprint, folder / entry.case, stage1_dir)
    for entry in entries:
        meta = json.loads((folder / entry.case / "meta.json").read_text(encoding="utf-8"))
        cases.append(CachedCase(entry.case, folder / entry.case, bool(meta["positive"]), entry.source))
    return cases


def stage1_mask(path: Path, suv: Volume) -> Volume:
    """A stage-1 mask (any grid) on the study's PET grid, 0/1."""
    if not path.is_file():
        raise PetsegError(f"no stage-1 mask {path}: run `petseg predict` with the stage-1 models on these studies")
    return label_on_pet_grid(read_volume(path, np.uint8), suv)


def _save(array: np.ndarray, path: Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)


def _cache_one(entry: DatalistEntry, recipe: Recipe, fingerprint: dict[str, Any] | None,
               folder: Path, stage1_dir: Path | None) -> None:
    study = load_study(entry.pet, entry.ct, entry.label, ct_optional=True)
    extra = {"stage1": stage1_mask(Path(stage1_dir) / f"{entry.case}.nii.gz", study.suv)} if stage1_dir else None
    prepared = preprocess_study(study, recipe, fingerprint, extra)
    image, label, grid = prepared.image, prepared.label, prepared.grid
    if label is None:
        label = np.zeros(image.shape[1:], np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    _save(np.ascontiguousarray(image, dtype=np.float32), folder / "image.npy")
    _save(label, folder / "label.npy")
    _save(np.argwhere(label > 0).astype(np.int32).reshape(-1, 3), folder / "lesion_voxels.npy")
    hot = np.argwhere((prepared.suv >= recipe.training.hard_negative_suv) & (label == 0)).astype(np.int32)
    if len(hot) > MAX_HOT_VOXELS:
        hot = hot[np.random.default_rng(0).choice(len(hot), MAX_HOT_VOXELS, replace=False)]
    _save(hot.reshape(-1, 3), folder / "hot_voxels.npy")
    write_json_atomic(folder / "meta.json", {  # written last: its presence marks a complete entry
        "case": entry.case, "positive": bool(label.any()), "shape_zyx": list(image.shape[1:]),
        "spacing": list(grid.spacing), "origin": list(grid.origin), "direction": list(grid.direction),
        "pet": os.fspath(entry.pet), "ct": os.fspath(entry.ct) if study.ct is not None else None,
        "ct_covered_fraction": study.ct_covered_fraction})
