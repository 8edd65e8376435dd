"""The grand-challenge interface of autoPET: /input/images/{ct,pet}/*.mha in, one .mha mask out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from petseg.errors import PetsegError

CT_FOLDER = Path("images/ct")
PET_FOLDER = Path("images/pet")
OUTPUT_FOLDER = Path("images/automated-petct-lesion-segmentation")


@dataclass(frozen=True)
class ChallengeCase:
    """The input images of one challenge run and where its prediction goes."""

    pet: Path
    ct: Path | None
    output: Path


def _single_image(folder: Path, required: bool) -> Path | None:
    images = sorted(p for p in folder.glob("*.mha")) if folder.is_dir() else []
    if not images:
        if required:
            raise PetsegError(f"no .mha image in {folder}")
        return None
    if len(images) > 1:
        raise PetsegError(f"{len(images)} images in {folder}; the challenge interface passes exactly one")
    return images[0]


def challenge_case(input_dir: str | Path = "/input", output_dir: str | Path = "/output") -> ChallengeCase:
    """The PET and CT of a challenge run; the output is named after the CT (as the autoPET baselines do),
    or after the PET when there is no CT."""
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    pet = _single_image(input_dir / PET_FOLDER, required=True)
    ct = _single_image(input_dir / CT_FOLDER, required=False)
    uuid = (ct or pet).name[: -len(".mha")]  # type: ignore[union-attr]
    return ChallengeCase(pet=pet, ct=ct, output=output_dir / OUTPUT_FOLDER / f"{uuid}.mha")  # type: ignore[arg-type]
