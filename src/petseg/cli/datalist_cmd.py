"""`petseg datalist`: an Auto3DSeg datalist with patient-grouped folds from a dataset on disk."""

from __future__ import annotations

from pathlib import Path

import typer

from petseg.cli.app import app
from petseg.console import info
from petseg.errors import PetsegError


@app.command(epilog="Example: petseg datalist --autopet /data/FDG-PET-CT-Lesions -o datalist.json --folds 5")
def datalist(
    out: Path = typer.Option(..., "-o", "--out", help="Datalist JSON to write."),
    autopet: Path | None = typer.Option(None, "--autopet", help="autoPET release: PETCT_<id>/<date>/*.nii.gz"),
    nnunet: Path | None = typer.Option(None, "--nnunet", help="nnU-Net raw dataset folder (with dataset.json)."),
    folder: Path | None = typer.Option(None, "--folder", help="Folder of <case>/{suv,ct,label} subfolders."),
    merge: list[Path] = typer.Option([], "--merge", help="Datalists to merge into one (repeat --merge): each study "
                                     "keeps its fold and its patient grouping, and records its source."),
    folds: int = typer.Option(5, "--folds", help="Number of folds."),
    seed: int = typer.Option(0, "--seed", help="Seed of the fold assignment."),
    patient_regex: str | None = typer.Option(
        None, "--patient-regex", help="Regex whose first group is the patient id of a case name "
        "(nnU-Net and folder layouts; default groups autoPET-style fdg_/psma_<hash>_ names)."),
) -> None:
    """Build a datalist whose folds keep each patient's studies together and balance lesion status."""
    from petseg.data import importers
    from petseg.data.datalist import build_datalist, merge_datalists, write_datalist

    chosen = [(name, path) for name, path in (("autopet", autopet), ("nnunet", nnunet), ("folder", folder)) if path]
    if len(chosen) + bool(merge) != 1:
        raise PetsegError("give exactly one of --autopet, --nnunet, --folder, or datalists to --merge")
    if merge:
        data = merge_datalists(merge, out.resolve().parent)
        write_datalist(data, out)
        info(f"{len(data['training'])} training and {len(data['testing'])} test studies from {len(merge)} "
             f"datalists -> {out}")
        return
    name, source = chosen[0]
    if name == "autopet":
        cases = importers.import_autopet(source)
    else:
        regex = patient_regex or importers.DEFAULT_PATIENT_REGEX
        cases = (importers.import_nnunet if name == "nnunet" else importers.import_folder)(source, regex)
    data = build_datalist(cases, out.resolve().parent, folds, seed)
    write_datalist(data, out)
    patients = len({c.patient for c in cases})
    info(f"{len(data['training'])} training and {len(data['testing'])} test studies of {patients} patients "
         f"-> {out}")
