"""Benchmark: petseg's autoPET metrics vs the straightforward per-component reference, full-size case.

A 400 x 400 x 326 phantom label as ground truth; the prediction keeps most lesions (some shifted or
missed) and adds hundreds of small noise components. Both implementations must give identical numbers.

Run: .venv/bin/python bench/metrics.py [--noise 600]
Target (issue 3): identical Dice/FPV/FNV, petseg at least 20x faster.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the reference lives with the tests

from tests.metrics.reference import reference_metrics

from petseg.data.phantom import make_phantom_study
from petseg.metrics.autopet import autopet_metrics
from petseg.metrics.components import Overlap, label_components


def noisy_prediction(label: np.ndarray, noise: int, rng: np.random.Generator) -> np.ndarray:
    """The label with ~20 % of lesions removed, others shifted by a voxel, plus `noise` small blobs."""
    components, count = label_components(label > 0)
    keep = rng.random(count + 1) > 0.2
    keep[0] = False
    pred = np.roll(keep[components], 1, axis=2)
    for _ in range(noise):
        z, y, x = (int(rng.integers(0, n - 3)) for n in pred.shape)
        pred[z:z + int(rng.integers(1, 3)), y:y + int(rng.integers(1, 3)), x:x + int(rng.integers(1, 3))] = True
    return pred


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", type=int, default=600)
    args = parser.parse_args()
    phantom = make_phantom_study(seed=3, size="full", n_lesions=15)
    gt = phantom.study.label.array > 0
    pred = noisy_prediction(gt, args.noise, np.random.default_rng(0))
    voxel_ml = phantom.study.suv.voxel_ml
    _, n_pred = label_components(pred)
    start = time.perf_counter()
    mine = autopet_metrics(Overlap.of(gt, pred, voxel_ml))
    fast = time.perf_counter() - start
    start = time.perf_counter()
    dice, fpv, fnv = reference_metrics(gt, pred, voxel_ml)
    slow = time.perf_counter() - start
    identical = np.allclose([mine["dice"], mine["fpv_ml"], mine["fnv_ml"]], [dice, fpv, fnv], rtol=1e-12)
    print(f"# autoPET metrics on {platform.machine()}, {os.cpu_count()} CPUs; shape {gt.shape}, "
          f"{n_pred} predicted components, {len(phantom.lesions)} lesions")
    print("| implementation | seconds | Dice | FPV ml | FNV ml |")
    print("|---|---|---|---|---|")
    print(f"| petseg (one labelling pass + bincount) | {fast:.3f} | {mine['dice']:.6f} | {mine['fpv_ml']:.4f} | "
          f"{mine['fnv_ml']:.4f} |")
    print(f"| reference (one volume scan per component) | {slow:.2f} | {dice:.6f} | {fpv:.4f} | {fnv:.4f} |")
    print(f"identical: {identical}; speed-up {slow / fast:.0f}x")


if __name__ == "__main__":
    main()
