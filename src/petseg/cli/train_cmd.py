"""`petseg train` and `petseg plan`: train one fold of a recipe; compute a dataset fingerprint."""

from __future__ import annotations

from pathlib import Path

import typer

from petseg.cli import common
from petseg.cli.app import app
from petseg.console import info


@app.command(epilog="Example: petseg train --recipe tiny_unet --datalist phantoms/datalist.json --fold 0 -o runs/f0"
             "   (several GPUs: torchrun --nproc_per_node=4 -m petseg train ...)")
def train(
    recipe: str = typer.Option(..., "--recipe", help="Recipe: a shipped name (tiny_unet, "
                                "auto3dseg_segresnet, hadlich_dynunet, galdran_swinunetr, ...) or a YAML file."),
    datalist: Path = typer.Option(..., "--datalist", help="Datalist JSON with folds."),
    fold: int = typer.Option(0, "--fold", help="Validation fold; the others train."),
    out: Path = typer.Option(..., "-o", "--out", help="Model folder to write."),
    param: list[str] = typer.Option([], "--param", help="Override a recipe value, key=value (e.g. "
                                    "training.epochs=50); repeatable."),
    cache: Path | None = typer.Option(None, "--cache", help="Preprocessed-array cache folder (default OUT/cache); "
                                      "share it between folds."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its last checkpoint."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    workers: int = typer.Option(0, "--workers", help="Data-loader worker processes."),
    bf16: bool = typer.Option(False, "--bf16", help="bfloat16 autocast on CPUs that support it."),
    stage1: Path | None = typer.Option(None, "--stage1", help="For a cascade's stage-2 recipe: folder of the "
                                       "stage-1 masks <case>.nii.gz (from `petseg predict` with the stage-1 models)."),
) -> None:
    """Train one fold: recipe.yaml, fingerprint.json, checkpoint_best.pt, checkpoint_last.pt, log.csv, model.json
    (a classification recipe trains the MIP classifier gate)."""
    from petseg.train.classifier import ClassifierTrainer
    from petseg.train.recipe import load_recipe
    from petseg.train.trainer import TrainConfig, Trainer

    spec = load_recipe(recipe, common.parse_params(param))
    if spec.get("task") == "classification":  # the MIP classifier gate: a study-level 2D task
        ClassifierTrainer(spec, datalist, fold, out, seed, device).run()
        return
    overrides = common.parse_params(param)
    best = Trainer(TrainConfig(recipe=recipe, datalist=datalist, fold=fold, out=out, overrides=overrides,
                               cache_dir=cache, resume=resume, seed=seed, device=device, workers=workers,
                               bf16=bf16, stage1_dir=stage1)).run()
    if best.get("value") is not None:
        info(f"best validation {best['metric']} {best['value']:.4f} at epoch {best['epoch']} -> {out}")


@app.command(epilog="Example: petseg plan --datalist phantoms/datalist.json -o fingerprint.json")
def plan(
    datalist: Path = typer.Option(..., "--datalist", help="Datalist JSON."),
    out: Path = typer.Option(..., "-o", "--out", help="fingerprint.json to write."),
    split: str = typer.Option("training", "--split", help="Split to describe: training, testing or fold:K."),
) -> None:
    """Dataset fingerprint: spacings, shapes, and CT/PET intensity statistics inside the lesions."""
    from petseg.data.datalist import load_datalist, select
    from petseg.io.atomic import write_json_atomic
    from petseg.train.fingerprint import fingerprint

    result = fingerprint(select(load_datalist(datalist), split))
    write_json_atomic(out, result)
    info(f"{result['cases']} studies, median spacing {result['spacing_mm']['median']} mm -> {out}")
