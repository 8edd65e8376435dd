"""Benchmark: petseg's linear resampling (`petseg.io.resampling`, one axis at a time) against SimpleITK's
`Resample`, both ways between the real STS_001 whole-body PET (267 x 128 x 128 at 4.7 x 4.7 x 3.3 mm) and the
2 x 2 x 3 mm model grid (291 x 300 x 300), one thread each, alternating calls in one process; the largest
difference between the two results.

Run: python bench/resampling.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from petseg.data.dicom_study import load_dicom_study
from petseg.io.images import Volume
from petseg.io.resampling import resample_linear
from petseg.preprocess import target_grid

STS_001 = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "sts_001_wb_pet_rtstruct" / "pet"


def itk(volume: Volume, reference: Volume) -> Volume:
    return Volume.from_sitk(sitk.Resample(volume.to_sitk(), reference.to_sitk(), sitk.Transform(), sitk.sitkLinear,
                                          0.0, sitk.sitkFloat32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    pet = load_dicom_study(STS_001).suv
    grid = target_grid(pet, [2.0, 2.0, 3.0])
    model = resample_linear(pet, grid, 0.0)
    print("| direction | SimpleITK s | petseg s | ratio | max abs difference |\n|---|---|---|---|---|")
    for name, source, onto in (("PET -> model grid", pet, grid), ("model grid -> PET", model, pet)):
        times: dict[str, list[float]] = {"itk": [], "petseg": []}
        for _ in range(args.rounds):
            for side, function in (("itk", itk), ("petseg", lambda v, r: resample_linear(v, r, 0.0))):
                start = time.perf_counter()
                function(source, onto)
                times[side].append(time.perf_counter() - start)
        theirs, ours = float(np.median(times["itk"])), float(np.median(times["petseg"]))
        difference = float(np.abs(itk(source, onto).array - resample_linear(source, onto, 0.0).array).max())
        print(f"| {name} | {theirs:.3f} | {ours:.3f} | {theirs / ours:.1f}x | {difference:.1e} |")


if __name__ == "__main__":
    main()
