"""`petseg segment`: one study in, lesion mask, lesion table, pictures and report out."""

from __future__ import annotations

from pathlib import Path

import typer

from petseg.cli import common
from petseg.cli.app import app


@app.command(epilog="Example: petseg segment --pet suv.nii.gz --ct ct.nii.gz -o results/")
def segment(
    pet: Path = typer.Option(..., "--pet", help="PET: SUV image (NIfTI/MHA/NRRD) or DICOM folder/zip (to SUV)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder."),
    ct: Path | None = typer.Option(None, "--ct", help="CT in HU, image or DICOM folder (any grid; resampled onto "
                                   "the PET). Optional; with DICOM input a CT beside the PET is found."),
    label: Path | None = typer.Option(None, "--label", help="Ground truth, to draw and score against (optional; "
                                      "an image, or a SEG/RTSTRUCT with DICOM input)."),
    roi: str | None = common.ROI,
    model: list[Path] = typer.Option([], "--model", help="Trained model folder(s) (repeat --model for an "
                                     "ensemble), or one nnU-Net v2 model folder or zip; without one the "
                                     "training-free SUV method runs."),
    method: str = typer.Option("suv", "--method", help="Segmentation method without --model: suv."),
    tracer: str | None = common.TRACER,
    param: list[str] = typer.Option([], "--param", help="Override a method parameter, key=value "
                                    "(e.g. threshold.mode=percist); repeatable."),
    dicom_seg: bool = typer.Option(False, "--dicom-seg", help="Also write lesions_seg.dcm for a PET converted by "
                                   "`petseg convert` (always written for DICOM input)."),
    per_lesion: bool = typer.Option(False, "--per-lesion", help="DICOM-SEG with one segment per lesion."),
    pet_series: str | None = common.PET_SERIES,
    ct_series: str | None = common.CT_SERIES,
    weight: float | None = common.WEIGHT,
    dose: float | None = common.DOSE,
    injection_time: str | None = common.INJECTION_TIME,
    half_life: float | None = common.HALF_LIFE,
    units: str | None = common.UNITS,
    suv_factor: float | None = common.SUV_FACTOR,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the results of an earlier run."),
    device: str = common.DEVICE, overlap: float | None = common.OVERLAP, tta: str = common.TTA,
    ensemble: str = common.ENSEMBLE, gate_suv: float | None = common.GATE_SUV,
    gate_region: str | None = common.GATE_REGION,
    threshold: float | None = common.THRESHOLD, batch: int = common.BATCH, bf16: bool | None = common.BF16,
    threads: int | None = common.THREADS, anatomy: bool | None = common.ANATOMY,
    suv_outline: bool | None = common.SUV_OUTLINE, folds: list[str] = common.FOLDS,
    checkpoint: str | None = common.CHECKPOINT,
) -> None:
    """Find and measure the lesions of one study: lesions.nii.gz, lesions.json, lesions.csv, mip.png, report.html
    (and lesions_seg.dcm for DICOM)."""
    from petseg.api import load_predictor, write_results
    from petseg.api import segment as run_segment
    from petseg.data.dicom_study import is_dicom_input, recorded_pet_source
    from petseg.io.outdir import check_output_dir, staged_output_dir

    check_output_dir(out, overwrite)  # refuse before the work, not after
    source = recorded_pet_source(pet) if dicom_seg and not is_dicom_input(pet) else None
    inference = common.inference_options(device, overlap, tta, ensemble, gate_suv, threshold, batch, bf16, threads,
                                         anatomy, gate_region, suv_outline)
    nnunet = common.nnunet_options(folds, checkpoint, tta)
    predictor = load_predictor(model, inference, nnunet) if model else None
    result = run_segment(pet, ct, label=label, method=method, tracer=tracer, params=common.parse_params(param),
                         roi=roi, suv_overrides=common.suv_overrides(weight, dose, injection_time, half_life, units,
                                                                           suv_factor),
                         model=predictor, pet_series=pet_series, ct_series=ct_series)
    with staged_output_dir(out, overwrite) as staging:
        written = write_results(result, staging, dicom_source=source, per_lesion=per_lesion)
    common.print_summary(result, out, list(written))
