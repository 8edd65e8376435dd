"""Builds petseg's built-in whole-body FDG model (`make model`) and measures it on studies it never saw.

1. data: the shared real IBSI sarcoma crops without patient STS_001 (whose whole-body scan is the real test) and
   synthetic medium-size whole-body FDG phantoms (physiology a crop never shows), merged into one datalist
   (`petseg datalist --merge`), folds kept by patient;
2. train: recipe `wb_fdg_cpu`, fold 0 held out;
3. calibrate (threshold, post-processing including the steps reading the SUV method's view: the anatomy step and
   the SUV outline; window gate) on fold 0;
4. test, never used for anything else: the real STS_001 whole-body PET (GTV_Mass) and full-size phantoms of
   new patients (seed 77). Side by side, same studies, same run: the built-in model without, with the anatomy
   step, with the SUV outline and anatomy (each forced on or off), as calibrated (what `builtin:wb-fdg` runs), the
   SUV method, and the crop-trained `tiny_unet` (IBSI without STS_001, its defaults);
5. install (`--parts install`): the model folder's files into src/petseg/builtin/wb_fdg (what `--model builtin:wb-fdg`
   loads), with its calibration.

Run: .venv/bin/python bench/wb_model.py [--out bench/out/wb_model] [--parts data train calibrate test install]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from petseg.api import segment
from petseg.data.datalist import build_datalist, load_datalist, merge_datalists, select, write_datalist
from petseg.data.dicom_study import load_dicom_study
from petseg.data.importers import import_folder
from petseg.data.phantom import make_phantom_study, write_phantom_cohort
from petseg.infer.calibrate import calibrate
from petseg.infer.predictor import Predictor
from petseg.metrics.autopet import autopet_metrics, nan_mean
from petseg.metrics.components import Overlap
from petseg.models.settings import InferenceOptions
from petseg.tracers import TRACERS
from petseg.train.trainer import TrainConfig, Trainer
from training import IBSI  # bench/training.py

ROOT = Path(__file__).resolve().parents[1]
STS001 = ROOT.parent / "shared" / "data" / "real" / "sts_001_wb_pet_rtstruct"
BUILTIN = ROOT / "src" / "petseg" / "builtin" / "wb_fdg"
SHIPPED = ("recipe.yaml", "model.json", "fingerprint.json", "checkpoint_final.pt", "calibration.json")


def build_data(out: Path, phantoms: int) -> Path:
    """The merged training datalist: IBSI crops without patient STS_001, and whole-body phantoms."""
    ibsi = out / "ibsi" / "datalist.json"
    cases = [c for c in import_folder(IBSI) if c.patient != "STS_001"]
    write_datalist(build_datalist(cases, ibsi.parent, n_folds=5), ibsi)
    bodies = write_phantom_cohort(out / "phantoms", n=phantoms, seed=31, size="medium", negatives=0.2, folds=5)
    merged = out / "datalist.json"
    write_datalist(merge_datalists([ibsi, bodies], out), merged)
    return merged


def train(datalist: Path, out: Path, recipe: str, cache: Path, quick: bool, resume: bool = False) -> tuple[Path, float]:
    """Train `recipe` with fold 0 held out (`quick`: 5 steps, to check the pipeline; `resume`: go on after a kill);
    its folder and minutes (of this run)."""
    start = time.perf_counter()
    overrides = {"training.epochs": "1", "training.steps_per_epoch": "5"} if quick else None
    Trainer(TrainConfig(recipe=recipe, datalist=datalist, fold=0, out=out, cache_dir=cache, tracer="fdg",
                        overrides=overrides, resume=resume)).run()
    return out, (time.perf_counter() - start) / 60


def test_studies(count: int) -> list:
    """The real STS_001 whole-body PET with its GTV, and `count` full-size phantoms of new patients."""
    studies = [load_dicom_study(STS001 / "pet", mask=STS001 / "rtstruct", roi="GTV_Mass", tracer="fdg")]
    studies[0].meta["case"] = "STS_001 whole body (real)"
    for patient in range(count):
        study = make_phantom_study(seed=77, patient=patient, size="full").study
        studies.append(study)
    return studies


def score_all(studies: list, model: Path, crop_model: Path) -> dict[str, list[dict]]:
    """Per study and method: Dice, FPV, FNV, lesions found of all."""
    def forced(anatomy: bool | None, outline: bool | None) -> Predictor:
        return Predictor([model], InferenceOptions(progress=False, anatomy=anatomy, suv_outline=outline))

    methods = {"built-in model": forced(False, False),
               "built-in model + anatomy": forced(True, False),
               "built-in model + SUV outline + anatomy": forced(True, True),
               "built-in model as calibrated (`builtin:wb-fdg`)": forced(None, None),
               "SUV method": None,
               "tiny_unet (IBSI crops)": Predictor([crop_model], InferenceOptions(progress=False))}
    rows: dict[str, list[dict]] = {name: [] for name in methods}
    for study in studies:
        truth = study.label.array > 0
        for name, predictor in methods.items():
            start = time.perf_counter()
            result = segment(study, model=predictor) if predictor is not None else segment(study)
            overlap = Overlap.of(truth, result.mask.array > 0, study.suv.voxel_ml)
            rows[name].append({"case": study.meta.get("case"), "seconds": time.perf_counter() - start,
                               "found": int(overlap.gt_touched().sum()), "lesions": len(overlap.gt_sizes),
                               **autopet_metrics(overlap)})
    return rows


def table(rows: dict[str, list[dict]]) -> str:
    """Markdown: the real study alone, then the phantoms' means."""
    lines = ["| method | STS_001 WB Dice | FPV ml | FNV ml | sarcoma found | phantoms Dice | FPV ml | FNV ml | "
             "lesions found | s / study |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, cases in rows.items():
        real, bodies = cases[0], cases[1:]
        found = f"{sum(c['found'] for c in bodies)}/{sum(c['lesions'] for c in bodies)}"
        lines.append(f"| {name} | {real['dice']:.3f} | {real['fpv_ml']:.1f} | {real['fnv_ml']:.1f} | "
                     f"{'yes' if real['found'] else 'no'} | {nan_mean(c['dice'] for c in bodies):.3f} | "
                     f"{nan_mean(c['fpv_ml'] for c in bodies):.1f} | {nan_mean(c['fnv_ml'] for c in bodies):.1f} | "
                     f"{found} | {np.mean([c['seconds'] for c in cases]):.1f} |")
    return "\n".join(lines)


def install(model: Path) -> None:
    """The shipped files into src/petseg/builtin/wb_fdg (the model card stays as written by hand)."""
    BUILTIN.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED:
        if (model / name).is_file():
            shutil.copy2(model / name, BUILTIN / name)
    description = json.loads((BUILTIN / "model.json").read_text())
    description["datalist"] = "bench/out/wb_model/datalist.json (made by bench/wb_model.py --parts data)"
    (BUILTIN / "model.json").write_text(json.dumps(description, indent=1))  # no path of the building machine
    calibration = BUILTIN / "calibration.json"
    if calibration.is_file():  # members are named by folder: the shipped folder's own name
        data = json.loads(calibration.read_text())
        data["members"] = [BUILTIN.name]
        calibration.write_text(json.dumps(data, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/out/wb_model"))
    parser.add_argument("--phantoms", type=int, default=60)
    parser.add_argument("--test-phantoms", type=int, default=4)
    parser.add_argument("--parts", nargs="+", default=["data", "train", "calibrate", "test"],
                        choices=["data", "train", "calibrate", "test", "install"])
    parser.add_argument("--quick", action="store_true", help="5 training steps: check the pipeline, not the model")
    parser.add_argument("--resume", action="store_true", help="go on with a killed training run of the built-in model")
    args = parser.parse_args()
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    datalist, model, crop = args.out / "datalist.json", args.out / "wb_fdg", args.out / "tiny_unet_crops"
    if "data" in args.parts:
        build_data(args.out, args.phantoms)
    if "train" in args.parts:
        _, minutes = train(datalist, model, "wb_fdg_cpu", args.out / "cache", args.quick, args.resume)
        print(f"wb_fdg_cpu: {minutes:.1f} min of training")
        if not (crop / "checkpoint_final.pt").is_file():  # the crop model is the baseline: trained once
            train(args.out / "ibsi" / "datalist.json", crop, "tiny_unet", args.out / "cache", args.quick)
    if "calibrate" in args.parts:
        entries = select(load_datalist(datalist), "fold:0")
        calibration = calibrate(Predictor([model], InferenceOptions(progress=False)), entries, "dice", TRACERS["fdg"])
        print(f"calibrated threshold {calibration['threshold']:.3f}, post-processing {calibration['postprocess']}, "
              f"gate {calibration['gate_suv']}; held-out fold 0 {calibration['chosen']}")
    if "test" in args.parts:
        rows = score_all(test_studies(args.test_phantoms), model, crop)
        (args.out / "test.json").write_text(json.dumps(rows, indent=1))
        print(table(rows))
    if "install" in args.parts:
        install(model)
        print(f"installed {model} -> {BUILTIN}")


if __name__ == "__main__":
    main()
