"""`petseg convert`: DICOM PET (to SUV), CT and SEG/RTSTRUCT masks to NIfTI on the PET grid."""

from __future__ import annotations

from pathlib import Path

import typer

from petseg import __version__
from petseg.cli import common
from petseg.cli.app import app
from petseg.console import info, step


@app.command(epilog="Example: petseg convert --pet dicom/PET --ct dicom/CT --mask rtstruct.dcm --roi GTV -o study/")
def convert(
    pet: Path = typer.Option(..., "--pet", help="Folder or zip with the PET series (may hold the CT too)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder."),
    ct: Path | None = typer.Option(None, "--ct", help="Folder or zip with the CT series (default: the PET's)."),
    mask: Path | None = typer.Option(None, "--mask", help="DICOM SEG or RTSTRUCT file with the lesions."),
    roi: str | None = common.ROI,
    weight: float | None = common.WEIGHT,
    dose: float | None = common.DOSE,
    injection_time: str | None = common.INJECTION_TIME,
    half_life: float | None = common.HALF_LIFE,
    units: str | None = common.UNITS,
    suv_factor: float | None = common.SUV_FACTOR,
    pet_series: str | None = common.PET_SERIES,
    ct_series: str | None = common.CT_SERIES,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the results of an earlier run."),
) -> None:
    """Write suv.nii.gz, ct.nii.gz (on the PET grid), label.nii.gz and conversion.json (factor, tags, warnings)."""
    from petseg.data.dicom_study import load_dicom_study
    from petseg.io.atomic import write_json_atomic
    from petseg.io.images import write_volume
    from petseg.io.outdir import check_output_dir, staged_output_dir

    check_output_dir(out, overwrite)
    timings: dict[str, float] = {}
    with step("reading DICOM", timings):
        study = load_dicom_study(pet, ct, mask=mask, roi=roi, pet_series=pet_series, ct_series=ct_series,
                                 overrides=common.suv_overrides(weight, dose, injection_time, half_life, units,
                                                                suv_factor))
    conversion = dict(study.meta["conversion"])
    with staged_output_dir(out, overwrite) as staging:
        write_volume(study.suv, staging / "suv.nii.gz")
        if study.ct is not None:
            write_volume(study.ct, staging / "ct.nii.gz")
        if study.label is not None:
            write_volume(study.label, staging / "label.nii.gz")
            conversion["mask"] = {"source": str(mask), "roi": roi, "voxels": int(study.label.array.sum()),
                                  "volume_ml": float(study.label.array.sum() * study.suv.voxel_ml)}
        write_json_atomic(staging / "conversion.json", {"petseg_version": __version__, **conversion,
                                                        "grid": study.suv.describe_grid()})
    suv = study.suv
    info(f"SUV factor {conversion['suv_factor']:.6g} ({conversion['units']}); PET {suv.describe_grid()}; "
         f"SUVmax {float(suv.array.max()):.2f}; CT {'yes' if study.ct is not None else 'none'}; "
         f"mask {conversion['mask']['voxels'] if 'mask' in conversion else 'none'} voxels")
    typer.echo(str(out))
