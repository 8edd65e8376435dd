"""`petseg phantom`: write a synthetic PET/CT cohort."""

from __future__ import annotations

from pathlib import Path

import typer

from petseg.cli import common
from petseg.cli.app import app
from petseg.console import info, track


@app.command(epilog="Example: petseg phantom -o phantoms -n 20 --tracer psma --negatives 0.25")
def phantom(
    out: Path = typer.Option(..., "-o", "--out", help="Output folder."),
    n: int = typer.Option(10, "-n", help="Number of studies."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same bytes)."),
    tracer: str | None = common.TRACER,
    size: str = typer.Option("small", "--size", help="small (tests), medium (CPU training), full (autoPET)."),
    negatives: float = typer.Option(0.2, "--negatives", help="Fraction of lesion-free studies."),
    folds: int = typer.Option(5, "--folds", help="Folds of the datalist (grouped by patient)."),
    min_lesion_mm: float = typer.Option(0.0, "--min-lesion-mm", help="Smallest lesion diameter (site ranges cut "
                                        "below), e.g. 20 to keep lesions above a coarse grid's resolution."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the cohort of an earlier run."),
) -> None:
    """Write synthetic whole-body PET/CT studies: DIR/<case>/{ct,suv,label}.nii.gz and DIR/datalist.json."""
    from petseg.data.phantom import write_phantom_cohort
    from petseg.io.outdir import check_output_dir, staged_output_dir
    from petseg.tracers import DEFAULT_TRACER, tracer_named

    check_output_dir(out, overwrite)
    tracer = tracer_named(tracer or DEFAULT_TRACER).name
    with staged_output_dir(out, overwrite) as staging:
        write_phantom_cohort(staging, n, seed, tracer, size, negatives, folds, min_lesion_mm=min_lesion_mm,
                             progress=lambda plan: track(plan, "phantoms", total=len(plan)))
    info(f"wrote {n} {tracer.upper()} studies to {out} and {out / 'datalist.json'}")
