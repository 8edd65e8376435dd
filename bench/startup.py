"""Benchmark: how long the command line takes to start, and what `convert` and the SUV method's `segment` import.

Run: .venv/bin/python bench/startup.py [--python PYTHON] [--repeats 7]
`--python` measures another checkout's interpreter (e.g. the main branch's venv) for a before/after table.
Target (issue 26): `petseg --help` under 0.5 s; `convert` and `segment` (SUV method) without torch or MONAI.
Each figure is one fresh process: wall time (median of the repeats) and its peak resident memory (maxrss).
`convert` reads the real whole-body DICOM PET of ../shared/data/real/sts_001_wb_pet_rtstruct; `segment` a small
phantom written beforehand (not counted). Without the shared data the `convert` row is left out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real" / "sts_001_wb_pet_rtstruct"
# Runs the CLI in-process and reports, on its last line, what it left in sys.modules.
PROBE = ("import json, sys\nfrom petseg.cli.main import run\nrc = run(sys.argv[1:])\n"
         "print(json.dumps({'rc': rc, 'modules': len(sys.modules), 'torch': 'torch' in sys.modules, "
         "'monai': 'monai' in sys.modules}))\n")


def timed(argv: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak resident MiB and stdout of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}")
    return wall, usage.ru_maxrss / 1024, out


def measure(python: str, args: list[str], repeats: int) -> dict:
    """Median wall time, peak memory and modules of `petseg ARGS` run `repeats` times (a fresh process each)."""
    walls, peaks, probe = [], [], {}
    for _ in range(repeats):
        wall, peak, _ = timed([python, "-m", "petseg", *args])
        walls.append(wall)
        peaks.append(peak)
    probe = json.loads(timed([python, "-c", PROBE, *args])[2].strip().splitlines()[-1])
    return {"wall_s": statistics.median(walls), "peak_mib": max(peaks), **probe}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="Interpreter whose petseg is measured.")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"# start-up of {args.python} on {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([args.python, "-m", "petseg", "-q", "phantom", "-o", f"{tmp}/ph", "-n", "1", "--folds", "1",
                        "--size", "small", "--seed", "0"], check=True)
        phantom = next(Path(tmp, "ph").glob("**/suv.nii.gz")).parent
        commands = {
            "petseg --help": ["--help"],
            "petseg convert --help": ["convert", "--help"],
            "petseg predict --help": ["predict", "--help"],
            "petseg segment (SUV method, small phantom)": [
                "-q", "segment", "--pet", str(phantom / "suv.nii.gz"), "--ct", str(phantom / "ct.nii.gz"),
                "-o", f"{tmp}/seg", "--overwrite"],
        }
        if REAL.is_dir():  # the shared real data (absent on a fresh clone without ../shared)
            commands["petseg convert (whole-body DICOM PET, 267 slices)"] = [
                "-q", "convert", "--pet", str(REAL / "pet"), "-o", f"{tmp}/conv", "--overwrite"]
        print("| command | wall s (median) | peak MiB | modules | torch | MONAI |")
        print("|---|---|---|---|---|---|")
        for name, argv in commands.items():
            m = measure(args.python, argv, args.repeats)
            print(f"| `{name}` | {m['wall_s']:.2f} | {m['peak_mib']:.0f} | {m['modules']} | "
                  f"{'yes' if m['torch'] else 'no'} | {'yes' if m['monai'] else 'no'} |")


if __name__ == "__main__":
    main()
