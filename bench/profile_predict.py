"""Benchmark: where one `petseg predict` of a whole-body study spends its time, end to end.

Runs `petseg predict --model M --input S -o O` twice in fresh processes: once plain (the wall time) and once under
cProfile, whose cumulative times of petseg's steps make the table (each step's share of the profiled process;
cProfile's own overhead falls mostly on Python-heavy steps). Steps: start-up (imports, the command line), model
loading, OpenVINO (reading the cached conversion and compiling it), reading the study, preprocessing (resampling
to the model grid, intensities), the gate, the sliding windows (the network's share apart), resampling back to the
PET grid, threshold and post-processing, quantification, regions and truth, writing the mask and lesions.json,
the summary page.

Run: flock /work/proto/heavy.lock python bench/profile_predict.py --model M --input S [--threads 2] [-- ARGS]
"""

from __future__ import annotations

import argparse
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# (label, file suffix, function, caller (file suffix, function) or None): cumulative seconds of that call
STEPS = [
    ("model loading (weights, network)", "infer/models.py", "load_model_folder", None),
    ("OpenVINO: cached conversion read, compiled", "models/engines.py", "openvino_predictor", None),
    ("reading the study (NIfTI, checks)", "petseg/api.py", "_study", None),
    ("preprocessing: resampling to the model grid", "data/study.py", "resample_onto", ("petseg/preprocess.py",
                                                                                       "<dictcomp>")),
    ("preprocessing: intensities", "petseg/preprocess.py", "normalise_channel", None),
    ("window gate (SUV >= gate)", "models/windows.py", "uptake_gate", None),
    ("sliding windows, all", "models/windows.py", "sliding_probability", None),
    ("  of which the network (PyTorch)", "models/windows.py", "predict", None),
    ("  of which the network (OpenVINO)", "models/engines.py", "predict", None),
    ("resampling back to the PET grid", "data/study.py", "resample_onto", ("infer/predictor.py", "_one_model")),
    ("threshold and post-processing", "infer/predictor.py", "decision_mask", None),
    ("quantification", "petseg/quantify.py", "quantify", ("petseg/api.py", "segment")),
    ("regions, truth, metrics", "petseg/annotate.py", "annotate", None),
    ("writing the mask", "io/images.py", "write_volume", ("cohort/run.py", "predict_cohort")),
    ("writing lesions.json", "petseg/results.py", "write_lesions_json", ("cohort/run.py", "predict_cohort")),
    ("summary page (thumbnails, HTML)", "report/summary.py", "write_cohort_summary", None),
    ("summary row picture", "report/summary.py", "case_summary", None),
]


def cumulative(stats: pstats.Stats, suffix: str, name: str, caller: tuple[str, str] | None) -> float:
    """Cumulative seconds of function `name` in a file ending with `suffix` (only its calls from `caller`)."""
    total = 0.0
    for (path, _, function), (_, _, _, cum, callers) in stats.stats.items():  # type: ignore[attr-defined]
        if function != name or not path.endswith(suffix):
            continue
        if caller is None:
            total += cum
            continue
        for (caller_path, _, caller_function), entry in callers.items():
            if caller_function == caller[1] and caller_path.endswith(caller[0]):
                total += entry[3]
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("extra", nargs="*", help="more predict options (after --)")
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OMP_WAIT_POLICY="PASSIVE",
               PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryDirectory() as tmp:
        predict = ["-m", "petseg", "--quiet", "predict", "--model", str(args.model), "--input", str(args.input),
                   "--threads", str(args.threads), *args.extra]
        start = time.perf_counter()
        subprocess.run([sys.executable, *predict, "-o", f"{tmp}/plain"], env=env, check=True)
        wall = time.perf_counter() - start
        profile = Path(tmp) / "predict.prof"
        subprocess.run([sys.executable, "-m", "cProfile", "-o", str(profile), *predict, "-o", f"{tmp}/profiled"],
                       env=env, check=True)
        stats = pstats.Stats(str(profile))
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"`petseg predict` {' '.join(predict[4:])}: {wall:.2f} s wall (plain), {total:.2f} s profiled\n")
    print("| step | s (profiled) | share |\n|---|---|---|")
    accounted = 0.0
    for label, suffix, name, caller in STEPS:
        seconds = cumulative(stats, suffix, name, caller)
        accounted += 0.0 if label.startswith("  ") else seconds
        print(f"| {label} | {seconds:.2f} | {100 * seconds / total:.0f} % |")
    print(f"| start-up (imports, command line) and the rest | {total - accounted:.2f} | "
          f"{100 * (total - accounted) / total:.0f} % |")


if __name__ == "__main__":
    main()
