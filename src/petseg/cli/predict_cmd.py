"""`petseg predict` and `petseg calibrate`: trained models over a cohort; an ensemble's threshold."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from petseg.cli import common
from petseg.cli.app import app
from petseg.console import info, results, track
from petseg.errors import PetsegError

if TYPE_CHECKING:
    from petseg.models.settings import InferenceOptions
    from petseg.nnunet.folder import NnunetOptions


def _studies(datalist: Path | None, split: str, folder: Path | None) -> list:
    """The cohort; with --input, case folders that are not studies come as `Unlisted` entries, reported later."""
    from petseg.cohort.run import Unlisted
    from petseg.data.datalist import load_datalist, select
    from petseg.data.importers import scan_folder

    if (datalist is None) == (folder is None):
        raise PetsegError("give either --datalist (with --split) or --input DIR")
    if datalist is not None:
        return select(load_datalist(datalist), split)
    cases, problems = scan_folder(folder)  # type: ignore[arg-type]
    return sorted([*cases, *(Unlisted(case, problem) for case, problem in problems)], key=lambda e: e.case)


def _run_key(model: list[Path], datalist: Path | None, split: str, folder: Path | None,
             share: tuple[int, int] | None, settings: dict) -> dict:
    """What makes two predict runs the same run (their shards may share an output folder)."""
    cohort = {"datalist": str(datalist.resolve()), "split": split} if datalist else {"input": str(folder.resolve())}
    return {"models": [str(m.resolve()) for m in model], "cohort": cohort, "shards": share[1] if share else 1,
            **settings}


@app.command(epilog="Example: petseg predict --model runs/f0 --model runs/f1 --datalist d.json --split testing "
             "-o preds --tta xyz --shard 1/4   (on a cluster: --shard auto in each Slurm array task or torchrun rank, "
             "then petseg predict --join preds)")
def predict(
    model: list[Path] = typer.Option([], "--model", help="Model folder(s): an ensemble; a MIP classifier "
                                     "folder gates it; stage-2 folders make a cascade. Repeat --model per folder. "
                                     "Or one nnU-Net v2 model folder or zip."),
    out: Path | None = typer.Option(None, "-o", "--out", help="Output folder: <case>.nii.gz masks, "
                                    "<case>.lesions.json, <case>.thumb.png, summary.csv and summary.html."),
    datalist: Path | None = typer.Option(None, "--datalist", help="Datalist JSON of the studies."),
    split: str = typer.Option("testing", "--split", help="Datalist split: training, testing or fold:K."),
    folder: Path | None = typer.Option(None, "--input", help="Folder of studies (<case>/{suv,ct}.nii.gz)."),
    shard: str | None = typer.Option(None, "--shard", help="I/N: this machine's share of the cohort "
                                     "(summary-I-of-N.csv); auto: I/N of the Slurm job array task "
                                     "(SLURM_ARRAY_TASK_ID) or torchrun rank (RANK, WORLD_SIZE)."),
    join: Path | None = typer.Option(None, "--join", help="After the last shard: join the shards' summaries in "
                                     "this output folder into summary.csv and summary.html (alone, no other "
                                     "option)."),
    tracer: str | None = common.TRACER,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the results of an earlier run (or of this "
                                   "shard); only the files predict wrote are removed."),
    device: str = common.DEVICE, overlap: float | None = common.OVERLAP, tta: str = common.TTA,
    ensemble: str = common.ENSEMBLE, gate_suv: float | None = common.GATE_SUV,
    gate_region: str | None = common.GATE_REGION, threshold: float | None = common.THRESHOLD, batch: int = common.BATCH,
    bf16: bool | None = common.BF16, threads: int | None = common.THREADS, anatomy: bool | None = common.ANATOMY,
    suv_outline: bool | None = common.SUV_OUTLINE, folds: list[str] = common.FOLDS,
    checkpoint: str | None = common.CHECKPOINT,
) -> None:
    """Segment every study of a cohort with an ensemble of model folders; a failed study is reported and skipped."""
    from petseg.cohort.shards import parse_shard

    if join is not None:
        if model or out or datalist or folder or shard:
            raise PetsegError("--join OUT takes no other option (run it once every shard has finished)")
        _join(join)
        return
    if not model or out is None:
        raise PetsegError("give --model (one or more model folders) and -o OUT (or --join OUT to join shards)")
    share = parse_shard(shard)
    settings = {"tracer": tracer, "overlap": overlap, "tta": tta, "ensemble": ensemble, "gate_suv": gate_suv,
                "gate_region": gate_region, "threshold": threshold, "bf16": bf16, "anatomy": anatomy,
                "suv_outline": suv_outline, "folds": folds,
                "checkpoint": checkpoint}
    options = common.inference_options(device, overlap, tta, ensemble, gate_suv, threshold, batch, bf16, threads,
                                       anatomy, gate_region, suv_outline)
    _predict(model, out, datalist, split, folder, share, settings, overwrite, options,
             common.nnunet_options(folds, checkpoint, tta))


def _predict(model: list[Path], out: Path, datalist: Path | None, split: str, folder: Path | None,
             share: tuple[int, int] | None, settings: dict, overwrite: bool, options: InferenceOptions,
             nnunet: NnunetOptions) -> None:
    """Run the ensemble over this shard of the cohort (the whole cohort without one)."""
    from petseg.api import load_predictor
    from petseg.cohort.output import prepare_output
    from petseg.cohort.run import predict_cohort
    from petseg.cohort.shards import summary_name

    studies = _studies(datalist, split, folder)
    predictor = load_predictor(model, options, nnunet)
    prepare_output(out, _run_key(model, datalist, split, folder, share, settings), summary_name(share), overwrite)
    summary = out / summary_name(share)
    rows = predict_cohort(predictor, studies, out, settings["tracer"], share,
                          progress=lambda items: track(items, "studies", total=len(items)))
    failed = [r for r in rows if r["status"] != "ok"]
    shown = f"shard {share[0]} of {share[1]}: " if share else ""
    info(f"{shown}{len(rows) - len(failed)} of {len(rows)} studies segmented -> {summary} "
         f"(at a glance: {summary.with_suffix('.html')})")
    if failed:
        raise PetsegError(f"{len(failed)} study(ies) failed (see {summary}): "
                          + "; ".join(f"{r['case']}: {r['error']}" for r in failed[:3]))


def _join(out: Path) -> None:
    """The cohort's summary from its shards' summaries."""
    from petseg.cohort.join import join_shards

    rows, summary = join_shards(out)
    failed = sum(row["status"] != "ok" for row in rows)
    info(f"joined {len(rows)} studies ({failed} failed) -> {summary} (at a glance: {summary.with_suffix('.html')})")


@app.command(epilog="Example: petseg calibrate --model runs/f0 --model runs/f1 --datalist d.json --split fold:0")
def calibrate(
    model: list[Path] = typer.Option(..., "--model", help="The ensemble's model folders (repeat --model)."),
    datalist: Path = typer.Option(..., "--datalist", help="Datalist JSON with the held-out studies."),
    split: str = typer.Option("testing", "--split", help="Held-out split: testing or fold:K (none of the "
                              "models may have trained on it), or out-of-fold: each cross-validation member's "
                              "predictions on the fold it held out, pooled (as nnU-Net chooses an ensemble's "
                              "post-processing; --datalist is the one the members trained with)."),
    objective: str = typer.Option("dice", "--objective", help="dice (mean Dice) or autopet (ranking of Dice, "
                                  "FPV, FNV)."),
    tracer: str | None = common.TRACER,
    device: str = common.DEVICE, overlap: float | None = common.OVERLAP, tta: str = common.TTA,
    ensemble: str = common.ENSEMBLE, batch: int = common.BATCH, bf16: bool | None = common.BF16,
    threads: int | None = common.THREADS, folds: list[str] = common.FOLDS, checkpoint: str | None = common.CHECKPOINT,
) -> None:
    """Choose the ensemble's threshold, post-processing and window gate on held-out studies (every window run, so
    the probabilities are MONAI's); store them in the model folders. For an nnU-Net model: the window gate only
    (its threshold stays nnU-Net's argmax)."""
    from petseg.api import load_predictor
    from petseg.data.datalist import load_datalist
    from petseg.infer.calibrate import OUT_OF_FOLD
    from petseg.infer.calibrate import calibrate as run_calibration
    from petseg.tracers import decide_tracer

    pooled = split == OUT_OF_FOLD
    studies = load_datalist(datalist)["training"] if pooled else _studies(datalist, split, None)
    chosen = decide_tracer(tracer)
    predictor = load_predictor(model, common.inference_options(device, overlap, tta, ensemble, None, None, batch, bf16,
                                                               threads), common.nnunet_options(folds, checkpoint, tta))
    if hasattr(predictor, "folder"):  # an nnU-Net model
        if pooled:
            raise PetsegError("--split out-of-fold calibrates petseg's cross-validation members; calibrate an nnU-Net "
                              "model on studies none of its folds trained on (--split testing or fold:K)")
        _calibrate_nnunet(predictor, studies, chosen)
        return
    result = run_calibration(predictor, studies, objective, chosen,  # type: ignore[arg-type]
                             progress=lambda items: track(items, "held-out studies", total=len(items)),
                             split_out_of_fold=pooled)
    held = "out-of-fold predictions" if pooled else "held-out studies"
    table = Table(title=f"calibration on {len(result['cases'])} {held} ({objective})")
    for column in ("", "threshold", "Dice", "FPV ml", "FNV ml"):
        table.add_column(column, justify="right")
    for name, key, value in (("default", "at_0.5", 0.5), ("chosen", "chosen", result["threshold"])):
        row = result[key]
        table.add_row(name, f"{value:.3f}", f"{row['dice']:.3f}", f"{row['fpv_ml']:.2f}", f"{row['fnv_ml']:.2f}")
    results.print(table)
    results.print(f"post-processing: {result['postprocess'] or 'none'}; window gate: {_gate_line(result, chosen)}")
    info(f"calibration.json written to {len(model)} model folder(s)")


def _gate_line(result: dict, tracer) -> str:
    """The gate predict will run at, and the held-out studies' own where the tracer's ceiling or the SUV floor
    caps it."""
    from petseg.models.settings import window_gate

    floor = (result.get("postprocess") or {}).get("suv_floor")  # an nnU-Net model's calibration has none
    gate = window_gate(None, result["gate_suv"], tracer, floor)
    capped = result["gate_suv"] is not None and gate < result["gate_suv"]
    cap = "the post-processing's SUV floor" if floor is not None and gate == floor else \
        f"{tracer.name.upper()}'s ceiling"
    region = " on windows' cores" if result.get("gate_core") else " on whole windows"
    return f"SUV {gate:g}{region}" + (f" (the held-out studies allow up to {result['gate_suv']:g}; capped at "
                                      f"{cap})" if capped else "")


def _calibrate_nnunet(predictor, studies: list, tracer) -> None:
    """`petseg calibrate` of an nnU-Net model: the window gate, the held-out studies' metrics at nnU-Net's mask."""
    from petseg.nnunet.calibrate import CALIBRATION, calibrate_gate

    result = calibrate_gate(predictor, studies, tracer,
                            progress=lambda items: track(items, "held-out studies", total=len(items)))
    table = Table(title=f"{result['model']}: {len(result['cases'])} held-out studies, every window run")
    for column in ("case", "Dice", "FPV ml", "FNV ml", "+ anatomy: Dice", "FPV ml", "safe gate SUV: cores",
                   "whole windows"):
        table.add_column(column, justify="right")
    for case in result["cases"]:
        dice = "n/a" if case["dice"] != case["dice"] else f"{case['dice']:.3f}"
        cleaned = "n/a" if case["anatomy_dice"] != case["anatomy_dice"] else f"{case['anatomy_dice']:.3f}"
        table.add_row(case["case"], dice, f"{case['fpv_ml']:.2f}", f"{case['fnv_ml']:.2f}", cleaned,
                      f"{case['anatomy_fpv_ml']:.2f}", f"{case['gate_suv_core']:g}", f"{case['gate_suv_window']:g}")
    results.print(table)
    anatomy = "kept" if result["anatomy"] else "left out"
    results.print(f"threshold: nnU-Net's ({result['rule']}); window gate: {_gate_line(result, tracer)}; "
                  f"anatomy step: {anatomy}")
    info(f"{CALIBRATION} written to {predictor.folder.path}")
