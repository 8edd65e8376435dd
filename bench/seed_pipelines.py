"""Benchmark: the seed papers' pipelines end to end on the real IBSI sarcoma cohort, each with the steps a user runs
(`petseg train`, `predict`, `calibrate`), each step scored with and without it, on studies no model trained on.

The 34 studies' 5 folds are used so that nothing is scored on what chose it: members of an ensemble train on folds
2-4 only (a datalist without folds 0 and 1, each member holding one of its folds out), fold 1 chooses (threshold,
post-processing) and fold 0 tests. Every model uses its recipe's `cpu` profile.
- seed 002 (`galdran`): members of `galdran_swinunetr`, each deploying the epoch chosen by top-K AUROC on a
  selection split (the recipe's rule) - against the last epoch of the same training run, member by member and as
  ensembles; the ensemble at 0.5 and at the threshold chosen on fold 1; the MIP classifier gate
  (`galdran_mip_classifier`) trained on the training folds' studies (all lesion-positive) and lesion-free
  whole-body phantoms (no real negatives are shared): studies it would skip on fold 0.
- seed 003 (`safdari`): stage 1 (`safdari_cascade`), its masks of every study (`petseg predict`;
  no study is scored by a stage that trained on it), stage 2
  (`safdari_stage2 --stage1 MASKS`), then both stages against stage 1 alone on fold 0.
- seed 000 (`auto3dseg`): members of `auto3dseg_segresnet` as an ensemble, at 0.5 and with the post-processing
  chosen on fold 1 (including the high-SUV candidates of seed 000), against a single member.
- seed 000 as the paper runs it (`auto3dseg_5fold`): 5 members in cross-validation on folds 1-4 (re-split into 5
  inner folds by patient), the threshold and post-processing chosen on their out-of-fold predictions (`petseg
  calibrate --split out-of-fold`), the ensemble of 5 on fold 0; and seed 000's high-SUV recovery on its own.
Results: OUT/<pipeline>.json and markdown tables on stdout (for docs/benchmarks.md). Models already trained in OUT
are reused (the benchmark can run across sessions).

Run: .venv/bin/python bench/seed_pipelines.py [--pipelines galdran safdari auto3dseg auto3dseg_5fold] [--members 2]
     [--out bench/out/seed_pipelines]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from petseg.data.datalist import assign_folds, build_datalist, load_datalist, select, write_datalist
from petseg.data.importers import import_folder
from petseg.data.phantom import write_phantom_cohort
from petseg.data.study import load_study
from petseg.infer.calibrate import CALIBRATION, calibrate, held_out_cases
from petseg.infer.predictor import Predictor
from petseg.infer.threshold import score
from petseg.metrics.autopet import autopet_metrics, nan_mean
from petseg.metrics.components import Overlap
from petseg.models.checkpoints import FINAL
from petseg.models.settings import InferenceOptions
from petseg.recipe import load_recipe
from petseg.tracers import TRACERS
from petseg.train.classifier import ClassifierTrainer
from petseg.train.trainer import TrainConfig, Trainer
from training import IBSI  # bench/training.py


def entries_from(whole: Path, first_fold: int) -> list[dict]:
    """The whole datalist's entries of folds `first_fold` and up, their paths made absolute (for a datalist
    written elsewhere)."""
    data = json.loads(whole.read_text())
    return [{**e, **{k: str((whole.parent / e[k]).resolve()) for k in ("image", "image2", "label") if k in e}}
            for e in data["training"] if e["fold"] >= first_fold]


def cohorts(out: Path) -> tuple[Path, Path]:
    """The whole IBSI datalist (5 folds) and the members' datalist: folds 2-4 only."""
    whole = out / "ibsi" / "datalist.json"
    if not whole.exists():
        write_datalist(build_datalist(import_folder(IBSI), whole.parent, n_folds=5), whole)
    members = out / "members" / "datalist.json"
    if not members.exists():
        kept = entries_from(whole, first_fold=2)
        members.parent.mkdir(parents=True, exist_ok=True)
        members.write_text(json.dumps({"training": kept, "testing": []}))
    return whole, members


def inner_folds(out: Path, whole: Path, folds: int = 5) -> Path:
    """Folds 1-4 of the whole datalist re-split into `folds` cross-validation folds by patient (fold 0 stays out)."""
    path = out / "inner_folds" / "datalist.json"
    if not path.exists():
        kept = entries_from(whole, first_fold=1)
        inner = assign_folds([e["patient"] for e in kept], [e["positive"] for e in kept], folds)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"training": [{**e, "fold": f} for e, f in zip(kept, inner, strict=True)],
                                    "testing": []}))
    return path


def member(recipe: str, datalist: Path, fold: int, out: Path, **options) -> Path:
    """One model (the recipe's cpu profile) with `fold` held out, trained unless OUT already holds it; a run
    killed during training goes on from its last epoch."""
    (out / CALIBRATION).unlink(missing_ok=True)  # an earlier run's: rows at threshold 0.5 are the models' own
    if not (out / "model.json").exists():
        Trainer(TrainConfig(recipe=recipe, datalist=datalist, fold=fold, out=out, profile="cpu", tracer="fdg",
                            cache_dir=out.parent / "cache", resume=(out / "checkpoint_last.pt").is_file(),
                            **options)).run()
    return out


def last_epoch(folder: Path, out: Path) -> tuple[Path, int]:
    """The same training run deploying its last epoch (checkpoint_final.pt) instead of the epoch its rule chose:
    what the selection rule changes, with everything else (data, seed, steps) the same. Returns (folder, epochs)."""
    model = json.loads((folder / "model.json").read_text())
    if not (out / "model.json").exists():
        shutil.copytree(folder, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns("checkpoint_*.pt"))
        shutil.copy2(folder / FINAL, out / FINAL)
        model["files"]["weights"] = FINAL
        model["checkpoint"] = {"rule": "last", "weights": FINAL, "epoch": model["epochs"]}
        (out / "model.json").write_text(json.dumps(model, indent=1))
    return out, model["epochs"]


def scores(models: list[Path], entries: list, **options) -> dict[str, float]:
    """Mean Dice, FPV, FNV and lesions found of an ensemble on `entries` (the PET grid, predict's own path)."""
    predictor = Predictor(models, InferenceOptions(progress=False, **options))
    rows = []
    for entry in entries:
        study = load_study(entry.pet, entry.ct, entry.label, ct_optional=True, tracer="fdg")
        overlap = Overlap.of(study.label.array > 0, predictor.predict(study).mask.array > 0, study.suv.voxel_ml)
        rows.append({**autopet_metrics(overlap), "found": int(overlap.gt_touched().sum()),
                     "lesions": len(overlap.gt_sizes)})
    return {"dice": nan_mean(r["dice"] for r in rows), "fpv_ml": nan_mean(r["fpv_ml"] for r in rows),
            "fnv_ml": nan_mean(r["fnv_ml"] for r in rows),
            "found": f"{sum(r['found'] for r in rows)}/{sum(r['lesions'] for r in rows)}"}


def chosen_on_fold1(models: list[Path], whole: Path) -> dict:
    """Calibrate the ensemble on fold 1 (none of its members trained on it): threshold, post-processing, gate."""
    entries = select(load_datalist(whole), "fold:1")
    return calibrate(Predictor(models, InferenceOptions(progress=False)), entries, "dice", TRACERS["fdg"])


def galdran(out: Path, members: int) -> dict:
    """Seed 002: top-K AUROC selection, the ensemble's threshold, the MIP classifier gate."""
    whole, datalist = cohorts(out)
    test = select(load_datalist(whole), "fold:0")
    folders = [member("galdran_swinunetr", datalist, 2 + k, out / "galdran" / f"m{k}") for k in range(members)]
    rows, lasts = {}, []
    for k, folder in enumerate(folders):  # what the selection rule changes, member by member
        last, epochs = last_epoch(folder, out / "galdran" / f"m{k}_last")
        lasts.append(last)
        chosen = json.loads((folder / "model.json").read_text())["checkpoint"]["epoch"]
        rows[f"member {k}, last epoch ({epochs})"] = scores([last], test, threshold=0.5)
        rows[f"member {k}, top-K AUROC epoch ({chosen})"] = (rows[f"member {k}, last epoch ({epochs})"]
                                                             if chosen == epochs else
                                                             scores([folder], test, threshold=0.5))
    rows[f"ensemble of {members}, last epochs, threshold 0.5"] = scores(lasts, test, threshold=0.5)
    rows[f"ensemble of {members}, top-K AUROC epochs, threshold 0.5"] = scores(folders, test, threshold=0.5)
    calibration = chosen_on_fold1(folders, whole)
    rows[f"ensemble, threshold {calibration['threshold']:.3f} chosen on fold 1"] = scores(folders, test)
    negatives = write_phantom_cohort(out / "galdran" / "negatives", n=12, seed=41, size="small", negatives=1.0,
                                     folds=5)
    gate_list = out / "galdran" / "gate_datalist.json"
    merged = [*json.loads(datalist.read_text())["training"],
              *[{**e, **{k: str((negatives.parent / e[k]).resolve()) for k in ("image", "image2", "label")}}
                for e in json.loads(negatives.read_text())["training"]]]
    gate_list.write_text(json.dumps({"training": merged, "testing": []}))
    gate = out / "galdran" / "mip"
    if not (gate / "model.json").exists():
        ClassifierTrainer(load_recipe("galdran_mip_classifier"), gate_list, 2, gate).run()
    rows["ensemble + MIP classifier gate"] = scores([*folders, gate], test)
    return {"rows": rows, "calibration": {k: calibration[k] for k in ("threshold", "postprocess", "gate_suv")},
            "gate": json.loads((gate / "model.json").read_text())["validation"]}


def safdari(out: Path) -> dict:
    """Seed 003: stage 1, its masks, stage 2 on them, both stages against stage 1 alone."""
    whole, _ = cohorts(out)
    entries = load_datalist(whole)
    stage1 = member("safdari_cascade", whole, 0, out / "safdari" / "stage1")
    masks = out / "safdari" / "stage1_masks"
    missing = [e for e in entries["training"] if not (masks / f"{e.case}.nii.gz").is_file()]
    if missing:  # every study: stage 2 trains on its folds' masks and validates on fold 0's, as predict feeds it
        from petseg.cohort.run import predict_cohort

        predict_cohort(Predictor([stage1], InferenceOptions(progress=False)), missing, masks, "fdg")
    stage2 = member("safdari_stage2", whole, 0, out / "safdari" / "stage2", stage1_dir=masks)
    test = select(entries, "fold:0")
    return {"rows": {"stage 1 alone": scores([stage1], test), "stage 1 -> stage 2": scores([stage1, stage2], test)}}


def auto3dseg(out: Path, members: int) -> dict:
    """Seed 000: an ensemble of SegResNetDS members and the high-SUV recovery post-processing."""
    whole, datalist = cohorts(out)
    test = select(load_datalist(whole), "fold:0")
    folders = [member("auto3dseg_segresnet", datalist, 2 + k, out / "auto3dseg" / f"m{k}") for k in range(members)]
    rows = {"one member": scores(folders[:1], test, threshold=0.5),
            f"ensemble of {members}, threshold 0.5": scores(folders, test, threshold=0.5)}
    calibration = chosen_on_fold1(folders, whole)
    rows[f"ensemble + post-processing chosen on fold 1 {calibration['postprocess']}"] = scores(folders, test)
    return {"rows": rows, "calibration": {k: calibration[k] for k in ("threshold", "postprocess", "gate_suv")}}


def auto3dseg_5fold(out: Path) -> dict:
    """Seed 000's 5-fold ensemble with its post-processing chosen out of fold, and the high-SUV recovery alone."""
    whole, _ = cohorts(out)
    datalist = inner_folds(out, whole)
    folders = [member("auto3dseg_segresnet", datalist, k, out / "auto3dseg_5fold" / f"m{k}") for k in range(5)]
    test = select(load_datalist(whole), "fold:0")
    rows = {"one member (m0)": scores(folders[:1], test, threshold=0.5),
            "ensemble of 5, threshold 0.5": scores(folders, test, threshold=0.5)}
    ensemble = Predictor(folders, InferenceOptions(progress=False))
    calibration = calibrate(ensemble, load_datalist(datalist)["training"], "dice", TRACERS["fdg"],
                            split_out_of_fold=True)
    rows[f"ensemble + threshold {calibration['threshold']:.3f} and post-processing chosen out of fold "
         f"{calibration['postprocess']}"] = scores(folders, test)
    cases = held_out_cases(ensemble, test, TRACERS["fdg"])  # every window run: the two rows differ by one step
    recovery = {"candidates": {"threshold": 0.25, "suvmax": 4 * TRACERS["fdg"].suv_floor}}
    rows["ensemble at 0.5, every window"] = {**score(cases, 0.5, {}), "found": "-"}
    rows[f"ensemble at 0.5 + high-SUV recovery {recovery['candidates']}"] = {**score(cases, 0.5, recovery),
                                                                             "found": "-"}
    return {"rows": rows, "calibration": {k: calibration[k] for k in ("threshold", "postprocess", "gate_suv")},
            "out_of_fold": {k: calibration[k] for k in ("at_0.5", "chosen", "trials")}}


def table(name: str, result: dict) -> str:
    lines = [f"\n{name} (fold 0 of IBSI, never used to train or choose):", "",
             "| pipeline step | Dice | FPV ml | FNV ml | lesions found |", "|---|---|---|---|---|"]
    for step, r in result["rows"].items():
        lines.append(f"| {step} | {r['dice']:.3f} | {r['fpv_ml']:.1f} | {r['fnv_ml']:.1f} | {r['found']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", nargs="+", default=["safdari", "galdran", "auto3dseg"],
                        choices=["safdari", "galdran", "auto3dseg", "auto3dseg_5fold"])
    parser.add_argument("--members", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench/out/seed_pipelines"))
    args = parser.parse_args()
    for name in args.pipelines:
        start = time.perf_counter()
        result = {"galdran": lambda: galdran(args.out, args.members), "safdari": lambda: safdari(args.out),
                  "auto3dseg": lambda: auto3dseg(args.out, args.members),
                  "auto3dseg_5fold": lambda: auto3dseg_5fold(args.out)}[name]()
        result["minutes"] = round((time.perf_counter() - start) / 60, 1)
        (args.out / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))
        print(table(name, result), flush=True)


if __name__ == "__main__":
    main()
