"""GPU acceptance run, ready for the day a GPU is lent (and runnable on a CPU with `--smoke`, as a test does):

1. `train`: each paper recipe at full paper scale (network, patch, batch, AMP as the paper says) for `--steps`
   optimiser steps on full-size synthetic studies, through petseg's own trainer: seconds per step, peak GPU memory,
   AMP, and whether the loss falls. Under `torchrun --nproc_per_node=N` it runs DDP on all N GPUs.
2. `infer`: a 5-model SegResNetDS ensemble (seed 000's recipe; random weights, seeded) with 8 test-time flips on a
   full-size study: petseg's predictor (window gate, fp16) against MONAI's `SlidingWindowInfererAdapt` running the
   same networks and flips in the same precision: seconds, peak memory, Dice between the two masks.

Run on a GPU machine:  .venv/bin/python bench/gpu.py [--parts train infer] [--steps 300]
                       torchrun --nproc_per_node=4 bench/gpu.py --parts train
Smoke run on a CPU:    .venv/bin/python bench/gpu.py --smoke --out /tmp/gpu-smoke
Results: OUT/gpu.json and a markdown table on stdout (for docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from petseg.data.phantom import write_phantom_cohort
from petseg.device import pick_device
from petseg.io.images import read_volume
from petseg.recipe import as_yaml, load_recipe
from petseg.train.trainer import TrainConfig, Trainer

PAPERS = ("auto3dseg_segresnet", "hadlich_dynunet", "galdran_swinunetr", "liu_stepwise_unet", "safdari_cascade")
SMOKE = {  # what --smoke shrinks: widths, patches, steps (the mechanics stay the paper's)
    "auto3dseg_segresnet": {"network.init_filters": "4"},
    "hadlich_dynunet": {"network.filters": "[4, 8, 8, 8, 8, 8]"},
    "galdran_swinunetr": {"network.feature_size": "12"},
    "liu_stepwise_unet": {"network.channels": "[4, 8, 8, 8, 8]", "network.num_res_units": "1",
                          "training.batch_size": "2"},
    "safdari_cascade": {"network.filters": "[4, 8, 8, 8, 8]"},
}


def smoke_overrides(name: str) -> dict[str, str]:
    """Tiny networks and 64^3 patches (32 slices for seed 001), two steps."""
    size = "[64, 64, 32]" if name == "liu_stepwise_unet" else "[64, 64, 64]"
    return {**SMOKE[name], "training.patch_size": size, "inference.roi_size": size, "training.batch_size": "1"
            if name != "liu_stepwise_unet" else "2"}


def train_part(cohort: Path, out: Path, steps: int, smoke: bool) -> list[dict]:
    """Each paper recipe for `steps` steps at its own scale (or shrunk with --smoke); one row per recipe."""
    rows = []
    epochs = max(steps // 50, 1)  # a log row every 50 steps: the loss must fall
    for name in PAPERS:
        overrides = {"training.epochs": str(epochs), "training.steps_per_epoch": str(steps // epochs),
                     **(smoke_overrides(name) if smoke else {})}
        folder = out / "train" / name
        device = pick_device("auto")
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        Trainer(TrainConfig(recipe=name, datalist=cohort, fold="all", out=folder, overrides=overrides)).run()
        log = list(csv.DictReader((folder / "log.csv").open()))
        recipe = load_recipe(name, overrides)
        rows.append({"recipe": name, "steps": int(log[-1]["step"]),
                     "seconds_per_step": sum(float(r["seconds"]) for r in log) / int(log[-1]["step"]),
                     "loss_first": float(log[0]["train_loss"]), "loss": float(log[-1]["train_loss"]),
                     "amp": recipe.training.amp and device.type == "cuda",
                     "patch_xyz": list(recipe.training.patch_size or ()), "batch": recipe.training.batch_size,
                     "ranks": int(os.environ.get("WORLD_SIZE", "1")),
                     "peak_gpu_gb": torch.cuda.max_memory_allocated() / 1e9 if device.type == "cuda" else None})
    return rows


def ensemble(out: Path, members: int, smoke: bool, spacing_xyz: list[float]) -> list[Path]:
    """`members` seed 000 model folders with seeded random weights (the cost of a network does not depend on
    its weights), planned for studies at `spacing_xyz` (their fingerprint's median spacing)."""
    from petseg.models.networks import build_network

    recipe = load_recipe("auto3dseg_segresnet", smoke_overrides("auto3dseg_segresnet") if smoke else None)
    folders = []
    for member in range(members):
        folder = out / "ensemble" / f"fold{member}"
        folder.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(member)
        torch.save({"model": build_network(recipe.network, len(recipe.inputs)).state_dict()},
                   folder / "checkpoint_final.pt")
        (folder / "recipe.yaml").write_text(as_yaml(recipe))
        (folder / "fingerprint.json").write_text(json.dumps({"spacing_mm": {"median": spacing_xyz}}))
        (folder / "model.json").write_text(json.dumps({"recipe": recipe.name, "threshold": 0.5}))
        folders.append(folder)
    return folders


def infer_part(study_dir: Path, folders: list[Path]) -> dict:
    """petseg's ensemble (8 flips, gate) against MONAI's SlidingWindowInfererAdapt (same networks, flips, dtype)."""
    import SimpleITK as sitk
    from monai.inferers import SlidingWindowInfererAdapt

    from petseg.data.study import load_study, resample_onto
    from petseg.infer.predictor import Predictor
    from petseg.models.settings import InferenceOptions, flip_sets
    from petseg.models.windows import network_predictor
    from petseg.preprocess import preprocess_study

    study = load_study(study_dir / "suv.nii.gz", study_dir / "ct.nii.gz")
    predictor = Predictor(folders, InferenceOptions(flips=flip_sets([0, 1, 2]), progress=False))
    device = predictor.device
    measured = {}
    for name in ("petseg", "monai"):
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        if name == "petseg":
            prediction = predictor.predict(study)
            probability = prediction.probability.array
        else:
            maps = []
            for model in predictor.models:
                settings = predictor.options.resolve(model.recipe, device, gate_suv=0.0)
                prepared = preprocess_study(study, model.recipe, model.fingerprint)
                inferer = SlidingWindowInfererAdapt(settings.roi_zyx, settings.batch_size, settings.overlap,
                                                    mode="gaussian", progress=False)
                output = inferer(torch.from_numpy(prepared.image)[None].to(device),
                                 network_predictor(model.network, settings))
                grid = prepared.grid.with_array(output[0, 0].float().cpu().numpy())
                maps.append(resample_onto(grid, study.suv, sitk.sitkLinear, 0.0).array)
            probability = np.mean(maps, axis=0)
        if device.type == "cuda":
            torch.cuda.synchronize()
        measured[name] = {"seconds": time.perf_counter() - start, "mask": probability >= 0.5,
                          "peak_gpu_gb": torch.cuda.max_memory_allocated() / 1e9 if device.type == "cuda" else None}
    ours, theirs = measured["petseg"]["mask"], measured["monai"]["mask"]
    total = float(ours.sum() + theirs.sum())
    dice = 1.0 if total == 0 else 2 * float((ours & theirs).sum()) / total
    return {"models": len(folders), "flips": 8, "device": str(device), "dice_vs_monai": dice,
            "windows_run": prediction.windows.run, "windows": prediction.windows.total,
            **{f"{k}_{m}": v[m] for k, v in measured.items() for m in ("seconds", "peak_gpu_gb")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["train", "infer"], choices=["train", "infer"])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--smoke", action="store_true", help="tiny networks, small studies, 2 steps (CPU check)")
    parser.add_argument("--out", type=Path, default=Path("bench/out/gpu"))
    args = parser.parse_args()
    steps = 2 if args.smoke else args.steps
    size = "small" if args.smoke else "full"
    cohort = args.out / "cohort" / "datalist.json"
    if not cohort.exists():
        write_phantom_cohort(cohort.parent, n=2 if args.smoke else 4, seed=5, size=size, negatives=0.0, folds=2)
    result: dict = {"torch": torch.__version__, "cuda": torch.cuda.is_available(), "smoke": args.smoke}
    if torch.cuda.is_available():
        result["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    if "train" in args.parts:
        result["train"] = train_part(cohort, args.out, steps, args.smoke)
    rank = int(os.environ.get("RANK", "0"))
    if "infer" in args.parts and rank == 0:
        case = sorted(p for p in cohort.parent.iterdir() if p.is_dir())[0]
        spacing = list(read_volume(case / "suv.nii.gz").spacing)
        result["infer"] = infer_part(case, ensemble(args.out, 5, args.smoke, spacing))
    if rank == 0:
        (args.out / "gpu.json").write_text(json.dumps(result, indent=1))
        print("| recipe | patch (x, y, z) | batch x ranks | AMP | s / step | peak GPU GB | loss first -> last |")
        print("|---|---|---|---|---|---|---|")
        for row in result.get("train", []):
            print(f"| {row['recipe']} | {row['patch_xyz']} | {row['batch']} x {row['ranks']} | {row['amp']} | "
                  f"{row['seconds_per_step']:.2f} | {row['peak_gpu_gb']} | {row['loss_first']:.3f} -> "
                  f"{row['loss']:.3f} |")
        if "infer" in result:
            print(json.dumps(result["infer"], indent=1))


if __name__ == "__main__":
    main()
