"""Benchmark: training data throughput (cache vs NIfTI on the fly), step time per seed recipe, and what the
tiny recipe learns with its defaults, scored end to end on the PET grid beside the training-free SUV method:
- `ibsi`: 5-fold cross-validation on the shared real IBSI sarcoma PET/CT cohort (34 studies, 10 without CT);
- `phantoms`: 24 small phantoms (lesions >= 20 mm, seed 21), fold 0 held out;
each with the learning curve (held-out Dice against steps, from the training log).

Run: .venv/bin/python bench/training.py [--parts throughput steps ibsi phantoms] [--folds 0 1 2 3 4]
Targets (issue 12): IBSI cross-validation Dice >= 0.6, <= 20 min a fold; phantoms held-out Dice >= 0.30 with
less false-positive volume than the SUV method.
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

from petseg.data.datalist import build_datalist, load_datalist, write_datalist
from petseg.data.importers import import_folder
from petseg.data.phantom import write_phantom_cohort
from petseg.data.study import load_study
from petseg.infer.predictor import Predictor
from petseg.methods.suv import segment_suv
from petseg.metrics.autopet import autopet_metrics, nan_mean
from petseg.metrics.components import Overlap
from petseg.models.networks import build_network, count_parameters
from petseg.models.settings import InferenceOptions
from petseg.preprocess import preprocess_study
from petseg.recipe import load_recipe
from petseg.train.cache import build_cache
from petseg.train.losses import build_loss
from petseg.train.optim import build_optimizer
from petseg.train.sampling import PatchDataset, crop
from petseg.train.step import training_step
from petseg.train.trainer import TrainConfig, Trainer

IBSI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "ibsi_sts_petct"


def throughput(size: str, n_cases: int, patches: int, workdir: Path) -> tuple[float, float]:
    """Patches per second: from the cache, and decoding + preprocessing NIfTI for every patch."""
    datalist = write_phantom_cohort(workdir / size, n=n_cases, seed=1, size=size, negatives=0.0, folds=2)
    entries = load_datalist(datalist)["training"]
    recipe = load_recipe("tiny_unet", {"training.patch_size": "[64, 64, 64]"})
    cases = build_cache(entries, recipe, None, workdir / f"cache_{size}")
    dataset = PatchDataset(cases, recipe, 0, patches)
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
        network = build_network(recipe.network, len(recipe.inputs))
        loss = build_loss(recipe.loss)
        optimizer = build_optimizer(recipe.optimizer, [*network.parameters(), *loss.parameters()])
        image = torch.rand(1, len(recipe.inputs), size, size, size)
        label = (torch.rand(1, 1, size, size, size) > 0.95).float()
        fills = recipe.image_channels
        training_step(network, loss, optimizer, image, label, fills)  # warm-up
        start = time.perf_counter()
        training_step(network, loss, optimizer, image, label, fills)
        rows.append((name, count_parameters(network) / 1e6, time.perf_counter() - start))
    return rows


def held_out_scores(model: Path, entries: list, tracer: str | None = None, gate_suv: float | None = None
                    ) -> tuple[list[dict], list[dict]]:
    """autoPET metrics on the PET grid of the model (via the predictor, at `gate_suv`: None as predict does, 0 every
    window) and of the SUV method, per study."""
    predictor = Predictor([model], InferenceOptions(progress=False, gate_suv=gate_suv))
    ours, suv_method = [], []
    for entry in entries:
        study = load_study(entry.pet, entry.ct, entry.label, ct_optional=True, tracer=tracer)
        label = study.label.array > 0
        for rows, mask in ((ours, predictor.predict(study).mask), (suv_method, segment_suv(study).mask)):
            rows.append({"case": entry.case, "ct": study.has_ct,
                         **autopet_metrics(Overlap.of(label, mask.array > 0, study.suv.voxel_ml))})
    return ours, suv_method


def train_and_score(datalist: Path, fold: int, workdir: Path) -> dict:
    """tiny_unet with its defaults on one fold: minutes, held-out metrics (model and SUV method), log rows."""
    out = workdir / f"fold{fold}"
    start = time.perf_counter()
    Trainer(TrainConfig(recipe="tiny_unet", datalist=datalist, fold=fold, out=out, cache_dir=workdir / "cache")).run()
    minutes = (time.perf_counter() - start) / 60
    entries = [e for e in load_datalist(datalist)["training"] if e.fold == fold]
    ours, suv_method = held_out_scores(out, entries)
    return {"fold": fold, "minutes": minutes, "model": ours, "suv": suv_method,
            "log": list(csv.DictReader((out / "log.csv").open()))}


def mean(rows: list[dict], key: str) -> float:
    return float(nan_mean(r[key] for r in rows))


def print_folds(results: list[dict]) -> None:
    """Per-fold and mean table, model beside SUV method, and the learning curves."""
    print("| fold | studies (no CT) | minutes | Dice | FPV ml | FNV ml | SUV method Dice | FPV ml | FNV ml |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['fold']} | {len(r['model'])} ({sum(not c['ct'] for c in r['model'])}) | {r['minutes']:.1f} | "
              + " | ".join(f"{mean(r[k], m):.3f}" if m == "dice" else f"{mean(r[k], m):.1f}"
                           for k in ("model", "suv") for m in ("dice", "fpv_ml", "fnv_ml")) + " |")
    every = {k: [c for r in results for c in r[k]] for k in ("model", "suv")}
    print(f"| all | {len(every['model'])} | {sum(r['minutes'] for r in results):.1f} | "
          + " | ".join(f"{mean(every[k], m):.3f}" if m == "dice" else f"{mean(every[k], m):.1f}"
                       for k in ("model", "suv") for m in ("dice", "fpv_ml", "fnv_ml")) + " |")
    print("\nlearning curves (held-out Dice on the model grid, from log.csv):")
    for r in results:
        points = [f"{row['step']}: {float(row['val_dice']):.3f}" for row in r["log"] if row["val_dice"]]
        print(f"- fold {r['fold']}: " + ", ".join(points))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patches", type=int, default=40)
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--parts", nargs="+", default=["throughput", "steps", "ibsi", "phantoms"],
                        choices=["throughput", "steps", "ibsi", "phantoms"])
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
        if "ibsi" in args.parts:
            datalist = Path(tmp) / "ibsi" / "datalist.json"
            write_datalist(build_datalist(import_folder(IBSI), datalist.parent, n_folds=5), datalist)
            print("\nIBSI sarcoma PET/CT, 5-fold cross-validation, tiny_unet defaults:")
            print_folds([train_and_score(datalist, fold, Path(tmp) / "ibsi") for fold in args.folds])
        if "phantoms" in args.parts:
            datalist = write_phantom_cohort(Path(tmp) / "phantoms", n=24, seed=21, min_lesion_mm=20)
            print("\n24 small phantoms (lesions >= 20 mm, seed 21), fold 0 held out, tiny_unet defaults:")
            print_folds([train_and_score(datalist, 0, Path(tmp) / "phantoms")])


if __name__ == "__main__":
    main()
