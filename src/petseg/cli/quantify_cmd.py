"""`petseg quantify`: per-lesion SUV statistics of any mask."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from petseg import __version__
from petseg.cli.app import app
from petseg.console import results


@app.command(epilog="Example: petseg quantify --pet suv.nii.gz --mask lesions.nii.gz -o lesions.json")
def quantify(
    pet: Path = typer.Option(..., "--pet", help="PET in SUV (NIfTI/MHA/NRRD)."),
    mask: Path = typer.Option(..., "--mask", help="Lesion mask (> 0 is lesion); resampled onto the PET grid if "
                              "needed."),
    out: Path | None = typer.Option(None, "-o", "--out", help="lesions.json to write."),
    csv: Path | None = typer.Option(None, "--csv", help="Lesion table as CSV."),
) -> None:
    """Volume (MTV), SUVmax, SUVmean, SUVpeak, TLG and position of each 18-connected lesion, and totals."""
    from petseg.data.study import load_study
    from petseg.io.atomic import write_csv_atomic, write_json_atomic
    from petseg.quantify import quantify as quantify_mask

    study = load_study(pet, label=mask)
    result = quantify_mask(study.suv, study.label)  # type: ignore[arg-type]
    table = Table(title=f"{len(result.lesions)} lesion(s) in {mask.name}")
    for column in ("id", "volume ml", "SUVmax", "SUVmean", "SUVpeak", "TLG"):
        table.add_column(column, justify="right")
    for lesion in result.lesions:
        table.add_row(str(lesion.id), f"{lesion.volume_ml:.2f}", f"{lesion.suvmax:.2f}", f"{lesion.suvmean:.2f}",
                      f"{lesion.suvpeak:.2f}", f"{lesion.tlg:.1f}")
    results.print(table)
    totals = result.totals
    results.print(f"total: {totals['lesion_count']} lesion(s), TMTV {totals['tmtv_ml']:.2f} ml, "
                  f"TLG {totals['tlg']:.1f}")
    if out is not None:
        write_json_atomic(out, {"method": "input mask", "petseg_version": __version__,
                                "study": {"pet": str(pet), "mask": str(mask), "spacing_mm": list(study.suv.spacing),
                                          "shape_zyx": list(study.suv.shape)}, **result.as_dict()})
    if csv is not None:
        columns, rows = result.table()
        write_csv_atomic(csv, rows, columns)
