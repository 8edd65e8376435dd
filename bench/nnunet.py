"""Benchmark: an nnU-Net v2 model through nnU-Net's own predictor vs through petseg (window gate), whole-body.

Model (speed): the default nnU-Net 3d_fullres plans (PlainConvUNet, nnunetv2's ExperimentPlanner) for a dataset at
autoPET geometry: planned from two full-size phantoms (400 x 400 x 326 at 2.04 x 2.04 x 3 mm, CT + PET, written in
nnU-Net's raw layout and fingerprinted by nnunetv2), random weights (seeded) in nnU-Net's checkpoint format, fold 0.
The same plans with the PET channel alone make the PET-only variant for STS_001 (PET only). Model (agreement): the
tiny models the tests fit (`tests/nnunet/tiny_model.py`: CT + PET at 4 mm, PET only at 8 mm, 32^3 patches).

Studies: a full-size phantom (`petseg phantom --size full`, seed 7) and the shared real STS_001 whole-body PET
(DICOM converted to SUV NIfTI as `petseg convert` does). Both sides from the NIfTI files, fp32 on the CPU, no
mirroring (8x the time; the same on both sides), fold 0, tile step 0.5: nnU-Net =
`nnUNetPredictor.predict_from_files_sequential` (read, preprocess, every window, export) and the model's
postprocessing.pkl where it has one (petseg applies it too); petseg = `load_study`
+ `NnunetPredictor.predict` (read, nnU-Net's preprocessing, gated windows, nnU-Net's export) at FDG's default gate
(SUV 1.5) and at its calibrated ceiling (2.5), each on whole windows and on windows' cores (`--gate-region`); the
tiny models also at gate 0 (every window: nnU-Net's mask). Model loading is not timed. Each run in its own process
(peak RSS of that process).

The baseline on the full-size phantom is modelled (`--estimate phantom`, the default): 180 windows of 128^3 take ~45
min per engine on 2 cores, so the run with no window (reading, preprocessing, export) and the network's seconds per
window are measured, and the windows each side runs counted exactly. Run: .venv/bin/python bench/nnunet.py
[--studies phantom sts001] [--models tiny baseline] [--estimate phantom] [--gates 2.5:core ...]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import platform
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tiny models are made by the tests' builder
from tests.nnunet.tiny_model import build_tiny_models, nnunet_environment, pet_only_plans

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
BASELINE_ID = 501
# (gate SUV, region): FDG's default gate and its calibrated ceiling, on whole windows (the default for nnU-Net
# models) and on windows' cores (`--gate-region core`, or where `petseg calibrate` found it keeps the masks)
GATES = {"baseline": ((1.5, "window"), (2.5, "window"), (1.5, "core"), (2.5, "core")),
         "tiny": ((0.0, "window"), (1.5, "window"), (2.5, "window"), (1.5, "core"), (2.5, "core"))}


def write_raw_dataset(root: Path, name: str) -> None:
    """Two full-size FDG phantoms in nnU-Net's raw layout (CT _0000, PET _0001)."""
    from petseg.data.phantom import make_phantom_study
    from petseg.io.images import write_volume

    base = root / "raw" / name
    for sub in ("imagesTr", "labelsTr"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    for seed in (0, 1):
        study = make_phantom_study(seed=seed, patient=seed, tracer="fdg", size="full").study
        write_volume(study.ct, base / "imagesTr" / f"wb_{seed:03d}_0000.nii.gz")
        write_volume(study.suv, base / "imagesTr" / f"wb_{seed:03d}_0001.nii.gz")
        write_volume(study.label, base / "labelsTr" / f"wb_{seed:03d}.nii.gz")
    (base / "dataset.json").write_text(json.dumps({"channel_names": {"0": "CT", "1": "PET"}, "numTraining": 2,
                                                   "labels": {"background": 0, "lesion": 1}, "file_ending": ".nii.gz"}))


def random_folds(plans: dict, dataset_json: dict, folder: Path) -> Path:
    """Fold 0 of the planned 3d_fullres network with seeded random weights, in nnU-Net's checkpoint format."""
    import torch
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    manager = PlansManager(plans)
    configuration = manager.get_configuration("3d_fullres")
    torch.manual_seed(0)
    network = nnUNetTrainer.build_network_architecture(
        manager, configuration, determine_num_input_channels(manager, configuration, dataset_json), 2, False)
    (folder / "fold_0").mkdir(parents=True, exist_ok=True)
    (folder / "plans.json").write_text(json.dumps(plans, indent=1))
    (folder / "dataset.json").write_text(json.dumps(dataset_json, indent=1))
    torch.save({"network_weights": network.state_dict(), "trainer_name": "nnUNetTrainer",
                "inference_allowed_mirroring_axes": (0, 1, 2),
                "init_args": {"plans": plans, "configuration": "3d_fullres", "fold": 0, "dataset_json": dataset_json}},
               folder / "fold_0" / "checkpoint_final.pth")
    return folder


def baseline_models(root: Path) -> dict[str, Path]:
    """The autoPET-geometry 3d_fullres model (CT + PET) and its PET-only variant (see the module docstring)."""
    from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import ExperimentPlanner
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprint_dataset,
        plan_experiment_dataset,
    )

    name = f"Dataset{BASELINE_ID}_PetsegWholeBody"
    folders = {"petct": root / "results" / name / "nnUNetTrainer__nnUNetPlans__3d_fullres",
               "pet": root / "results" / f"{name}PET" / "nnUNetTrainer__nnUNetPlans__3d_fullres"}
    if all((f / "fold_0" / "checkpoint_final.pth").is_file() for f in folders.values()):
        return folders
    with nnunet_environment(root), contextlib.redirect_stdout(io.StringIO()):
        write_raw_dataset(root, name)
        extract_fingerprint_dataset(BASELINE_ID, num_processes=1, check_dataset_integrity=False, clean=True,
                                    verbose=False, show_progress_bar=False)
        plan_experiment_dataset(BASELINE_ID, ExperimentPlanner)
    plans = json.loads((root / "preprocessed" / name / "nnUNetPlans.json").read_text())
    plans["configurations"] = {"3d_fullres": plans["configurations"]["3d_fullres"]}
    dataset_json = json.loads((root / "raw" / name / "dataset.json").read_text())
    random_folds(plans, dataset_json, folders["petct"])
    pet_only = pet_only_plans(plans, f"{name}PET")
    pet_only["configurations"]["3d_fullres"]["spacing"] = plans["configurations"]["3d_fullres"]["spacing"]
    random_folds(pet_only, {**dataset_json, "channel_names": {"0": "PET"}}, folders["pet"])
    return folders


def prepare_studies(names: list[str], folder: Path) -> dict[str, dict[str, str]]:
    """NIfTI files of each study: {"pet", "ct" (phantom only), "label"}."""
    from petseg.cli.main import run
    from petseg.data.phantom import make_phantom_study
    from petseg.data.phantom.generate import write_phantom_case

    studies = {}
    if "phantom" in names:
        if not (folder / "phantom" / "suv.nii.gz").is_file():
            write_phantom_case(make_phantom_study(seed=7, patient=7, tracer="fdg", size="full"), folder / "phantom")
        studies["phantom"] = {k: str(folder / "phantom" / f"{k if k != 'pet' else 'suv'}.nii.gz")
                              for k in ("pet", "ct", "label")}
    if "sts001" in names:
        if not (folder / "sts001" / "suv.nii.gz").is_file():
            run(["convert", "--pet", str(SHARED / "sts_001_wb_pet_rtstruct" / "pet"), "-o", str(folder / "sts001"),
                 "--overwrite"])
        studies["sts001"] = {"pet": str(folder / "sts001" / "suv.nii.gz")}
    return studies


def _nnunet_postprocessing(model: str, segmentation: np.ndarray) -> np.ndarray:
    """nnU-Net's postprocessing.pkl on its label map, the file petseg's predictor chooses for fold 0 (as
    `nnUNetv2_apply_postprocessing` would run it after `nnUNetv2_predict`); unchanged where the folder has none."""
    from petseg.nnunet.folder import NnunetOptions, open_folder
    from petseg.nnunet.runtime import load_postprocessing

    chosen = open_folder(model, NnunetOptions(folds=("0",))).postprocessing_file()
    if chosen is None:
        return segmentation
    from nnunetv2.postprocessing.remove_connected_components import apply_postprocessing

    return np.asarray(apply_postprocessing(np.asarray(segmentation), *load_postprocessing(chosen)))


def _measure(engine: str, model: str, files: dict[str, str], gate: tuple[float, str], out: str, queue) -> None:
    """One run in a fresh process: seconds, peak RSS, windows; the label map saved to `out`."""
    import torch

    torch.set_num_threads(2)
    channels = [files[c] for c in (("ct", "pet") if "ct" in files else ("pet",))]
    if engine == "nnunet":
        from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

        predictor = nnUNetPredictor(tile_step_size=0.5, use_mirroring=False, device=torch.device("cpu"),
                                    allow_tqdm=False)
        predictor.initialize_from_trained_model_folder(model, (0,), "checkpoint_final.pth")
        start = time.perf_counter()
        segmentation, windows = predictor.predict_from_files_sequential([channels], None)[0], None
        segmentation = _nnunet_postprocessing(model, segmentation)  # what petseg applies too: like for like
    else:
        from petseg.data.study import load_study
        from petseg.models.settings import InferenceOptions
        from petseg.nnunet.folder import NnunetOptions
        from petseg.nnunet.predictor import NnunetPredictor

        options = InferenceOptions(gate_suv=gate[0], gate_core=gate[1] == "core", bf16=False, threads=2,
                                   progress=False)
        predictor = NnunetPredictor(model, options, NnunetOptions(folds=("0",), mirror_axes=()))
        start = time.perf_counter()
        prediction = predictor.predict(load_study(files["pet"], files.get("ct"), tracer="fdg"))
        segmentation, windows = prediction.mask.array, prediction.windows.as_dict()
    seconds = time.perf_counter() - start
    np.save(out, np.asarray(segmentation) > 0)
    queue.put({"seconds": round(seconds, 1), "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                                                   / 2**20, 2), "windows": windows})


def in_process(target, *args):
    """`target(*args, queue)` in a fresh process (its own peak memory); what it puts on the queue."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def measure(engine: str, model: Path, files: dict[str, str], gate: tuple[float, str], out: Path) -> dict:
    return in_process(_measure, engine, str(model), files, gate, str(out))


def agreement(reference: np.ndarray, mask: np.ndarray) -> dict:
    """Dice of two binary masks and the lesions (18-connected components) of `reference` that `mask` misses."""
    from petseg.metrics.components import Overlap
    overlap = Overlap.of(reference, mask, 1.0)
    total = reference.sum() + mask.sum()
    return {"dice": round(float(2 * (reference & mask).sum() / total), 4) if total else 1.0,
            "lesions": len(overlap.gt_sizes), "lost": int((~overlap.gt_touched()).sum()),
            "mask_voxels": int(mask.sum()), "reference_voxels": int(reference.sum())}


def run_study(label: str, model: Path, study: str, files: dict[str, str], out: Path,
              gates: tuple[tuple[float, str], ...]) -> list[dict]:
    """nnU-Net, then petseg at each gate: times, memory, windows, agreement with nnU-Net's mask."""
    rows = []
    reference = measure("nnunet", model, files, (0.0, "window"), out / f"{label}_{study}_nnunet.npy")
    rows.append({"model": label, "study": study, "engine": "nnU-Net", **reference})
    masks = {"nnunet": np.load(out / f"{label}_{study}_nnunet.npy")}
    for gate in gates:
        path = out / f"{label}_{study}_petseg_{gate[0]:g}_{gate[1]}.npy"
        result = measure("petseg", model, files, gate, path)
        rows.append({"model": label, "study": study, "engine": f"petseg gate {gate[0]:g} {gate[1]}", **result,
                     "speed_up": round(reference["seconds"] / result["seconds"], 2),
                     **agreement(masks["nnunet"], np.load(path))})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def _forward(model: str, queue) -> None:
    """Median seconds of the model's network on one window (3 runs after a warm-up), 2 threads, float32."""
    import torch

    from petseg.nnunet.folder import open_folder
    from petseg.nnunet.loading import build_predictor

    torch.set_num_threads(2)
    runner = build_predictor(open_folder(model), torch.device("cpu"), 0.5, None, ())
    inputs = len(runner.dataset_json["channel_names"])
    window = torch.zeros((1, inputs, *runner.configuration_manager.patch_size))
    times = []
    with torch.inference_mode():
        for _ in range(4):
            start = time.perf_counter()
            runner.network(window)
            times.append(time.perf_counter() - start)
    queue.put(float(np.median(times[1:])))


def window_counts(model: Path, files: dict[str, str], gates: tuple[tuple[float, str], ...]
                  ) -> dict[tuple[float, str], int]:
    """Windows petseg runs at each gate and region (its own gate machinery on nnU-Net's windows; no network runs)."""
    from petseg.data.study import load_study
    from petseg.nnunet.channels import model_inputs
    from petseg.nnunet.folder import NnunetOptions
    from petseg.nnunet.gated import padded, to_network_grid, window_runs, window_slices
    from petseg.nnunet.predictor import NnunetPredictor

    predictor = NnunetPredictor(model, nnunet=NnunetOptions(folds=("0",), mirror_axes=()))
    runner, study = predictor.runner, load_study(files["pet"], files.get("ct"), tracer="fdg")
    data, _, properties = runner.configuration_manager.preprocessor_class(verbose=False).run_case_npy(
        model_inputs(study, predictor.kinds), None, {"spacing": list(study.suv.spacing_zyx)}, runner.plans_manager,
        runner.configuration_manager, runner.dataset_json)
    counts = {}
    for gate, region in gates:
        hot = padded(runner, to_network_grid(study.suv.array >= gate, properties,  # as `NnunetPredictor.run`
                                             list(runner.plans_manager.transpose_forward), data.shape[1:],
                                             widen=region == "window"))
        counts[(gate, region)] = sum(window_runs(hot, window_slices(runner, hot.shape), region == "core"))
    return counts


def estimate_study(label: str, model: Path, study: str, files: dict[str, str], out: Path,
                   gates: tuple[tuple[float, str], ...]) -> list[dict]:
    """Where a measured run takes too long: seconds = the run with no window (reading, preprocessing, export,
    measured) + windows x the network's measured seconds per window; windows counted exactly."""
    per_window = in_process(_forward, str(model))
    base = measure("petseg", model, files, (1e9, "core"), out / f"{label}_{study}_none.npy")  # + the core's reweighting
    total = base["windows"]["windows"]
    counts = window_counts(model, files, gates)
    nnunet_seconds = base["seconds"] + total * per_window
    rows = [{"model": label, "study": study, "engine": "nnU-Net (modelled)", "seconds": round(nnunet_seconds),
             "windows": {"windows": total, "run": total}, "per_window_s": round(per_window, 1),
             "without_windows_s": base["seconds"], "peak_rss_gb_without_windows": base["peak_rss_gb"]}]
    for (gate, region), run in counts.items():
        seconds = base["seconds"] + run * per_window
        rows.append({"model": label, "study": study, "engine": f"petseg gate {gate:g} {region} (modelled)",
                     "seconds": round(seconds), "windows": {"windows": total, "run": run},
                     "speed_up": round(nnunet_seconds / seconds, 2)})
    print(json.dumps(rows), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", nargs="+", default=["phantom", "sts001"])
    parser.add_argument("--models", nargs="+", default=["tiny", "baseline"])
    parser.add_argument("--out", type=Path, default=Path("bench/out/nnunet"))
    parser.add_argument("--estimate", nargs="*", default=["phantom"], help="studies whose baseline runs are modelled "
                        "(a measured full-size run takes ~45 min per engine on 2 cores)")
    parser.add_argument("--gates", nargs="*", default=[], help="only these of GATES, as SUV:region (e.g. 2.5:core)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    studies = prepare_studies(args.studies, args.out / "studies")
    models = {}
    if "baseline" in args.models:
        models["baseline"] = baseline_models(args.out / "baseline")
    if "tiny" in args.models:
        if not (args.out / "tiny" / "done").is_file():
            shutil.rmtree(args.out / "tiny", ignore_errors=True)
            models["tiny"] = build_tiny_models(args.out / "tiny" / "models")
            (args.out / "tiny" / "done").write_text(json.dumps({k: str(v) for k, v in models["tiny"].items()}))
        models["tiny"] = {k: Path(v) for k, v in json.loads((args.out / "tiny" / "done").read_text()).items()}
    rows = []
    for label, pair in models.items():
        for study, files in studies.items():
            how = estimate_study if label == "baseline" and study in args.estimate else run_study
            gates = tuple(g for g in GATES[label] if not args.gates or f"{g[0]:g}:{g[1]}" in args.gates)
            rows += how(label, pair["petct" if "ct" in files else "pet"], study, files, args.out, gates)
    machine = {"cpu": platform.processor() or platform.machine(), "date": time.strftime("%Y-%m-%d %H:%M")}
    name = f"results_{'_'.join(args.models)}_{'_'.join(args.studies)}.json"
    (args.out / name).write_text(json.dumps({"machine": machine, "rows": rows}, indent=1))
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
