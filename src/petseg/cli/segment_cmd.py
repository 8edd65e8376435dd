"""`petseg segment`: one study in, lesion mask, lesion table, pictures and report out."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

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
    pet: Path = typer.Option(..., "--pet", help="PET in SUV (NIfTI/MHA/NRRD)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder."),
    ct: Path | None = typer.Option(None, "--ct", help="CT in HU (any grid; resampled onto the PET). Optional."),
    label: Path | None = typer.Option(None, "--label", help="Ground truth, to draw and score against (optional)."),
    method: str = typer.Option("suv", "--method", help="Segmentation method: suv (training-free)."),
    tracer: str = typer.Option("fdg", "--tracer", help="fdg or psma (sets the method's parameters)."),
    param: list[str] = typer.Option([], "--param", help="Override a method parameter, key=value "
                                    "(e.g. threshold.mode=percist); repeatable."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the results of an earlier run."),
) -> None:
    """Find and measure the lesions of one study: lesions.nii.gz, lesions.json, lesions.csv, mip.png, report.html."""
    from petseg.api import segment as run_segment
    from petseg.api import write_results
    from petseg.io.outdir import check_output_dir, staged_output_dir

    check_output_dir(out, overwrite)  # refuse before the work, not after
    result = run_segment(pet, ct, label=label, method=method, tracer=tracer, params=parse_params(param))
    with staged_output_dir(out, overwrite) as staging:
        write_results(result, staging)
    print_summary(result, out)


def print_summary(result, out: Path) -> None:
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
    info(f"results in {out}: lesions.nii.gz, lesions.json, lesions.csv, mip.png, report.html")
