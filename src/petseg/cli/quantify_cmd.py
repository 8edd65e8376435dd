"""`petseg quantify`: per-lesion SUV statistics of any mask."""

from __future__ import annotations

from pathlib import Path

import typer

from petseg.cli import common
from petseg.cli.app import app


@app.command(epilog="Example: petseg quantify --pet suv.nii.gz --mask lesions.nii.gz -o lesions.json")
def quantify(
    pet: Path = typer.Option(..., "--pet", help="PET in SUV (NIfTI/MHA/NRRD)."),
    mask: Path = typer.Option(..., "--mask", help="Lesion mask (> 0 is lesion); resampled onto the PET grid if "
                              "needed."),
    out: Path | None = typer.Option(None, "-o", "--out", help="lesions.json to write."),
    csv: Path | None = typer.Option(None, "--csv", help="Lesion table as CSV."),
    tracer: str | None = common.TRACER,
) -> None:
    """Volume (MTV), SUVmax, SUVmean, SUVpeak, TLG and position of each 18-connected lesion, and totals."""
    from petseg.data.study import load_study
    from petseg.io.atomic import write_csv_atomic
    from petseg.quantify import quantify as quantify_mask
    from petseg.results import SegmentResult, write_lesions_json

    study = load_study(pet, label=mask, tracer=tracer)
    lesions = quantify_mask(study.suv, study.label)  # type: ignore[arg-type]
    common.print_lesion_table(lesions, f"{len(lesions.lesions)} lesion(s) in {mask.name}")
    if out is not None:
        result = SegmentResult(study, study.label, lesions, {"name": "input mask", "mask": str(mask)})  # type: ignore
        write_lesions_json(result, out)
    if csv is not None:
        columns, rows = lesions.table()
        write_csv_atomic(csv, rows, columns)
