"""What the commands share: options (tracer, DICOM tags, inference), `--param` parsing and the lesion table.

Help texts are built from the constants they describe (`petseg.tracers`, the recipe's defaults), never
repeated by hand. Nothing here imports torch: a command's `--help` stays instant.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from petseg.console import info, results
from petseg.errors import PetsegError
from petseg.io.suv import UNITS as SUV_UNITS
from petseg.io.suv import SuvOverrides, parse_injection_time
from petseg.recipe.sections import Inference
from petseg.tracers import DEFAULT_TRACER, TRACERS

if TYPE_CHECKING:
    from petseg.models.settings import InferenceOptions
    from petseg.nnunet.folder import NnunetOptions
    from petseg.quantify import Quantification
    from petseg.results import SegmentResult


def _per_tracer(attribute: str) -> str:
    return ", ".join(f"{getattr(t, attribute):g} {name.upper()}" for name, t in TRACERS.items())


# -- every command that reads or makes a study ---------------------------------------------------------------
TRACER = typer.Option(None, "--tracer", help=f"{' or '.join(TRACERS)}: the tracer's parameters, window gate and "
                      f"picture window (default: the one the DICOM radiopharmaceutical names, else "
                      f"{DEFAULT_TRACER}).")

# -- DICOM PET (convert, segment) -------------------------------------------------------------------------
WEIGHT = typer.Option(None, "--weight", help="Patient weight in kg (when PatientWeight is missing or wrong).")
DOSE = typer.Option(None, "--dose", help="Injected dose in MBq (when RadionuclideTotalDose is missing or wrong).")
INJECTION_TIME = typer.Option(None, "--injection-time", help="Injection time, 'YYYY-MM-DD HH:MM:SS' or 'HH:MM:SS'.")
HALF_LIFE = typer.Option(None, "--half-life", help="Radionuclide half-life in s (F-18: 6586.2).")
UNITS = typer.Option(None, "--units", help=f"The PET's units when the header lacks or misstates them: "
                     f"{', '.join(u.lower() for u in SUV_UNITS)}; 'none' reads the values relative to the image's own "
                     "background (its median = 1; a phantom), NOT as SUV.")
SUV_FACTOR = typer.Option(None, "--suv-factor", help="Stored value x F = SUV (when the header cannot give it).")
PET_SERIES = typer.Option(None, "--pet-series", help="SeriesInstanceUID of the PET when a folder holds several.")
CT_SERIES = typer.Option(None, "--ct-series", help="SeriesInstanceUID of the CT when a folder holds several.")
ROI = typer.Option(None, "--roi", help="ROI (RTSTRUCT) or segment (SEG) name of the mask.")

# -- trained models (predict, calibrate, segment --model) -------------------------------------------------
DEVICE = typer.Option("auto", "--device", help="auto, cpu or cuda.")
OVERLAP = typer.Option(None, "--overlap", help="Sliding-window overlap (default: the recipe's, else "
                       f"{Inference().overlap:g}).")
TTA = typer.Option(None, "--tta", help="Test-time flips: axes among x, y, z, every combination run "
                   "(e.g. --tta xyz: 8 passes; none: no flips). Default: none for petseg models; for nnU-Net models "
                   "the mirroring their checkpoint allows, as nnU-Net runs them.")
ENSEMBLE = typer.Option("mean", "--ensemble", help="Combine models by mean probability or majority vote.")
GATE_SUV = typer.Option(None, "--gate-suv", help="Skip windows without a voxel of at least this SUV (default: the "
                        f"calibrated one up to {_per_tracer('gate_ceiling_suv')}, else {_per_tracer('gate_suv')}; "
                        "0 runs every window).")
GATE_REGION = typer.Option(None, "--gate-region", help="core: a window runs when its core (the part it weighs most) "
                           "holds a voxel at the gate SUV; window: when any part does (more windows run). Default: as "
                           "calibrated, else core for petseg models and window for nnU-Net models.")
THRESHOLD = typer.Option(None, "--threshold", help="Probability threshold (default: the calibrated one).")
BATCH = typer.Option(2, "--batch", help="Windows per network pass.")
BF16 = typer.Option(None, "--bf16/--fp32", help="Precision on CPUs (default: bfloat16 where the CPU has it "
                    "natively, else float32).")
THREADS = typer.Option(None, "--threads", help="CPU threads for torch (default: the CPUs this process may use).")
ANATOMY = typer.Option(None, "--anatomy/--no-anatomy", help="Remove learned components lying in physiological "
                       "uptake the SUV method recognises (brain, heart, bladder, kidneys, ...; default: as "
                       "`petseg calibrate` decided).")
SUV_OUTLINE = typer.Option(None, "--suv-outline/--no-suv-outline", help="petseg models: the lesions are the SUV "
                           "method's outlines in which the model finds a lesion (default: as `petseg calibrate` "
                           "decided).")
FOLDS = typer.Option([], "--folds", help="nnU-Net model: the folds to run, e.g. --folds 0 1 2 3 4 (default: every "
                     "fold_* holding the checkpoint, fold_all included).")
CHECKPOINT = typer.Option(None, "--checkpoint", help="nnU-Net model: the checkpoint file of each fold (default: "
                          "checkpoint_final.pth).")


def suv_overrides(weight: float | None, dose: float | None, injection_time: str | None,
                  half_life: float | None, units: str | None = None, suv_factor: float | None = None) -> SuvOverrides:
    """The SUV overrides given on the command line."""
    if units is not None and units.strip().upper() not in SUV_UNITS:
        raise PetsegError(f"--units takes one of {', '.join(u.lower() for u in SUV_UNITS)}, got {units!r}")
    if suv_factor is not None and not suv_factor > 0:
        raise PetsegError(f"--suv-factor must be above 0, got {suv_factor:g}")
    if units is not None and suv_factor is not None:
        raise PetsegError("give --units or --suv-factor, not both")
    return SuvOverrides(weight_kg=weight, dose_bq=dose * 1e6 if dose else None,
                        injection_time=parse_injection_time(injection_time) if injection_time else None,
                        half_life_s=half_life, units=units.strip().upper() if units else None, suv_factor=suv_factor)


def tta_axes(tta: str | None) -> tuple[int, ...] | None:
    """The array axes (0 z, 1 y, 2 x) `--tta` names; None when it was not given, () for `--tta none`."""
    if tta is None:
        return None
    letters = "" if tta.strip().lower() == "none" else tta.lower().replace(",", "")
    if any(c not in "xyz" for c in letters):
        raise PetsegError(f"--tta takes axes among x, y, z (e.g. xyz) or none, got {tta!r}")
    return tuple(sorted({"zyx".index(c) for c in letters}))


def inference_options(device: str, overlap: float | None, tta: str | None, ensemble: str, gate_suv: float | None,
                      threshold: float | None, batch: int, bf16: bool | None, threads: int | None,
                      anatomy: bool | None = None, gate_region: str | None = None,
                      suv_outline: bool | None = None) -> InferenceOptions:
    """InferenceOptions from the command line (`--tta xyz` -> flips over z, y and x)."""
    from petseg.models.settings import InferenceOptions, flip_sets

    if gate_region not in (None, "core", "window"):
        raise PetsegError(f"--gate-region is core or window, got {gate_region!r}")
    return InferenceOptions(device=device, overlap=overlap, batch_size=batch, flips=flip_sets(tta_axes(tta) or ()),
                            ensemble=ensemble, gate_suv=gate_suv, bf16=bf16, threshold=threshold, threads=threads,
                            anatomy=anatomy, gate_core=None if gate_region is None else gate_region == "core",
                            suv_outline=suv_outline)


def nnunet_options(folds: list[str], checkpoint: str | None, tta: str | None) -> NnunetOptions:
    """What an nnU-Net model is asked for: folds (`--folds 0 1 2`, `--folds 0,1`), checkpoint, mirroring."""
    from petseg.nnunet.folder import NnunetOptions

    chosen = tuple(f for item in folds for f in item.replace(",", " ").split())
    return NnunetOptions(folds=chosen or None, checkpoint=checkpoint, mirror_axes=tta_axes(tta))


def join_fold_values(argv: list[str]) -> list[str]:
    """`--folds 0 1 2` (nnU-Net's way of writing it) as `--folds 0,1,2`, the one value the option takes."""
    joined: list[str] = []
    state = ""  # "value": the token after --folds; "more": further fold names join that value
    for token in argv:
        if state == "more" and re.fullmatch(r"\d+|all", token):
            joined[-1] += f",{token}"
            continue
        joined.append(token)
        state = "value" if token == "--folds" else "more" if state == "value" else ""
    return joined


def parse_params(items: list[str]) -> dict[str, str]:
    """'key=value' strings into a dict (values are parsed as YAML where they are applied)."""
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise PetsegError(f"--param takes key=value (e.g. threshold.suv=3.5), got {item!r}")
        params[key.strip()] = value.strip()
    return params


def print_lesion_table(quantification: Quantification, title: str, unit: str = "SUV") -> None:
    """The lesion table and the totals on stdout (`unit`: "SUV", or "x background" for values that are not SUV)."""
    table = Table(title=title)
    names = ("SUVmax", "SUVmean", "SUVpeak") if unit == "SUV" else (f"max {unit}", f"mean {unit}", f"peak {unit}")
    for column in ("#", "volume ml", *names, "TLG"):
        table.add_column(column, justify="right")
    for lesion in quantification.lesions:
        table.add_row(str(lesion.id), f"{lesion.volume_ml:.2f}", f"{lesion.suvmax:.2f}", f"{lesion.suvmean:.2f}",
                      f"{lesion.suvpeak:.2f}", f"{lesion.tlg:.1f}")
    results.print(table)
    totals = quantification.totals
    suvmax = "n/a" if totals["suvmax"] is None else f"{totals['suvmax']:.2f}"
    results.print(f"{totals['lesion_count']} lesion(s), TMTV {totals['tmtv_ml']:.2f} ml, TLG {totals['tlg']:.1f}, "
                  + (f"SUVmax {suvmax}" if unit == "SUV" else f"max {suvmax} {unit} (values NOT SUV)"))


def print_summary(result: SegmentResult, out: Path, written: list[str]) -> None:
    """The lesion table, the metrics against a ground truth, and (on stderr) the paths written."""
    from petseg.results import value_unit

    unit = value_unit(result.study)
    print_lesion_table(result.quantification, f"{len(result.quantification.lesions)} lesion(s)"
                       + ("" if unit == "SUV" else " (values relative to the background, NOT SUV)"), unit)
    if result.metrics:
        m = result.metrics
        dice = "n/a" if m["dice"] != m["dice"] else f"{m['dice']:.3f}"
        results.print(f"vs ground truth: Dice {dice}, FPV {m['fpv_ml']:.2f} ml, FNV {m['fnv_ml']:.2f} ml, "
                      f"{m['tp']}/{m['gt_lesions']} lesions found, {m['fp']} false-positive lesion(s)")
    info(f"results in {out}: {', '.join(written)}")
