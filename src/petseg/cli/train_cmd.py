"""`petseg train` and `petseg plan`: train one fold of a recipe; compute a dataset fingerprint."""

from __future__ import annotations

import json
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
    fold: str = typer.Option("0", "--fold", help="Held-out fold K (the other folds train), or 'all' to train on "
                             "every study."),
    out: Path = typer.Option(..., "-o", "--out", help="Model folder to write."),
    param: list[str] = typer.Option([], "--param", help="Override a recipe value, key=value (e.g. "
                                    "training.epochs=50); repeatable."),
    profile: str | None = typer.Option(None, "--profile", help="One of the recipe's profiles (e.g. cpu: what a "
                                       "CPU cannot carry, the rest as the paper says)."),
    cache: Path | None = typer.Option(None, "--cache", help="Preprocessed-array cache folder (default OUT/cache); "
                                      "share it between folds."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its last checkpoint."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    workers: int = typer.Option(0, "--workers", help="Data-loader worker processes."),
    bf16: bool = typer.Option(False, "--bf16", help="bfloat16 autocast on CPUs that support it."),
    stage1: Path | None = typer.Option(None, "--stage1", help="For a cascade's stage-2 recipe: folder of the "
                                       "stage-1 masks <case>.nii.gz (from `petseg predict` with the stage-1 models)."),
    threads: int | None = common.THREADS, tracer: str | None = common.TRACER,
) -> None:
    """Train one fold: recipe.yaml, fingerprint.json, checkpoint_final.pt (and checkpoint_best.pt when the recipe
    selects one), checkpoint_last.pt, log.csv, validation.json, model.json (a classification recipe trains the MIP
    classifier gate)."""
    from petseg.data.datalist import parse_fold
    from petseg.device import use_threads
    from petseg.recipe import load_recipe
    from petseg.tracers import tracer_named
    from petseg.train.classifier import ClassifierTrainer
    from petseg.train.trainer import TrainConfig, Trainer

    overrides, chosen = common.parse_params(param), parse_fold(fold)
    spec = load_recipe(recipe, overrides, profile)
    if spec.task == "classification":  # the MIP classifier gate: a study-level 2D task
        use_threads(threads)
        ClassifierTrainer(spec, datalist, chosen, out, seed, device).run()
        return
    Trainer(TrainConfig(recipe=recipe, datalist=datalist, fold=chosen, out=out, overrides=overrides, profile=profile,
                        cache_dir=cache, tracer=tracer_named(tracer).name if tracer else None,
                        resume=resume, seed=seed, device=device, workers=workers, bf16=bf16, stage1_dir=stage1,
                        threads=threads)).run()
    model = json.loads((out / "model.json").read_text(encoding="utf-8"))
    held_out = model.get("held_out") or {}
    info(f"deployed {model['checkpoint']['weights']} (epoch {model['checkpoint']['epoch']}, rule "
         f"{model['checkpoint']['rule']})" + (f"; held-out fold {model['fold']}: Dice {held_out['dice']:.3f}, FPV "
                                              f"{held_out['fpv_ml']:.1f} ml" if held_out else "") + f" -> {out}")


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
