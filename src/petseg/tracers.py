"""Per-tracer constants, decided once: every module that needs one reads it from `TRACERS`.

The SUV method's own parameters per tracer live in `methods/suv_params.yaml`; the synthetic uptake of the
phantoms in `data/phantom/tracers.yaml`. What is shared by inference, post-processing and pictures is here.
"""

from __future__ import annotations

from dataclasses import dataclass

from petseg.errors import PetsegError


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
