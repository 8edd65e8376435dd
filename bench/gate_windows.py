"""Benchmark: windows run on the real STS_001 whole-body PET by window gate, whole-window gate against core gate.

The PET (DICOM, converted as `petseg convert` does) resampled to 2 x 2 x 3 mm as the seed recipes and the trained
PET-only UNet of bench/inference.py see it; MONAI's windows at the ROI and overlap given, placed by petseg's
sliding window with a network stand-in that costs nothing (the counts are those `petseg predict` reports).

Run: python bench/gate_windows.py [--roi 96] [--overlap 0.25] [--gates 1.5 2.0 2.5 3.0]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roi", type=int, default=96)
    parser.add_argument("--overlap", type=float, default=0.25)
    parser.add_argument("--gates", type=float, nargs="+", default=[1.5, 2.0, 2.5, 3.0])
    args = parser.parse_args()
    from petseg.data.dicom_study import load_dicom_study
    from petseg.data.study import resample_onto
    from petseg.models.settings import InferenceOptions
    from petseg.models.windows import sliding_probability, uptake_gate
    from petseg.preprocess import target_grid
    from petseg.recipe import load_recipe

    study = load_dicom_study(SHARED / "sts_001_wb_pet_rtstruct" / "pet")
    suv = resample_onto(study.suv, target_grid(study.suv, [2.0, 2.0, 3.0]), sitk.sitkLinear, 0.0).array
    recipe = load_recipe("tiny_unet", {"inputs": "[pet]", "inference.roi_size": f"[{args.roi}, {args.roi}, {args.roi}]",
                                       "inference.overlap": str(args.overlap)})
    core = InferenceOptions(progress=False, batch_size=4).resolve(recipe, torch.device("cpu"), 0.0)
    nothing = lambda windows: torch.zeros((windows.shape[0], 1, *windows.shape[2:]))  # noqa: E731
    image = np.zeros((1, *suv.shape), np.float32)
    print(f"STS_001 at 2 x 2 x 3 mm: {suv.shape} voxels (z, y, x); ROI {args.roi}^3, overlap {args.overlap}\n")
    print("| gate SUV | windows run, whole-window gate | windows run, core gate |\n|---|---|---|")
    for gate in args.gates:
        counts = [sliding_probability(nothing, image, replace(core, gate_core=flag), uptake_gate(suv, gate),
                                      torch.device("cpu"))[1] for flag in (False, True)]
        print(f"| {gate:g} | {counts[0].run} / {counts[0].total} | {counts[1].run} / {counts[1].total} |")


if __name__ == "__main__":
    main()
