"""Benchmark: the training-free SUV method vs plain SUV thresholds on fixed phantom cohorts, and its runtime.

Cohorts (fixed seeds, with lesion-free studies): small FDG and PSMA cohorts, and a few full-size FDG studies
whose runtime is the one to quote (target: under 10 s per full-size study on a 2-core CPU).

Run: .venv/bin/python bench/suv_method.py [--small 20] [--full 4]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from petseg.data.phantom import make_phantom_study
from petseg.data.phantom.generate import plan_cohort
from petseg.methods.suv import segment_suv
from petseg.metrics.components import Overlap
from petseg.metrics.evaluate import case_metrics, cohort_report


def contenders(tracer: str) -> dict[str, object]:
    """Name -> function(study) -> mask."""
    return {
        "petseg SUV method (default)": lambda s: segment_suv(s).mask.array,
        "petseg SUV method, threshold 2.5": lambda s: segment_suv(s, {"threshold.suv": "2.5"}).mask.array,
        "plain SUV > 2.5": lambda s: s.suv.array > 2.5,
        "plain SUV > 4.0": lambda s: s.suv.array > 4.0,
    }


def run_cohort(tracer: str, size: str, n: int, seed: int) -> tuple[dict[str, dict], list[float]]:
    results: dict[str, list[dict]] = {name: [] for name in contenders(tracer)}
    seconds = []
    for patient, visit, negative in plan_cohort(n, seed, negatives=0.2):
        phantom = make_phantom_study(seed, patient, visit, tracer, size, 0 if negative else None)
        study = phantom.study
        for name, method in contenders(tracer).items():
            start = time.perf_counter()
            mask = np.asarray(method(study)) > 0
            if name == "petseg SUV method (default)":
                seconds.append(time.perf_counter() - start)
            overlap = Overlap.of(study.label.array > 0, mask, study.suv.voxel_ml)
            results[name].append(case_metrics(phantom.case, overlap))
    return {name: cohort_report(cases) for name, cases in results.items()}, seconds


def print_table(title: str, reports: dict[str, dict]) -> None:
    print(f"\n### {title}\n")
    print("| method | mean Dice | mean FPV ml | mean FNV ml | lesion sensitivity | FP lesions / study |")
    print("|---|---|---|---|---|---|")
    for name, report in reports.items():
        mean, found = report["mean"], report["detection"]
        print(f"| {name} | {mean['dice']:.3f} | {mean['fpv_ml']:.1f} | {mean['fnv_ml']:.1f} | "
              f"{found['sensitivity']:.2f} | {found['fp_per_study']:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=20, help="studies per small cohort")
    parser.add_argument("--full", type=int, default=4, help="full-size FDG studies")
    parser.add_argument("--seed", type=int, default=100)
    args = parser.parse_args()
    print(f"# SUV method on {platform.machine()}, {os.cpu_count()} CPUs; cohorts seeded {args.seed}, "
          "20 % lesion-free")
    for tracer in ("fdg", "psma"):
        reports, _ = run_cohort(tracer, "small", args.small, args.seed)
        print_table(f"{tracer.upper()}, {args.small} small studies", reports)
    reports, seconds = run_cohort("fdg", "full", args.full, args.seed)
    print_table(f"FDG, {args.full} full-size studies (400 x 400 x 326)", reports)
    print(f"\nSUV method runtime per full-size study: median {statistics.median(seconds):.2f} s, "
          f"max {max(seconds):.2f} s")


if __name__ == "__main__":
    main()
