"""Find the studies of a dataset on disk: autoPET release layout, nnU-Net raw dataset, plain folder."""

from __future__ import annotations

import re
from pathlib import Path

from petseg.data.datalist import CaseFiles, read_json
from petseg.errors import PetsegError
from petseg.io.images import IMAGE_SUFFIXES

# autoPET III/IV nnU-Net names look like "fdg_0b57b247b6_05-02-2002-NA-..." or "psma_95b833d46f153cd2_2017-...":
# tracer, patient hash, study date. The default patient pattern groups them by hash.
DEFAULT_PATIENT_REGEX = r"^((?:fdg|psma)_[0-9a-fA-F]+)_"

FOLDER_ROLES = {
    "pet": ("suv", "pet", "pt"),
    "ct": ("ctres", "ct"),
    "label": ("label", "seg", "mask", "gt"),
}


def patient_of(case: str, patient_regex: str | None) -> str:
    """The patient id of a case: the first group of `patient_regex` where it matches, else the case."""
    if patient_regex:
        match = re.search(patient_regex, case)
        if match:
            return match.group(1) if match.groups() else match.group(0)
    return case


def import_autopet(root: str | Path) -> list[CaseFiles]:
    """Studies of the autoPET release layout `<root>/PETCT_<id>/<date>/{CTres,SUV,SEG}.nii.gz`."""
    root = _existing_dir(root)
    cases, missing = [], []
    for patient_dir in sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("PETCT_")):
        for study_dir in sorted(p for p in patient_dir.iterdir() if p.is_dir()):
            files = {role: study_dir / f"{role}.nii.gz" for role in ("CTres", "SUV", "SEG")}
            missing += [str(f) for f in files.values() if not f.exists()]
            cases.append(CaseFiles(case=f"{patient_dir.name}_{study_dir.name}", patient=patient_dir.name,
                                   pet=files["SUV"], ct=files["CTres"], label=files["SEG"]))
    _raise_if_missing(missing)
    if not cases:
        raise PetsegError(f"no autoPET study found in {root} (expected PETCT_<id>/<date>/SUV.nii.gz)")
    return cases


def import_nnunet(dataset_dir: str | Path, patient_regex: str | None = DEFAULT_PATIENT_REGEX) -> list[CaseFiles]:
    """Studies of an nnU-Net raw dataset; the CT/PET channel order is read from `dataset.json`."""
    dataset_dir = _existing_dir(dataset_dir)
    meta = read_json(dataset_dir / "dataset.json")
    channels = meta.get("channel_names") or meta.get("modality")
    if not isinstance(channels, dict) or not channels:
        raise PetsegError(f"{dataset_dir / 'dataset.json'} has no 'channel_names' (or 'modality') mapping")
    pet_channel = _channel(channels, ("pet", "suv", "pt"), dataset_dir)
    ct_channel = _channel(channels, ("ct",), dataset_dir, required=False)
    ending = meta.get("file_ending", ".nii.gz")
    cases, missing = [], []
    for images, labels in (("imagesTr", "labelsTr"), ("imagesTs", None)):
        image_dir = dataset_dir / images
        if not image_dir.is_dir():
            continue
        pattern = re.compile(rf"^(.+)_{pet_channel:04d}{re.escape(ending)}$")
        for pet in sorted(image_dir.iterdir()):
            match = pattern.match(pet.name)
            if not match:
                continue
            case = match.group(1)
            ct = image_dir / f"{case}_{ct_channel:04d}{ending}" if ct_channel is not None else None
            label = dataset_dir / labels / f"{case}{ending}" if labels else None
            missing += [str(f) for f in (ct, label) if f is not None and not f.exists()]
            cases.append(CaseFiles(case=case, patient=patient_of(case, patient_regex), pet=pet, ct=ct, label=label))
    _raise_if_missing(missing)
    if not cases:
        raise PetsegError(f"no case found in {dataset_dir}/imagesTr (expected <case>_{pet_channel:04d}{ending})")
    return cases


def import_folder(folder: str | Path, patient_regex: str | None = DEFAULT_PATIENT_REGEX) -> list[CaseFiles]:
    """Studies stored one per subfolder: `<case>/{suv|pet, ct|ctres, label|seg|mask}.<nii.gz|nii|mha|nrrd>`.

    Subfolders without a label become test cases; a subfolder without a PET is an error.
    """
    folder = Path(folder)
    cases, problems = scan_folder(folder, patient_regex)
    if problems:
        raise PetsegError(f"{len(problems)} problem(s) in {folder}: "
                          + "; ".join(f"{folder / case}: {problem}" for case, problem in problems[:3]))
    return cases


def scan_folder(folder: str | Path, patient_regex: str | None = DEFAULT_PATIENT_REGEX
                ) -> tuple[list[CaseFiles], list[tuple[str, str]]]:
    """The studies of a folder as `import_folder` finds them, and (case, problem) for each subfolder that is not
    one (no PET, ambiguous files), so that a cohort run can report those and go on with the rest."""
    folder = _existing_dir(folder)
    cases, problems = [], []
    for case_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found, trouble = {}, []
        for role, names in FOLDER_ROLES.items():
            found[role] = _find_role(case_dir, names, trouble)
        if found["pet"] is None and not trouble:
            trouble.append(f"no PET file (suv/pet + {'/'.join(IMAGE_SUFFIXES)})")
        if trouble:
            problems.append((case_dir.name, "; ".join(trouble)))
            continue
        cases.append(CaseFiles(case=case_dir.name, patient=patient_of(case_dir.name, patient_regex),
                               pet=found["pet"], ct=found["ct"], label=found["label"]))
    if not cases and not problems:
        raise PetsegError(f"no case subfolder found in {folder}")
    return cases, problems


def _find_role(case_dir: Path, names: tuple[str, ...], problems: list[str]) -> Path | None:
    matches = [p for p in case_dir.iterdir()
               if any(p.name.lower() == name + suffix for name in names for suffix in IMAGE_SUFFIXES)]
    if len(matches) > 1:
        problems.append(f"ambiguous files {', '.join(sorted(p.name for p in matches))}")
    return matches[0] if len(matches) == 1 else None


def _channel(channels: dict[str, str], names: tuple[str, ...], where: Path, required: bool = True) -> int | None:
    for key, value in channels.items():
        if str(value).strip().lower() in names:
            return int(key)
    if required:
        raise PetsegError(f"{where / 'dataset.json'}: no {names[0].upper()} channel among {channels}")
    return None


def _existing_dir(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise PetsegError(f"folder not found: {path}")
    return path


def _raise_if_missing(missing: list[str]) -> None:
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise PetsegError(f"{len(missing)} missing file(s): {', '.join(missing[:3])}{more}")
