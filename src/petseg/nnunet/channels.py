"""The images an nnU-Net model gets, in the order its dataset.json names them (`channel_names`, or the older
`modality`): the PET in SUV, and the study's CT in HU on the PET grid (autoPET's CTres). Outside the CT's coverage
the CT channel holds petseg's fill value, -1024 HU (air): nnU-Net models know no "missing CT", so a CT shorter than
the PET looks like air there, as it would in a CTres padded by a converter."""

from __future__ import annotations

from typing import Any

import numpy as np

from petseg.data.study import Study
from petseg.errors import PetsegError

CT, PET = "ct", "pet"
NAMES = {"ct": CT, "ctres": CT, "ct_res": CT, "pet": PET, "suv": PET, "pt": PET, "pet_suv": PET}


def channel_names(dataset_json: dict[str, Any]) -> dict[int, str]:
    """dataset.json's channel names by channel index."""
    names = dataset_json.get("channel_names") or dataset_json.get("modality")
    if not isinstance(names, dict) or not names:
        raise PetsegError("the nnU-Net model's dataset.json names no input channels (channel_names)")
    try:
        return {int(index): str(name) for index, name in names.items()}
    except ValueError:
        raise PetsegError(f"dataset.json's channel_names have non-numeric keys: {sorted(names)}") from None


def channel_kinds(dataset_json: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, name) per channel in the model's order; a channel petseg cannot feed is refused in one line."""
    names = channel_names(dataset_json)
    if sorted(names) != list(range(len(names))):
        raise PetsegError(f"dataset.json's channel_names are not numbered 0..{len(names) - 1}: {sorted(names)}")
    kinds = []
    for index in range(len(names)):
        kind = NAMES.get(names[index].strip().casefold().replace(" ", "_"))
        if kind is None:
            raise PetsegError(f"the nnU-Net model's channel {index} is {names[index]!r}; petseg gives nnU-Net models a "
                              "CT (HU on the PET grid) and a PET (SUV) only")
        kinds.append((kind, names[index]))
    return kinds


def model_inputs(study: Study, kinds: list[tuple[str, str]]) -> np.ndarray:
    """(C, z, y, x) float32 in the model's channel order; a channel the study lacks is refused naming it."""
    channels = []
    for index, (kind, name) in enumerate(kinds):
        if kind == PET:
            channels.append(study.suv.array)
        elif study.ct is None:
            raise PetsegError(f"the nnU-Net model needs channel {index} {name!r} (a CT), but the study has none: give "
                              "its CT (--ct), or a PET-only model")
        else:
            channels.append(study.ct.array)
    return np.stack([np.asarray(c, np.float32) for c in channels])
