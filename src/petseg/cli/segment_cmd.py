"""`petseg segment`: one study in, lesion mask, lesion table, pictures and report out."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from petseg.cli import dicom_options as opt
from petseg.cli import infer_options as iopt
from petseg.cli.app import app
from petseg.console import info, results
from petseg.errors import PetsegError


def parse_params(items: list[str]) -> dict[str, str]:
    """'key=value' strings into a dict (values are parsed as YAML by the method)."""
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PetsegError(f"--param takes key=value (e.g. threshold.suv=3.5), got {item!r}")
        params[key.strip()] = value.strip()
    return params


@app.command(epilog="Example: petseg segment --pet suv.nii.gz --ct ct.nii.gz -o results/")
def segment(
    pet: Path = typer.Option(..., "--pet", help="PET: SUV image (NIfTI/MHA/NRRD) or DICOM folder/zip (to SUV)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder."),
    ct: Path | None = typer.Option(None, "--ct", help="CT in HU, image or DICOM folder (any grid; resampled onto "
                                   "the PET). Optional; with DICOM input a CT beside the PET is found."),
    label: Path | None = typer.Option(None, "--label", help="Ground truth, to draw and score against (optional; "
                                      "an image, or a SEG/RTSTRUCT with DICOM input)."),
    roi: str | None = opt.ROI,
    model: list[Path] = typer.Option([], "--model", help="Trained model folder(s) (repeat --model for an "
                                     "ensemble); without one the training-free SUV method runs."),
    method: str = typer.Option("suv", "--method", help="Segmentation method without --model: suv."),
    tracer: str = typer.Option("fdg", "--tracer", help="fdg or psma (sets the method's parameters)."),
    param: list[str] = typer.Option([], "--param", help="Override a method parameter, key=value "
                                    "(e.g. threshold.mode=percist); repeatable."),
    dicom_seg: bool = typer.Option(False, "--dicom-seg", help="Also write lesions_seg.dcm for a PET converted by "
                                   "`petseg convert` (always written for DICOM input)."),
    per_lesion: bool = typer.Option(False, "--per-lesion", help="DICOM-SEG with one segment per lesion."),
    weight: float | None = opt.WEIGHT,
    dose: float | None = opt.DOSE,
    injection_time: str | None = opt.INJECTION_TIME,
    half_life: float | None = opt.HALF_LIFE,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the results of an earlier run."),
    device: str = iopt.DEVICE, overlap: float | None = iopt.OVERLAP, tta: str = iopt.TTA,
    ensemble: str = iopt.ENSEMBLE, gate_suv: float | None = iopt.GATE_SUV, threshold: float | None = iopt.THRESHOLD,
    batch: int = iopt.BATCH, bf16: bool = iopt.BF16,
) -> None:
    """Find and measure the lesions of one study: lesions.nii.gz, lesions.json, lesions.csv, mip.png, report.html
    (and lesions_seg.dcm for DICOM)."""
    from petseg.api import segment as run_segment
    from petseg.api import write_results
    from petseg.data.dicom_study import is_dicom_input, recorded_pet_source
    from petseg.io.outdir import check_output_dir, staged_output_dir

    check_output_dir(out, overwrite)  # refuse before the work, not after
    source = recorded_pet_source(pet) if dicom_seg and not is_dicom_input(pet) else None
    result = run_segment(pet, ct, label=label, method=method, tracer=tracer, params=parse_params(param), roi=roi,
                         suv_overrides=opt.suv_overrides(weight, dose, injection_time, half_life), model=model,
                         inference=iopt.inference_options(device, overlap, tta, ensemble, gate_suv, threshold, batch,
                                                          bf16) if model else None)
    with staged_output_dir(out, overwrite) as staging:
        written = write_results(result, staging, dicom_source=source, per_lesion=per_lesion)
    print_summary(result, out, list(written))


def print_summary(result, out: Path, written: list[str]) -> None:
    """The lesion table and totals on stdout, the output paths on stderr."""
    table = Table(title=f"{len(result.quantification.lesions)} lesion(s)")
    for column in ("#", "volume ml", "SUVmax", "SUVmean", "SUVpeak", "TLG"):
        table.add_column(column, justify="right")
    for lesion in result.quantification.lesions:
        table.add_row(str(lesion.id), f"{lesion.volume_ml:.2f}", f"{lesion.suvmax:.2f}", f"{lesion.suvmean:.2f}",
                      f"{lesion.suvpeak:.2f}", f"{lesion.tlg:.1f}")
    results.print(table)
    totals = result.quantification.totals
    results.print(f"TMTV {totals['tmtv_ml']:.2f} ml, TLG {totals['tlg']:.1f}, "
                  f"SUVmax {totals['suvmax'] if totals['suvmax'] is None else round(totals['suvmax'], 2)}")
    if result.metrics:
        m = result.metrics
        dice = "n/a" if m["dice"] != m["dice"] else f"{m['dice']:.3f}"
        results.print(f"vs ground truth: Dice {dice}, FPV {m['fpv_ml']:.2f} ml, FNV {m['fnv_ml']:.2f} ml, "
                      f"{m['tp']}/{m['gt_lesions']} lesions found, {m['fp']} false-positive lesion(s)")
    info(f"results in {out}: {', '.join(written)}")
