"""Benchmark: whole-body inference, MONAI `sliding_window_inference` vs the petseg predictor, in one run.

One full-size phantom study (400 x 400 x 326), the seed-000 SegResNetDS and seed-004 DynUNet with random
weights (speed does not depend on them), the same ROI and overlap for both. MONAI: preprocessing plus
`sliding_window_inference` (fp32, Gaussian, every window). petseg: the `Predictor` on a model folder
(preprocessing, gated windows, resampling back, threshold). Each measurement runs in its own process so
its peak RSS is its own.

Run: .venv/bin/python bench/inference.py [--roi 96] [--overlap 0.25] [--networks auto3dseg_segresnet ...]
Target (issue 7): petseg at least 3x faster than MONAI on this CPU, peak RSS under 4 GB.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import torch
import yaml


def random_model_folder(recipe_name: str, roi: int, overlap: float, folder: Path) -> Path:
    """A model folder holding `recipe_name`'s network with random weights (a seeded init)."""
    from petseg.models.networks import build_network
    from petseg.train.recipe import load_recipe

    recipe = load_recipe(recipe_name, {"inference.roi_size": f"[{roi}, {roi}, {roi}]",
                                       "inference.overlap": str(overlap)})
    torch.manual_seed(0)
    network = build_network(recipe["network"], len(recipe["inputs"]))
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"model": network.state_dict()}, folder / "checkpoint_best.pt")
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    (folder / "model.json").write_text(json.dumps({"recipe": recipe_name, "threshold": 0.5,
                                                   "files": {"weights": "checkpoint_best.pt"}}))
    return folder


def _measure(method: str, folder: str, study_dir: str, queue) -> None:
    torch.set_num_threads(os.cpu_count() or 1)
    from petseg.data.study import load_study

    study = load_study(Path(study_dir) / "suv.nii.gz", Path(study_dir) / "ct.nii.gz")
    start = time.perf_counter()
    if method == "monai":
        from monai.inferers import sliding_window_inference

        from petseg.infer.models import load_model_folder
        from petseg.infer.settings import InferenceOptions
        from petseg.infer.windows import network_predictor
        from petseg.preprocess import preprocess_study

        model = load_model_folder(folder, torch.device("cpu"))
        settings = InferenceOptions(device="cpu", batch_size=1, progress=False).resolve(model.recipe, "fdg",
                                                                                        torch.device("cpu"))
        image = preprocess_study(study, model.recipe, model.fingerprint).image
        sliding_window_inference(torch.from_numpy(image)[None], settings.roi_zyx, 1,
                                 network_predictor(model.network, settings), overlap=settings.overlap, mode="gaussian")
        windows = None
    else:
        from petseg.infer.predictor import Predictor
        from petseg.infer.settings import InferenceOptions

        predictor = Predictor([folder], InferenceOptions(device="cpu", batch_size=1, progress=False))
        windows = predictor.predict(study).windows.as_dict()
    seconds = time.perf_counter() - start
    queue.put({"seconds": seconds, "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
               "windows": windows})


def measure(method: str, folder: Path, study_dir: Path) -> dict:
    """Seconds and peak RSS of one method in a fresh process."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_measure, args=(method, str(folder), str(study_dir), queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roi", type=int, default=96)
    parser.add_argument("--overlap", type=float, default=0.25)
    parser.add_argument("--networks", nargs="+", default=["auto3dseg_segresnet", "hadlich_dynunet"])
    args = parser.parse_args()
    from petseg.data.phantom import make_phantom_study
    from petseg.data.phantom.generate import write_phantom_case

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        study_dir = Path(tmp) / "study"
        write_phantom_case(make_phantom_study(seed=3, size="full"), study_dir)
        print("| network | ROI, overlap | MONAI s | petseg s | speed-up | MONAI peak RSS GB | petseg peak RSS GB "
              "| windows run / all |")
        print("|---|---|---|---|---|---|---|---|")
        for name in args.networks:
            folder = random_model_folder(name, args.roi, args.overlap, Path(tmp) / name)
            monai = measure("monai", folder, study_dir)
            ours = measure("petseg", folder, study_dir)
            print(f"| {name} | {args.roi}^3, {args.overlap} | {monai['seconds']:.1f} | {ours['seconds']:.1f} | "
                  f"{monai['seconds'] / ours['seconds']:.2f}x | {monai['peak_rss_gb']:.2f} | "
                  f"{ours['peak_rss_gb']:.2f} | {ours['windows']['run']} / {ours['windows']['windows']} |",
                  flush=True)


if __name__ == "__main__":
    main()
