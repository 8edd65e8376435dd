"""Benchmark: the SUV method on the 34 shared IBSI sarcoma crops, per case (Dice, found, FPV, and what took or
cut the tumour).

For each crop: the tumour's Dice, whether any predicted voxel touches it (found), the false-positive volume, the
predicted and truth volumes, and the suppressed regions that overlap the tumour with their reasons (what rule
took part of it). Optional `--params k=v ...` as `petseg segment --param`.

Run: flock /work/proto/heavy.lock .venv/bin/python bench/sarcoma_crops.py [--root DIR] [--json OUT] [--param k=v]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import warnings
from pathlib import Path

import numpy as np

from petseg.api import segment

ROOT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real" / "ibsi_sts_petct"


def run_case(folder: Path, params: dict[str, str]) -> dict:
    """One crop through `petseg.api.segment`, with the overlap of suppressed regions and the tumour."""
    ct = folder / "ct.nii.gz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = segment(folder / "suv.nii.gz", ct if ct.exists() else None, label=folder / "label.nii.gz",
                         params=params or None, case=folder.name)
    truth = result.study.label.array > 0
    metrics = result.metrics or {}
    taken: dict[str, float] = {}
    if result.suppressed is not None:
        labels = result.suppressed.array[truth]
        for k in np.unique(labels[labels > 0]):
            reason = result.method["suppressed"][int(k) - 1]["reason"]
            taken[reason] = taken.get(reason, 0.0) + float((labels == k).sum() * result.study.suv.voxel_ml)
    return {"case": folder.name, "ct": ct.exists(), "dice": metrics.get("dice"), "found": metrics.get("tp", 0) > 0,
            "fpv_ml": metrics.get("fpv_ml"), "gt_ml": metrics.get("gt_volume_ml"),
            "pred_ml": metrics.get("pred_volume_ml"), "suvmax": float(result.study.suv.array[truth].max()),
            "taken_ml": {k: round(v, 1) for k, v in taken.items()}, "warnings": result.warnings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--json", type=Path, help="write the per-case rows here")
    parser.add_argument("--param", action="append", default=[], help="SUV-method parameter key=value")
    args = parser.parse_args()
    params = dict(p.split("=", 1) for p in args.param)
    cases = sorted(p for p in args.root.resolve().iterdir() if (p / "suv.nii.gz").exists())
    print(f"# SUV method on {len(cases)} IBSI sarcoma crops ({platform.machine()}, {os.cpu_count()} CPUs)")
    print("\n| case | CT | truth ml | SUVmax | Dice | found | FPV ml | predicted ml | suppressed inside the tumour |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for folder in cases:
        row = run_case(folder, params)
        rows.append(row)
        taken = ", ".join(f"{k} {v} ml" for k, v in row["taken_ml"].items()) or "-"
        print(f"| {row['case']} | {'yes' if row['ct'] else 'no'} | {row['gt_ml']:.1f} | {row['suvmax']:.1f} | "
              f"{row['dice']:.3f} | {'yes' if row['found'] else 'NO'} | {row['fpv_ml']:.1f} | {row['pred_ml']:.1f} "
              f"| {taken} |", flush=True)
    dice = [r["dice"] for r in rows]
    print(f"\nmean Dice {statistics.mean(dice):.3f}, median {statistics.median(dice):.3f}; found "
          f"{sum(r['found'] for r in rows)} of {len(rows)}; FPV {sum(r['fpv_ml'] for r in rows):.1f} ml in all")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
