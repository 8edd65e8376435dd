"""Benchmark: phantom generation time (small and full size), with and without writing NIfTI.

Run: .venv/bin/python bench/phantom.py [--repeats 3]
Targets (issue 2): small study < ~2 s, full-size study < ~30 s on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from petseg.data.phantom import make_phantom_study
from petseg.data.phantom.generate import write_phantom_case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"# phantom generation on {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print("| size | tracer | generate (s, median) | generate + write NIfTI (s, median) |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for size in ("small", "full"):
            for tracer in ("fdg", "psma"):
                gen, total = [], []
                for repeat in range(args.repeats):
                    start = time.perf_counter()
                    phantom = make_phantom_study(seed=repeat, tracer=tracer, size=size, n_lesions=10)
                    gen.append(time.perf_counter() - start)
                    write_phantom_case(phantom, Path(tmp) / size)
                    total.append(time.perf_counter() - start)
                print(f"| {size} | {tracer} | {statistics.median(gen):.2f} | {statistics.median(total):.2f} |")


if __name__ == "__main__":
    main()
