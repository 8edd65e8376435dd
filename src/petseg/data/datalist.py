"""MONAI Auto3DSeg datalists with k folds grouped by patient and balanced by lesion status.

Format (paths relative to the datalist's folder)::

    {"training": [{"case": ..., "patient": ..., "image": CT, "image2": PET, "label": ...,
                   "positive": true, "fold": k}, ...],
     "testing":  [{"case": ..., "patient": ..., "image": CT, "image2": PET}, ...]}

"image" (the CT) is left out for PET-only studies; "image2" (the PET in SUV) is always there. A merged
datalist (`merge_datalists`) adds "source", the datalist each study came from.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from petseg.console import track
from petseg.errors import PetsegError
from petseg.io.atomic import write_json_atomic
from petseg.io.images import read_volume


@dataclass(frozen=True)
class CaseFiles:
    """The files of one study as an importer found them (absolute or cwd-relative paths)."""

    case: str
    patient: str
    pet: Path
    ct: Path | None = None
    label: Path | None = None


@dataclass(frozen=True)
class DatalistEntry:
    """One study of a loaded datalist, with paths resolved against the datalist's folder."""

    case: str
    patient: str
    pet: Path
    ct: Path | None
    label: Path | None
    fold: int | None
    positive: bool | None
    source: str | None = None  # the datalist a merged datalist took the study from


def label_is_positive(path: Path) -> bool:
    """True when the label image holds at least one foreground voxel (read through completely)."""
    return bool(np.any(read_volume(path).array > 0))


def assign_folds(patients: list[str], positive: list[bool], n_folds: int, seed: int = 0) -> list[int]:
    """A fold per study such that a patient's studies share one fold and folds are balanced.

    One fold puts every study in fold 0 (no cross-validation). Patients are placed greedily, largest
    first (ties in a seeded random order), into the fold with the fewest studies of the patient's kind
    (lesion-positive or negative), then the fewest overall.
    """
    if n_folds < 1:
        raise PetsegError(f"need at least 1 fold, got {n_folds}")
    groups: dict[str, list[int]] = defaultdict(list)
    for index, patient in enumerate(patients):
        groups[patient].append(index)
    if len(groups) < n_folds:
        raise PetsegError(f"cannot make {n_folds} folds from {len(groups)} patient(s); use --folds {len(groups)} "
                          "or fewer")
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    order.sort(key=lambda patient: -len(groups[patient]))
    positives, negatives, totals = [0] * n_folds, [0] * n_folds, [0] * n_folds
    folds = [0] * len(patients)
    for patient in order:
        members = groups[patient]
        n_pos = sum(positive[i] for i in members)
        kind_count = positives if n_pos * 2 >= len(members) else negatives
        fold = min(range(n_folds), key=lambda f: (kind_count[f], totals[f], f))
        for i in members:
            folds[i] = fold
        positives[fold] += n_pos
        negatives[fold] += len(members) - n_pos
        totals[fold] += len(members)
    return folds


def build_datalist(cases: list[CaseFiles], datalist_dir: Path, n_folds: int = 5, seed: int = 0,
                   positive: list[bool] | None = None) -> dict[str, list[dict[str, Any]]]:
    """A datalist dict: labelled cases go to "training" with folds, unlabelled ones to "testing".

    `positive` gives each case's lesion status; when omitted it is read from the label files.
    """
    duplicates = [case for case, count in Counter(c.case for c in cases).items() if count > 1]
    if duplicates:
        raise PetsegError(f"duplicate case name(s): {', '.join(sorted(duplicates)[:5])}")
    labelled = [c for c in cases if c.label is not None]
    if positive is None:
        positive = [label_is_positive(c.label) for c in track(labelled, "reading labels")]  # type: ignore[arg-type]
    else:
        positive = [p for c, p in zip(cases, positive, strict=True) if c.label is not None]
    folds = assign_folds([c.patient for c in labelled], positive, n_folds, seed) if labelled else []
    training = [_entry(c, datalist_dir) | {"positive": bool(p), "fold": f}
                for c, p, f in zip(labelled, positive, folds, strict=True)]
    testing = [_entry(c, datalist_dir) for c in cases if c.label is None]
    return {"training": training, "testing": testing}


def _entry(case: CaseFiles, datalist_dir: Path) -> dict[str, Any]:
    entry: dict[str, Any] = {"case": case.case, "patient": case.patient}
    if case.ct is not None:
        entry["image"] = _relative(case.ct, datalist_dir)
    entry["image2"] = _relative(case.pet, datalist_dir)
    if case.label is not None:
        entry["label"] = _relative(case.label, datalist_dir)
    return entry


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), Path(start).resolve())).as_posix()


def merge_datalists(paths: list[Path], datalist_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Several datalists as one, written to `datalist_dir`: every study keeps its fold (each source's folds stay
    grouped by patient), patients are named `<source>:<patient>` so two sources never share one, and "source" (the
    source datalist's folder name, or its file name) says where each study came from; paths are re-rooted."""
    merged: dict[str, list[dict[str, Any]]] = {"training": [], "testing": []}
    names = [Path(p).resolve().parent.name or Path(p).stem for p in paths]
    if len(set(names)) < len(names):
        names = [Path(p).stem if names.count(n) > 1 else n for p, n in zip(paths, names, strict=True)]
    for path, source in zip(paths, names, strict=True):
        loaded = load_datalist(path)
        for split in ("training", "testing"):
            for entry in loaded[split]:
                item = {"case": entry.case, "patient": f"{source}:{entry.patient}", "source": source,
                        "image2": _relative(entry.pet, datalist_dir)}
                if entry.ct is not None:
                    item["image"] = _relative(entry.ct, datalist_dir)
                if entry.label is not None:
                    item["label"] = _relative(entry.label, datalist_dir)
                if split == "training":
                    item |= {"positive": entry.positive, "fold": entry.fold}
                merged[split].append(item)
    duplicates = [c for c, n in Counter(i["case"] for s in merged.values() for i in s).items() if n > 1]
    if duplicates:
        raise PetsegError(f"the datalists share case name(s) {', '.join(sorted(duplicates)[:5])}: rename them in one "
                          "source (predict writes <case>.nii.gz)")
    return merged


def write_datalist(datalist: dict[str, Any], path: Path) -> None:
    """Write a datalist atomically."""
    write_json_atomic(path, datalist)


def load_datalist(path: str | Path) -> dict[str, list[DatalistEntry]]:
    """Read a datalist; returns {"training": [...], "testing": [...]} with resolved paths."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict) or not ({"training", "testing"} & set(data)):
        raise PetsegError(f"{path} is not a datalist: expected a JSON object with 'training' and/or 'testing'")
    return {split: [_parse_entry(item, path, split, i) for i, item in enumerate(data.get(split, []))]
            for split in ("training", "testing")}


def select(datalist: dict[str, list[DatalistEntry]], split: str) -> list[DatalistEntry]:
    """The entries of a split: 'training', 'testing', or 'fold:K' (validation studies of fold K)."""
    if split in ("training", "testing"):
        return datalist[split]
    if split.startswith("fold:") and split[5:].isdigit():
        fold = int(split[5:])
        chosen = [e for e in datalist["training"] if e.fold == fold]
        if not chosen:
            raise PetsegError(f"no study in fold {fold} of the datalist")
        return chosen
    raise PetsegError(f"unknown split {split!r}: use 'training', 'testing' or 'fold:K'")


ALL_FOLDS = "all"  # train on every study (nnU-Net's fold "all"; seed 002's retraining on the whole set)


def parse_fold(text: str | int) -> int | str:
    """A --fold value: a fold number, or 'all'."""
    if str(text).strip().lower() == ALL_FOLDS:
        return ALL_FOLDS
    if not str(text).strip().isdigit():
        raise PetsegError(f"--fold is a fold number (0, 1, ...) or 'all', got {text!r}")
    return int(text)


def split_fold(entries: list[DatalistEntry], fold: int | str) -> tuple[list[DatalistEntry], list[DatalistEntry]]:
    """(training, held out) for cross-validation fold `fold`: its studies are held out, the other folds train;
    fold 'all' trains on every study and holds none out."""
    if not entries:
        raise PetsegError("the datalist has no training studies")
    if fold == ALL_FOLDS:
        return list(entries), []
    folds = sorted({e.fold for e in entries if e.fold is not None})
    held_out = [e for e in entries if e.fold == fold]
    if not held_out:
        raise PetsegError(f"fold {fold} holds no study (the datalist's folds: {', '.join(map(str, folds)) or 'none'})"
                          "; choose one of them, or --fold all")
    training = [e for e in entries if e.fold != fold]
    if not training:
        raise PetsegError(f"fold {fold} leaves no training study")
    return training, held_out


def inner_split(entries: list[DatalistEntry], fraction: float, seed: int = 0
                ) -> tuple[list[DatalistEntry], list[DatalistEntry]]:
    """(training, selection): about `fraction` of the patients carved out of `entries` (grouped by patient,
    balanced by lesion status) to choose a checkpoint on, so that a held-out fold stays unseen."""
    patients = {e.patient for e in entries}
    if fraction <= 0 or len(patients) < 2:
        return list(entries), []
    parts = min(max(round(1.0 / fraction), 2), len(patients))
    folds = assign_folds([e.patient for e in entries], [e.positive is not False for e in entries], parts, seed)
    return ([e for e, f in zip(entries, folds, strict=True) if f != 0],
            [e for e, f in zip(entries, folds, strict=True) if f == 0])


def read_json(path: Path) -> Any:
    """Parse a JSON file, turning every failure into one clear line."""
    if not path.exists():
        raise PetsegError(f"file not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PetsegError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PetsegError(f"cannot read {path}: {exc}") from None


def _parse_entry(item: Any, path: Path, split: str, index: int) -> DatalistEntry:
    if not isinstance(item, dict) or ("image2" not in item and "image" not in item):
        raise PetsegError(f"{path}: {split}[{index}] needs at least 'image2' (PET) or 'image'")
    root = path.parent
    pet_key = "image2" if "image2" in item else "image"
    ct = root / item["image"] if "image" in item and pet_key == "image2" else None
    case = str(item.get("case") or Path(item[pet_key]).parent.name or index)
    fold = item.get("fold")
    return DatalistEntry(case=case, patient=str(item.get("patient", case)), pet=root / item[pet_key], ct=ct,
                         label=root / item["label"] if item.get("label") else None,
                         fold=int(fold) if fold is not None else None, positive=item.get("positive"),
                         source=item.get("source"))
