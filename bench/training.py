"""Benchmark: training data throughput (cache vs NIfTI on the fly), step time per seed recipe, and how fast
the tiny recipe learns on phantoms.

Run: .venv/bin/python bench/training.py [--patches 40] [--learn-epochs 10] [--parts throughput steps learn]
Targets (issue 6): patches from the cache at least 5x faster than decoding NIfTI on the fly.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from petseg.data.cache import build_cache
from petseg.data.datalist import load_datalist
from petseg.data.phantom import write_phantom_cohort
from petseg.data.study import load_study
from petseg.models.networks import build_network, count_parameters
from petseg.preprocess import preprocess_study
from petseg.train.losses import build_loss
from petseg.train.optim import build_optimizer
from petseg.train.recipe import load_recipe
from petseg.train.sampling import PatchDataset, crop
from petseg.train.step import training_step
from petseg.train.trainer import TrainConfig, Trainer


def throughput(size: str, n_cases: int, patches: int, workdir: Path) -> tuple[float, float]:
    """Patches per second: from the cache, and decoding + preprocessing NIfTI for every patch."""
    datalist = write_phantom_cohort(workdir / size, n=n_cases, seed=1, size=size, negatives=0.0, folds=2)
    entries = load_datalist(datalist)["training"]
    recipe = load_recipe("tiny_unet", {"training.patch_size": "[64, 64, 64]"})
    cases = build_cache(entries, recipe, None, workdir / f"cache_{size}")
    dataset = PatchDataset(cases, (64, 64, 64), 0.5, recipe.get("augment"), 0, patches)
    start = time.perf_counter()
    for index in range(patches):
        dataset[index]
    cached = patches / (time.perf_counter() - start)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for index in range(patches):
        entry = entries[index % len(entries)]
        prepared = preprocess_study(load_study(entry.pet, entry.ct, entry.label), recipe)
        centre = np.array([rng.integers(n) for n in prepared.label.shape])
        crop(prepared.image, centre, (64, 64, 64))
    on_the_fly = patches / (time.perf_counter() - start)
    return cached, on_the_fly


def step_times(size: int) -> list[tuple[str, float, float]]:
    """Seconds per training step (batch 1, `size`^3 patch) of each seed recipe's full-size network."""
    rows = []
    for name in ("auto3dseg_segresnet", "hadlich_dynunet", "galdran_swinunetr", "liu_stepwise_unet",
                 "safdari_cascade"):
        recipe = load_recipe(name)
        network = build_network(recipe["network"], len(recipe["inputs"]))
        loss = build_loss(recipe["loss"])
        optimizer = build_optimizer(recipe["optimizer"], [*network.parameters(), *loss.parameters()])
        image = torch.rand(1, len(recipe["inputs"]), size, size, size)
        label = (torch.rand(1, 1, size, size, size) > 0.95).float()
        pet = recipe["inputs"].index("pet")
        training_step(network, loss, optimizer, image, label, pet)  # warm-up
        start = time.perf_counter()
        training_step(network, loss, optimizer, image, label, pet)
        rows.append((name, count_parameters(network) / 1e6, time.perf_counter() - start))
    return rows


def learning_curve(workdir: Path, epochs: int) -> list[dict[str, str]]:
    """Validation Dice per epoch of tiny_unet on 40 small phantoms with lesions of 20 mm or more (fold 0 =
    8 studies held out), as the learning test does."""
    datalist = write_phantom_cohort(workdir / "learn", n=40, seed=11, negatives=0.1, folds=5, min_lesion_mm=20)
    out = workdir / "run"
    Trainer(TrainConfig(recipe="tiny_unet", datalist=datalist, fold=0, out=out, overrides={
        "training.epochs": str(epochs), "training.steps_per_epoch": "100"})).run()
    return list(csv.DictReader((out / "log.csv").open()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patches", type=int, default=40)
    parser.add_argument("--learn-epochs", type=int, default=10)
    parser.add_argument("--parts", nargs="+", default=["throughput", "steps", "learn"],
                        choices=["throughput", "steps", "learn"])
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"# training benchmarks on {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory() as tmp:
        if "throughput" in args.parts:
            print("\n| phantoms | patches/s from the cache | patches/s decoding NIfTI | ratio |\n|---|---|---|---|")
            for size, n in (("small", 4), ("full", 2)):
                cached, fly = throughput(size, n, args.patches, Path(tmp))
                print(f"| {size} | {cached:.1f} | {fly:.2f} | {cached / fly:.0f}x |")
        if "steps" in args.parts:
            print("\n| recipe | parameters (M) | s / step, batch 1, 64^3, fp32 |\n|---|---|---|")
            for name, params, seconds in step_times(64):
                print(f"| {name} | {params:.1f} | {seconds:.2f} |")
        if "learn" not in args.parts:
            return
        rows = learning_curve(Path(tmp), args.learn_epochs)
        print("\n| epoch | steps | train loss | val Dice | val top-K AUROC | cumulative s |\n|---|---|---|---|---|---|")
        total = 0.0
        for row in rows:
            total += float(row["seconds"])
            print(f"| {row['epoch']} | {row['step']} | {float(row['train_loss']):.3f} | {row['val_dice'][:5]} | "
                  f"{row['val_top_k_auroc'][:5]} | {total:.0f} |")


if __name__ == "__main__":
    main()
