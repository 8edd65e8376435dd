"""The reference for bench/inference.py: what a MONAI user writes to segment one study with a petseg model folder.

Reads the PET (NIfTI, SUV), applies the model's recipe preprocessing (petseg's own `preprocess_study`, so both
sides see the same input array on the same grid, with SimpleITK's `Resample` as a MONAI user resamples, not
petseg's one-axis-at-a-time resampler; SimpleITK and torch on `--threads`), runs MONAI's
`sliding_window_inference` (Gaussian, every window, window batch 1) with the network in the asked precision
(bf16: `torch.autocast(bfloat16)` and channels-last-3d memory, the one line a MONAI user adds; fp32: plain),
resamples the probability back onto the
PET grid, thresholds and post-processes it as the model folder's calibration says (`calibration.json`: the same
decision `petseg predict` applies; else the model's threshold) and writes the mask (uint8 NIfTI). Prints one JSON line:
seconds of the study (reading to writing) and of the process so far, windows, peak RSS.

Run: python bench/monai_script.py MODEL_DIR SUV.nii.gz OUT_MASK.nii.gz [--precision bf16|fp32] [--threads N]
"""

from __future__ import annotations

import time

START = time.perf_counter()

import argparse  # noqa: E402 - the process clock starts before the imports
import json  # noqa: E402
import resource  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import SimpleITK as sitk  # noqa: E402
import torch  # noqa: E402
from monai.inferers import sliding_window_inference  # noqa: E402


def network_of(folder: Path) -> tuple[torch.nn.Module, object, dict | None, dict]:
    """The model folder's network (weights loaded, eval), recipe, fingerprint and decision (threshold,
    post-processing)."""
    from petseg.models.checkpoints import FINAL
    from petseg.models.networks import build_network
    from petseg.recipe import read_recipe_file

    recipe = read_recipe_file(folder / "recipe.yaml")
    network = build_network(recipe.network, len(recipe.inputs))
    description = json.loads((folder / "model.json").read_text())
    state = torch.load(folder / description.get("files", {}).get("weights", FINAL), weights_only=True)
    network.load_state_dict(state["model"])
    fingerprint = folder / "fingerprint.json"
    calibration = folder / "calibration.json"
    decision = (json.loads(calibration.read_text()) if calibration.is_file()
                else {"threshold": float(description.get("threshold", 0.5)), "postprocess": {}})
    return network.eval(), recipe, json.loads(fingerprint.read_text()) if fingerprint.is_file() else None, decision


def sitk_resample(volume, reference, interpolator: int, fill: float):
    """`volume` resampled onto `reference`'s grid by SimpleITK's `Resample` (identity transform, float32)."""
    from petseg.io.images import Volume

    return Volume.from_sitk(sitk.Resample(volume.to_sitk(), reference.to_sitk(), sitk.Transform(), interpolator,
                                          fill, sitk.sitkFloat32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("suv", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(args.threads)
    from petseg.data.study import load_study
    from petseg.infer.postprocess import apply_postprocessing
    from petseg.io.images import write_volume
    from petseg.models.outputs import main_output, probability
    from petseg.preprocess import preprocess_study

    network, recipe, fingerprint, decision = network_of(args.model)
    study_start = time.perf_counter()
    study = load_study(args.suv, None)
    prepared = preprocess_study(study, recipe, fingerprint, resample=sitk_resample)
    bf16 = args.precision == "bf16"
    if bf16:
        network = network.to(memory_format=torch.channels_last_3d)
    windows = []

    @torch.no_grad()
    def predict(batch: torch.Tensor) -> torch.Tensor:
        windows.append(batch.shape[0])
        if bf16:
            batch = batch.contiguous(memory_format=torch.channels_last_3d)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return probability(main_output(network(batch))).float()

    output = sliding_window_inference(torch.from_numpy(prepared.image)[None], recipe.roi_zyx, 1, predict,
                                      overlap=recipe.inference.overlap, mode="gaussian")[0, 0].numpy()
    back = sitk_resample(prepared.grid.with_array(output), study.suv, sitk.sitkLinear, 0.0).array
    mask = apply_postprocessing(back >= decision["threshold"], back, study.suv, decision["postprocess"])
    write_volume(study.suv.with_array(mask.astype(np.uint8)), args.out)
    now = time.perf_counter()
    print(json.dumps({"study_s": now - study_start, "process_s": now - START, "windows": sum(windows),
                      "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))


if __name__ == "__main__":
    main()
