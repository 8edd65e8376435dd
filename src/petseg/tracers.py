"""Per-tracer constants, decided once: every module that needs one reads it from `TRACERS`, through the study
(`Study.tracer`, decided once when the study is made: `decide_tracer`).

The SUV method's own parameters per tracer live in `methods/suv_params.yaml`; the synthetic uptake of the
phantoms in `data/phantom/tracers.yaml`. What is shared by inference, post-processing and pictures is here.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

from petseg.errors import ImportantWarning, PetsegError


@dataclass(frozen=True)
class Tracer:
    """What petseg assumes of a tracer's uptake."""

    name: str
    gate_suv: float  # sliding windows without a voxel this hot are not run: under any lesion's SUVmax
    # The highest gate a calibration may set: the reference uptake above which readers begin to call lesions
    # (FDG: the normal liver, Deauville 4 / PERCIST; PSMA: the blood pool, miPSMA 1). A held-out fold of a few
    # bright tumours says nothing about the faint lesions of other patients, so it must not gate above this.
    gate_ceiling_suv: float
    suv_floor: float  # post-processing candidate: no lesion voxel is colder than this
    display_suv: float  # upper end of the SUV window of the MIP pictures


DEFAULT_TRACER = "fdg"  # when nothing names the tracer (image files without a header that says)
TRACERS = {
    "fdg": Tracer("fdg", gate_suv=1.5, gate_ceiling_suv=2.5, suv_floor=1.5, display_suv=8.0),
    "psma": Tracer("psma", gate_suv=1.0, gate_ceiling_suv=1.5, suv_floor=1.0, display_suv=15.0),
}


def tracer_named(name: str) -> Tracer:
    """The constants of a tracer by name (case-insensitive); a clear error for one petseg does not know."""
    key = str(name).strip().lower()
    if key not in TRACERS:
        raise PetsegError(f"unknown tracer {name!r}: choose {' or '.join(TRACERS)}")
    return TRACERS[key]

# What DICOM's Radiopharmaceutical (or the agent's code meaning) says, by tracer (case-insensitive).
RADIOPHARMACEUTICALS = {
    "fdg": r"fdg|fluorodeoxyglucose|fludeoxyglucose|\bdeoxyglucose",
    "psma": r"psma|dcfpyl|piflufolastat|gozetotide|flotufolastat|\b1007\b|\bpsma-?11\b",
}


def tracer_of_radiopharmaceutical(text: str | None) -> str | None:
    """The tracer a DICOM radiopharmaceutical names (None when it names neither or nothing)."""
    if not text:
        return None
    found = [name for name, pattern in RADIOPHARMACEUTICALS.items() if re.search(pattern, text, re.IGNORECASE)]
    return found[0] if len(found) == 1 else None


def decide_tracer(asked: str | None, radiopharmaceutical: str | None = None) -> Tracer:
    """The study's tracer, decided once: the one asked for (command line, API), else the one the DICOM header
    names, else FDG; a header that disagrees with the one asked for, or names a tracer petseg does not know,
    is warned about."""
    named = tracer_of_radiopharmaceutical(radiopharmaceutical)
    if asked is not None:
        chosen = tracer_named(asked)
        if named is not None and named != chosen.name:
            warnings.warn(f"the DICOM header names the radiopharmaceutical {radiopharmaceutical!r} ({named.upper()}) "
                          f"but {chosen.name.upper()} was asked for: {chosen.name.upper()}'s settings are used",
                          ImportantWarning, stacklevel=2)
        return chosen
    if named is not None:
        return TRACERS[named]
    if radiopharmaceutical:
        warnings.warn(f"radiopharmaceutical {radiopharmaceutical!r} is neither FDG nor PSMA: read with "
                      f"{DEFAULT_TRACER.upper()}'s settings (give --tracer to choose)", ImportantWarning, stacklevel=2)
    return TRACERS[DEFAULT_TRACER]
