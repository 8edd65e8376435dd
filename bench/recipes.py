"""Benchmark: does each seed paper's recipe learn? Each is trained with its `cpu` profile on fold 0 of the shared
real IBSI sarcoma PET/CT cohort (34 studies, 10 without CT) and scored on the held-out fold on the PET grid, every
window run (MONAI's sliding window), beside `tiny_unet` (the CPU recipe, its defaults) and the SUV method.

One recipe at a time (two at once on 2 cores slows both); each result is kept in OUT/<recipe>/result.json as it
comes, and a recipe already done is not trained again, so the benchmark can run across sessions. The table and the
learning curves (held-out Dice against steps, from each log.csv; docs/recipes_learning.png) are written from the
results present.

Run: .venv/bin/python bench/recipes.py [--recipes NAME ...] [--out bench/out/recipes] [--fold 0] [--bf16]
Target (issue 23): held-out Dice >= 0.6 within 30 minutes on 2 cores for each paper recipe.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
from pathlib import Path

import torch

from petseg.data.datalist import build_datalist, load_datalist, write_datalist
from petseg.data.importers import import_folder
from petseg.metrics.autopet import nan_mean
from petseg.recipe import load_recipe
from petseg.train.trainer import TrainConfig, Trainer
from training import IBSI, held_out_scores  # bench/training.py

PAPERS = ("auto3dseg_segresnet", "hadlich_dynunet", "galdran_swinunetr", "liu_stepwise_unet", "safdari_cascade")
DOCS = Path(__file__).resolve().parents[1] / "docs"


def train_one(name: str, datalist: Path, fold: int, out: Path, bf16: bool) -> dict:
    """Train `name` (its cpu profile; tiny_unet as it is) on all but `fold`; its held-out scores and the log. A
    model trained before whose scoring did not finish is scored without training again (its minutes: the sum of
    its epochs' seconds in log.csv). A run killed during training goes on from its last epoch (the trainer's
    `resume`), its minutes summed the same way."""
    profile = "cpu" if name != "tiny_unet" else None
    if not (out / "model" / "model.json").is_file():
        Trainer(TrainConfig(recipe=name, datalist=datalist, fold=fold, out=out / "model", profile=profile,
                            cache_dir=out.parent / "cache", bf16=bf16,
                            resume=(out / "model" / "checkpoint_last.pt").is_file())).run()
    minutes = sum(float(row["seconds"]) for row in csv.DictReader((out / "model" / "log.csv").open())) / 60
    model = json.loads((out / "model" / "model.json").read_text())
    entries = [e for e in load_datalist(datalist)["training"] if e.fold == fold]
    ours, suv_method = held_out_scores(out / "model", entries, gate_suv=0.0)
    result = {"recipe": name, "profile": profile, "fold": fold, "minutes": round(minutes, 1), "bf16": bf16,
              "threads": torch.get_num_threads(), "parameters": model["parameters"], "steps": model["steps"],
              "epochs": model["epochs"], "skipped_steps": model["skipped_steps"], "model": ours, "suv": suv_method,
              "log": list(csv.DictReader((out / "model" / "log.csv").open()))}
    (out / "result.json").write_text(json.dumps(result, indent=1))
    return result


def mean(rows: list[dict], key: str) -> float:
    return float(nan_mean(r[key] for r in rows))


def table(results: list[dict]) -> str:
    """The markdown table: held-out Dice, FPV, FNV, minutes, steps, parameters; the SUV method once."""
    lines = ["| recipe (profile) | held-out Dice | FPV ml | FNV ml | minutes | steps | parameters (M) |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['recipe']} ({r['profile'] or 'defaults'}) | {mean(r['model'], 'dice'):.3f} | "
                     f"{mean(r['model'], 'fpv_ml'):.1f} | {mean(r['model'], 'fnv_ml'):.1f} | {r['minutes']:.1f} | "
                     f"{r['steps']} | {r['parameters'] / 1e6:.2f} |")
    if results:
        suv = results[0]["suv"]
        lines.append(f"| SUV method (no training) | {mean(suv, 'dice'):.3f} | {mean(suv, 'fpv_ml'):.1f} | "
                     f"{mean(suv, 'fnv_ml'):.1f} | - | - | - |")
    return "\n".join(lines)


def curves(results: list[dict], path: Path) -> None:
    """Held-out Dice (model grid, from the training logs) against optimiser steps, one line per recipe."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4), dpi=110)
    for r in results:
        points = [(int(row["step"]), float(row["val_dice"])) for row in r["log"] if row.get("val_dice")]
        if points:
            axis.plot(*zip(*points, strict=True), marker="o", label=r["recipe"])
    axis.axhline(0.6, color="grey", linestyle="--", linewidth=1, label="target 0.6")
    axis.set(xlabel="optimiser steps", ylabel="held-out Dice (fold 0)", ylim=(0, 1),
             title="seed recipes, cpu profiles, IBSI fold 0")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=[*PAPERS, "tiny_unet"])
    parser.add_argument("--out", type=Path, default=Path("bench/out/recipes"))
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast on a CPU that has it natively")
    args = parser.parse_args()
    for name in args.recipes:
        load_recipe(name, profile="cpu" if name != "tiny_unet" else None)  # a bad name fails before hours of work
    datalist = args.out / "datalist.json"
    if not datalist.exists():
        write_datalist(build_datalist(import_folder(IBSI), datalist.parent, n_folds=5), datalist)
    print(f"# seed recipes on {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
          f"{torch.__version__}; IBSI fold {args.fold} held out")
    for name in args.recipes:
        folder = args.out / name
        done = folder / "result.json"
        result = json.loads(done.read_text()) if done.exists() else train_one(name, datalist, args.fold, folder,
                                                                             args.bf16)
        print(f"{name}: Dice {mean(result['model'], 'dice'):.3f} in {result['minutes']:.1f} min", flush=True)
    results = [json.loads(path.read_text()) for name in (*PAPERS, "tiny_unet")
               if (path := args.out / name / "result.json").exists()]  # every result present, in the papers' order
    print("\n" + table(results))
    curves(results, DOCS / "recipes_learning.png")
    print("\nlearning curves (held-out Dice on the model grid against steps): docs/recipes_learning.png")
    for r in results:
        points = [f"{row['step']}: {float(row['val_dice']):.3f}" for row in r["log"] if row.get("val_dice")]
        print(f"- {r['recipe']}: " + ", ".join(points))


if __name__ == "__main__":
    main()
