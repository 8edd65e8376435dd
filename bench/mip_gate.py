"""Benchmark: the MIP classifier gate (seed 002) on phantoms: time saved and lesions lost.

The tiny MIP classifier is trained on a small phantom cohort (fold 0 held out: its threshold is the highest
that keeps every positive of fold 0), then tested on a second cohort of new patients: for each test study,
the segmentation time with and without the gate, and whether a lesion-positive study was skipped.

Run: .venv/bin/python bench/mip_gate.py [--train 48] [--test 24] [--size small]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import cc3d
import numpy as np
import torch

from petseg.data.datalist import load_datalist
from petseg.data.phantom import write_phantom_cohort
from petseg.data.study import load_study
from petseg.infer.predictor import Predictor
from petseg.models.settings import InferenceOptions
from petseg.recipe import load_recipe
from petseg.train.classifier import ClassifierTrainer
from petseg.train.trainer import TrainConfig, Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=48)
    parser.add_argument("--test", type=int, default=24)
    parser.add_argument("--size", default="small")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cohort = write_phantom_cohort(root / "train", n=args.train, seed=5, size=args.size, negatives=0.4, folds=4)
        test = write_phantom_cohort(root / "test", n=args.test, seed=6, size=args.size, negatives=0.4, folds=1)
        start = time.perf_counter()
        description = ClassifierTrainer(load_recipe("tiny_mip_classifier"), cohort, 0, root / "mip").run()
        print(f"classifier trained in {time.perf_counter() - start:.0f} s; validation (fold 0): AUROC "
              f"{description['validation']['auroc']:.3f}, threshold {description['threshold']:.4f}, "
              f"{description['validation']['negatives_skipped']} of {description['validation']['negatives']} "
              "negatives skipped")
        Trainer(TrainConfig(recipe="tiny_unet", datalist=cohort, fold=0, out=root / "seg", overrides={
            "training.epochs": "2", "training.steps_per_epoch": "100", "training.validate_every": "2"})).run()
        options = InferenceOptions(progress=False)
        plain, gated = Predictor([root / "seg"], options), Predictor([root / "seg", root / "mip"], options)
        rows = []
        for entry in load_datalist(test)["training"]:
            study = load_study(entry.pet, entry.ct, entry.label)
            lesions = int(cc3d.connected_components(study.label.array > 0, connectivity=18).max())
            first = plain.predict(study)
            second = gated.predict(study)
            rows.append((lesions, first.seconds, second.seconds, second.gate.positive))
        lesions, without, with_gate, passed = (np.array(column) for column in zip(*rows, strict=True))
        positive = lesions > 0
        print(f"test cohort: {positive.sum()} positive, {(~positive).sum()} negative studies ({args.size} grid)")
        print(f"negatives skipped: {(~passed & ~positive).sum()} of {(~positive).sum()}; positives skipped: "
              f"{(~passed & positive).sum()} of {positive.sum()} ({lesions[~passed & positive].sum()} lesions lost)")
        print(f"segmentation time per study: {without.mean():.2f} s without the gate, {with_gate.mean():.2f} s with "
              f"it ({100 * (1 - with_gate.sum() / without.sum()):.0f} % saved)")


if __name__ == "__main__":
    main()
