"""Benchmark: whole-body inference, MONAI `sliding_window_inference` vs `petseg predict`'s predictor, in one run.

Studies: the shared real whole-body FDG PET of STS_001 (GE, 267 x 128 x 128 at 4.7 x 4.7 x 3.3 mm, converted
from DICOM as `petseg convert` does) and a full-size phantom (400 x 400 x 326). Two measurements:

- speed: the seed-000 SegResNetDS and seed-004 DynUNet with random weights (speed does not depend on them), the
  same 96^3 ROI and overlap for both. MONAI: the recipe's preprocessing + `sliding_window_inference` (fp32,
  Gaussian, every window). petseg: the `Predictor` on a model folder (preprocessing, gated windows, resampling
  back, threshold) with bfloat16 where the CPU has it natively, at the tracer's gate (SUV 1.5, an uncalibrated
  model) and at the gate `petseg predict` uses after `petseg calibrate` chose one for the trained tiny_unet at the
  same ROI on its held-out fold (up to the tracer's ceiling; `--gate` to give one). Each runs in its own process.
- agreement: that trained tiny_unet (given with --model, else trained here on fold 0 of the shared IBSI cohort with
  its defaults), calibrated at a 96^3 ROI: binary masks of petseg (tracer gate, and calibrated as `petseg predict`
  runs it) against MONAI's (fp32, every window): Dice and the lesions (18-connected components of MONAI's mask)
  petseg loses.

Run: .venv/bin/python bench/inference.py [--studies sts001 phantom] [--networks ...] [--gate G] [--model DIR]
Target (issue 16): petseg >= 3x MONAI on the real STS_001 at 96^3 and overlap 0.25, masks at Dice >= 0.99.
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

import cc3d
import numpy as np
import torch
import yaml

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"


def random_model_folder(recipe_name: str, roi: int, overlap: float, folder: Path) -> Path:
    """A model folder holding `recipe_name`'s network with random weights (a seeded init)."""
    from petseg.models.networks import build_network
    from petseg.recipe import as_yaml, load_recipe

    recipe = load_recipe(recipe_name, {"inference.roi_size": f"[{roi}, {roi}, {roi}]",
                                       "inference.overlap": str(overlap)})
    torch.manual_seed(0)
    network = build_network(recipe.network, len(recipe.inputs))
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"model": network.state_dict()}, folder / "checkpoint_final.pt")
    (folder / "recipe.yaml").write_text(as_yaml(recipe))
    (folder / "model.json").write_text(json.dumps({"recipe": recipe_name, "threshold": 0.5}))
    return folder


def with_roi(model: Path, roi: int, overlap: float, folder: Path) -> Path:
    """A copy of a trained model folder whose recipe runs `roi`^3 windows at `overlap`."""
    import shutil

    shutil.copytree(model, folder, ignore=shutil.ignore_patterns("cache", "calibration.json"))
    recipe = yaml.safe_load((folder / "recipe.yaml").read_text())
    recipe.setdefault("inference", {}).update(roi_size=[roi] * 3, overlap=overlap)
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    return folder


def _monai(folder: str, study) -> np.ndarray:
    from monai.inferers import sliding_window_inference

    from petseg.data.study import resample_onto
    from petseg.infer.models import load_model_folder
    from petseg.models.settings import InferenceOptions
    from petseg.models.windows import network_predictor
    from petseg.preprocess import preprocess_study

    model = load_model_folder(folder, torch.device("cpu"))
    settings = InferenceOptions(batch_size=1, progress=False, bf16=False).resolve(model.recipe, torch.device("cpu"),
                                                                                    gate_suv=0.0)
    prepared = preprocess_study(study, model.recipe, model.fingerprint)
    output = sliding_window_inference(torch.from_numpy(prepared.image)[None], settings.roi_zyx, 1,
                                      network_predictor(model.network, settings), overlap=settings.overlap,
                                      mode="gaussian")[0, 0].numpy()
    import SimpleITK as sitk

    return resample_onto(prepared.grid.with_array(output), study.suv, sitk.sitkLinear, 0.0).array


def _measure(method: str, folder: str, study_dir: str, gate: float | None, queue) -> None:
    from petseg.device import use_threads

    use_threads()
    from petseg.data.study import load_study

    study = load_study(Path(study_dir) / "suv.nii.gz", None)
    start = time.perf_counter()
    windows = None
    if method == "monai":
        probability = _monai(folder, study)
    else:
        from petseg.infer.predictor import Predictor
        from petseg.models.settings import InferenceOptions

        prediction = Predictor([folder], InferenceOptions(batch_size=1, progress=False, gate_suv=gate)).predict(study)
        probability, windows = prediction.probability.array, prediction.windows.as_dict()
    seconds = time.perf_counter() - start
    np.save(Path(study_dir) / f"mask_{method}_{gate}.npy", probability >= 0.5)
    queue.put({"seconds": seconds, "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
               "windows": windows})


def measure(method: str, folder: Path, study_dir: Path, gate: float | None = None) -> dict:
    """Seconds, peak RSS and windows of one method in a fresh process (its mask saved beside the study)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_measure, args=(method, str(folder), str(study_dir), gate, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def agreement(study_dir: Path, gate: float | None) -> tuple[float, int, int]:
    """(Dice, MONAI lesions, lesions petseg loses) of petseg's mask at `gate` against MONAI's."""
    ours, theirs = np.load(study_dir / f"mask_petseg_{gate}.npy"), np.load(study_dir / "mask_monai_None.npy")
    total = ours.sum() + theirs.sum()
    dice = 1.0 if total == 0 else 2 * float((ours & theirs).sum()) / float(total)
    lesions, count = cc3d.connected_components(theirs, connectivity=18, return_N=True)
    lost = sum(not ours[lesions == k].any() for k in range(1, count + 1))
    return dice, int(count), int(lost)


def prepare_studies(names: list[str], folder: Path) -> dict[str, Path]:
    """suv.nii.gz of each study (STS_001 converted from DICOM; the phantom generated)."""
    from petseg.data.dicom_study import load_dicom_study
    from petseg.data.phantom import make_phantom_study
    from petseg.io.images import write_volume

    studies = {}
    for name in names:
        path = folder / name
        path.mkdir(parents=True, exist_ok=True)
        if name == "sts001":
            study = load_dicom_study(SHARED / "sts_001_wb_pet_rtstruct" / "pet")
        else:
            study = make_phantom_study(seed=3, size="full").study
        write_volume(study.suv, path / "suv.nii.gz")
        studies[name] = path
    return studies


def trained_tiny(folder: Path) -> Path:
    """tiny_unet trained with its defaults on fold 0 of the shared IBSI cohort."""
    from petseg.data.datalist import build_datalist, write_datalist
    from petseg.data.importers import import_folder
    from petseg.train.trainer import TrainConfig, Trainer

    datalist = folder / "ibsi" / "datalist.json"
    write_datalist(build_datalist(import_folder(SHARED / "ibsi_sts_petct"), datalist.parent, n_folds=5), datalist)
    Trainer(TrainConfig(recipe="tiny_unet", datalist=datalist, fold=0, out=folder / "tiny")).run()
    return folder / "tiny"


def calibrated_gate(model: Path) -> float:
    """Calibrate `model` on its held-out fold (model.json's datalist and fold) as `petseg calibrate` does; its gate."""
    from petseg.data.datalist import load_datalist
    from petseg.infer.calibrate import calibrate
    from petseg.infer.predictor import Predictor
    from petseg.models.settings import InferenceOptions
    from petseg.tracers import TRACERS

    info = json.loads((model / "model.json").read_text())
    held_out = [e for e in load_datalist(info["datalist"])["training"] if e.fold == info["fold"]]
    predictor = Predictor([model], InferenceOptions(progress=False))
    gate = calibrate(predictor, held_out, "dice", TRACERS["fdg"])["gate_suv"]
    if gate is None:
        raise SystemExit(f"{model}: no lesion in the held-out fold, so no calibrated gate; give one with --gate")
    return gate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", nargs="+", default=["sts001", "phantom"], choices=["sts001", "phantom"])
    parser.add_argument("--roi", type=int, default=96)
    parser.add_argument("--overlap", type=float, default=0.25)
    parser.add_argument("--networks", nargs="+", default=["auto3dseg_segresnet", "hadlich_dynunet"])
    parser.add_argument("--gate", type=float, help="the higher gate (default: the trained model's calibrated one)")
    parser.add_argument("--model", type=Path, help="a trained tiny_unet folder (model.json names its held-out fold)")
    parser.add_argument("--parts", nargs="+", default=["speed", "agreement"], choices=["speed", "agreement"])
    args = parser.parse_args()
    from petseg.device import available_cpus, cpu_supports_bf16
    from petseg.models.settings import window_gate
    from petseg.tracers import tracer_named

    print(f"{platform.processor() or platform.machine()}, {available_cpus()} CPUs, native bf16 "
          f"{cpu_supports_bf16()}, torch {torch.__version__}")
    tracer_gate = tracer_named("fdg").gate_suv
    with tempfile.TemporaryDirectory() as tmp:
        studies = prepare_studies(args.studies, Path(tmp))
        model = with_roi(args.model or trained_tiny(Path(tmp)), args.roi, args.overlap, Path(tmp) / "tiny96")
        safe = calibrated_gate(model) if args.gate is None else None
        gate = window_gate(args.gate, safe, tracer_named("fdg"))  # predict's: the calibrated gate up to the ceiling
        print(f"\ntrained tiny_unet ({args.model or 'trained here'}) at {args.roi}^3, overlap {args.overlap}: "
              + (f"given gate SUV {gate:g}" if safe is None else
                 f"calibrated gate SUV {safe:g} (safe on its held-out fold), predict's gate {gate:g}"))
        if "speed" in args.parts:
            print(f"\n| study | network | ROI, overlap | MONAI s | petseg s (gate {tracer_gate:g}) | speed-up | "
                  f"windows run / all | petseg s (gate {gate:g}) | speed-up | windows run / all | "
                  "MONAI / petseg peak RSS GB |\n|---|---|---|---|---|---|---|---|---|---|---|")
            for study, path in studies.items():
                for name in args.networks:
                    folder = random_model_folder(name, args.roi, args.overlap, Path(tmp) / name)
                    monai = measure("monai", folder, path)
                    ours, high = measure("petseg", folder, path, tracer_gate), measure("petseg", folder, path, gate)
                    print(f"| {study} | {name} | {args.roi}^3, {args.overlap} | {monai['seconds']:.1f} | "
                          f"{ours['seconds']:.1f} | {monai['seconds'] / ours['seconds']:.2f}x | "
                          f"{ours['windows']['run']} / {ours['windows']['windows']} | {high['seconds']:.1f} | "
                          f"{monai['seconds'] / high['seconds']:.2f}x | {high['windows']['run']} / "
                          f"{high['windows']['windows']} | {monai['peak_rss_gb']:.2f} / {ours['peak_rss_gb']:.2f} |",
                          flush=True)
        if "agreement" in args.parts:
            print("\n| study | gate | MONAI s | petseg s | speed-up | windows run / all | Dice vs MONAI | "
                  "MONAI lesions | lost |\n|---|---|---|---|---|---|---|---|---|")
            for study, path in studies.items():
                monai = measure("monai", model, path)
                runs = ((f"{tracer_gate:g} (tracer)", tracer_gate),  # None: the calibration in the model folder
                        (f"{gate:g} (as predict runs)", None if args.gate is None else gate))
                for label, given in runs:
                    ours = measure("petseg", model, path, given)
                    dice, lesions, lost = agreement(path, given)
                    print(f"| {study} | {label} | {monai['seconds']:.1f} | {ours['seconds']:.1f} | "
                          f"{monai['seconds'] / ours['seconds']:.2f}x | {ours['windows']['run']} / "
                          f"{ours['windows']['windows']} | {dice:.4f} | {lesions} | {lost} |", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    main()
