"""Benchmark: whole-body inference, `petseg predict` against MONAI's script at the same precision, process by process.

Studies (`petseg predict --input` folders of suv.nii.gz): the shared real whole-body FDG PET of STS_001 (GE,
267 x 128 x 128 at 4.7 x 4.7 x 3.3 mm, converted from DICOM as `petseg convert` does) and a full-size phantom
(`petseg phantom --size full`, 400 x 400 x 326, seed 3). Networks: a trained PET-only model (`--model`, e.g.
tiny_unet trained with `--param "inputs=[pet]"` at 2 x 2 x 3 mm, or the seed-004 DynUNet, PET-only, from
`bench/recipes.py`), run at `--roi` and `--overlap` (default 96^3 and 0.25, whatever it was trained with), its
calibration on its held-out fold giving the gate `predict` uses; and the seed-000 SegResNetDS and seed-004 DynUNet
with random weights at that gate (speed does not depend on the weights), at the same ROI and overlap.

Each measurement is a fresh process, alternating MONAI and petseg, with the same threads (`--threads`, torch's,
OpenMP's and OpenVINO's):
- MONAI: `bench/monai_script.py` (the recipe's preprocessing, `sliding_window_inference` with every window,
  bf16 = `torch.autocast(bfloat16)` + channels-last, or fp32; resampled back, thresholded, mask written);
- petseg: `petseg predict --model M --input S -o O --no-anatomy --no-suv-outline` with its defaults (OpenVINO
  when the cpu-fast extra is installed, the core window gate at the calibrated gate up to the tracer's ceiling),
  `--fp32` for fp32; the calibration's reading steps (anatomy, SUV outline: petseg's own, which a MONAI script
  does not have) are left out so that both sides make the same decision.
Per study: MONAI's reading-to-writing seconds against the study's seconds in petseg's summary.csv (reading,
windows, resampling, post-processing, quantification, regions, writing); process: the whole command's wall time.
Masks: Dice of petseg's against MONAI's at the same precision, and the lesions (18-connected components of MONAI's
mask) petseg loses. A first petseg run per model converts it for OpenVINO (cached in the model folder; timed apart).

Run: python bench/inference.py --model MODEL_DIR [--roi 96] [--overlap 0.25] [--studies ...] [--networks ...]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cc3d
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "real"
RANDOM = {"segresnetds": "auto3dseg_segresnet", "dynunet": "hadlich_dynunet"}


def prepare_studies(names: list[str], folder: Path) -> dict[str, Path]:
    """An --input folder per study, holding <case>/suv.nii.gz."""
    from petseg.data.dicom_study import load_dicom_study
    from petseg.data.phantom import make_phantom_study
    from petseg.io.images import write_volume

    studies = {}
    for name in names:
        case = folder / name / "case"
        case.mkdir(parents=True, exist_ok=True)
        study = (load_dicom_study(SHARED / "sts_001_wb_pet_rtstruct" / "pet") if name == "sts001"
                 else make_phantom_study(seed=3, size="full").study)
        write_volume(study.suv, case / "suv.nii.gz")
        studies[name] = folder / name
    return studies


def random_model_folder(recipe_name: str, like: Path, folder: Path) -> Path:
    """`recipe_name`'s network with seeded random weights (its own inputs), at `like`'s ROI and overlap."""
    import torch

    from petseg.models.networks import build_network
    from petseg.recipe import as_yaml, load_recipe, read_recipe_file

    inference = read_recipe_file(like / "recipe.yaml").inference
    recipe = load_recipe(recipe_name, {"inference.roi_size": str(list(inference.roi_size)),
                                       "inference.overlap": str(inference.overlap)})
    torch.manual_seed(0)
    network = build_network(recipe.network, len(recipe.inputs))
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"model": network.state_dict()}, folder / "checkpoint_final.pt")
    (folder / "recipe.yaml").write_text(as_yaml(recipe))
    (folder / "model.json").write_text(json.dumps({"recipe": recipe_name, "threshold": 0.5,  # as train writes it
                                                   "parameters": sum(p.numel() for p in network.parameters())}))
    return folder


def calibrated(model: Path, folder: Path, roi: int, overlap: float) -> tuple[Path, dict]:
    """A copy of the trained model run at a `roi`^3 window and `overlap`, calibrated on its held-out fold as
    `petseg calibrate` does; the calibration."""
    from petseg.data.datalist import load_datalist
    from petseg.infer.calibrate import calibrate
    from petseg.infer.predictor import Predictor
    from petseg.models.settings import InferenceOptions
    from petseg.recipe import as_yaml, load_recipe
    from petseg.tracers import TRACERS

    shutil.copytree(model, folder, ignore=shutil.ignore_patterns("cache", "calibration.json", ".petseg-cache"))
    recipe = load_recipe(str(folder / "recipe.yaml"), {"inference.roi_size": str([roi] * 3),
                                                       "inference.overlap": str(overlap)})
    (folder / "recipe.yaml").write_text(as_yaml(recipe))
    info = json.loads((folder / "model.json").read_text())
    held_out = [e for e in load_datalist(info["datalist"])["training"] if e.fold == info["fold"]]
    return folder, calibrate(Predictor([folder], InferenceOptions(progress=False)), held_out, "dice", TRACERS["fdg"])


def run(command: list[str], threads: int) -> tuple[float, str]:
    """Wall seconds and stdout of a command in a fresh process with `threads` threads."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_WAIT_POLICY="PASSIVE",
               PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def monai(model: Path, study: Path, out: Path, precision: str, threads: int) -> dict:
    process, stdout = run([sys.executable, str(ROOT / "bench" / "monai_script.py"), str(model),
                           str(study / "case" / "suv.nii.gz"), str(out), "--precision", precision,
                           "--threads", str(threads)], threads)
    report = json.loads(stdout.strip().splitlines()[-1])
    return {"study": report["study_s"], "process": process, "windows": report["windows"], "mask": out}


def petseg(model: Path, study: Path, out: Path, precision: str, threads: int, gate: float | None) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "petseg", "--quiet", "predict", "--model", str(model), "--input", str(study),
               "-o", str(out), "--threads", str(threads), "--no-anatomy", "--no-suv-outline"]
    command += (["--gate-suv", f"{gate:g}"] if gate is not None else []) + (["--fp32"] if precision == "fp32" else [])
    process, _ = run(command, threads)
    with open(out / "summary.csv", newline="") as handle:
        row = next(csv.DictReader(handle))
    return {"study": float(row["seconds"]), "process": process, "windows": (int(row["windows_run"]),
                                                                             int(row["windows"])),
            "mask": out / "case.nii.gz"}


def agreement(ours: Path, theirs: Path) -> tuple[float, int, int]:
    """(Dice, MONAI's lesions, lesions petseg loses) of two mask files."""
    from petseg.io.images import read_volume

    a, b = read_volume(ours).array > 0, read_volume(theirs).array > 0
    total = a.sum() + b.sum()
    dice = 1.0 if total == 0 else 2 * float((a & b).sum()) / float(total)
    lesions, count = cc3d.connected_components(b, connectivity=18, return_N=True)
    lost = sum(not a[lesions == k].any() for k in range(1, count + 1))
    return dice, int(count), int(lost)


def compare(name: str, model: Path, study: Path, work: Path, precision: str, args: argparse.Namespace,
            gate: float | None) -> str:
    """One table row: `rounds` alternating MONAI/petseg runs (medians), masks compared."""
    theirs, ours = [], []
    for index in range(args.rounds):
        theirs.append(monai(model, study, work / f"monai-{index}.nii.gz", precision, args.threads))
        ours.append(petseg(model, study, work / f"petseg-{index}", precision, args.threads, gate))
    median = {k: (float(np.median([r[k] for r in theirs])), float(np.median([r[k] for r in ours])))
              for k in ("study", "process")}
    dice, lesions, lost = agreement(ours[-1]["mask"], theirs[-1]["mask"])
    run_windows, all_windows = ours[-1]["windows"]
    return (f"| {study.name} | {name} | {precision} | {run_windows} / {all_windows} ({theirs[-1]['windows']}) | "
            f"{median['study'][0]:.1f} | {median['study'][1]:.1f} | **{median['study'][0] / median['study'][1]:.2f}x** "
            f"| {median['process'][0]:.1f} | {median['process'][1]:.1f} | "
            f"**{median['process'][0] / median['process'][1]:.2f}x** | {dice:.4f} | {lesions} | {lost} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="trained PET-only model (model.json: its fold)")
    parser.add_argument("--roi", type=int, default=96, help="window edge (voxels) every network runs at")
    parser.add_argument("--overlap", type=float, default=0.25)
    parser.add_argument("--studies", nargs="+", default=["sts001", "phantom"], choices=["sts001", "phantom"])
    parser.add_argument("--networks", nargs="+", default=["trained", *RANDOM], choices=["trained", *RANDOM])
    parser.add_argument("--precisions", nargs="+", default=["bf16", "fp32"], choices=["bf16", "fp32"])
    parser.add_argument("--fp32-networks", nargs="+", default=["trained"], help="networks also measured in fp32")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    from petseg.device import cpu_supports_bf16
    from petseg.models.settings import openvino_installed, window_gate
    from petseg.tracers import tracer_named

    print(f"{platform.processor() or platform.machine()}, {args.threads} threads, native bf16 {cpu_supports_bf16()}"
          f", OpenVINO {'installed' if openvino_installed() else 'absent'}, {time.strftime('%Y-%m-%d')}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        studies = prepare_studies(args.studies, work / "studies")
        trained, calibration = calibrated(args.model, work / "trained", args.roi, args.overlap)
        safe, floor = calibration["gate_suv"], calibration["postprocess"].get("suv_floor")
        gate = window_gate(None, safe, tracer_named("fdg"), floor)
        print(f"trained model: {args.model} ({json.loads((args.model / 'model.json').read_text())['recipe']}), "
              f"{args.roi}^3, overlap {args.overlap:g}; calibrated gate {safe} (held-out fold), SUV floor {floor}; "
              f"predict's gate {gate:g}")
        models = {"trained": trained, **{n: random_model_folder(RANDOM[n], trained, work / n) for n in RANDOM}}
        for name in args.networks:  # the first run converts for OpenVINO (cached in the model folder)
            first = petseg(models[name], studies[args.studies[0]], work / "first", "bf16", args.threads, gate)
            print(f"{name}: first petseg run (OpenVINO conversion or trace, cached) {first['process']:.1f} s")
        print("\n| study | network | precision | windows run / all (MONAI) | MONAI s / study | petseg s / study | "
              "per study | MONAI process s | petseg process s | process | Dice vs MONAI | MONAI lesions | lost |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for study in studies.values():
            for name in args.networks:
                for precision in args.precisions:
                    if precision == "fp32" and name not in args.fp32_networks:
                        continue
                    given = None if name == "trained" else gate  # the trained model's calibration.json decides
                    print(compare(name, models[name], study, work, precision, args, given), flush=True)


if __name__ == "__main__":
    main()
