from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from petseg.cli.main import run
from tests.infer.conftest import held_out

pytestmark = pytest.mark.slow  # trains networks


def rows(path):
    return list(csv.DictReader(path.open()))


def phantom_with_hot_network(tmp_path, monkeypatch, suv_above: float):
    """A small whole-body phantom written as SUV and CT NIfTI, and a stand-in network that calls every voxel above
    `suv_above`; the phantom study and `segment`'s input arguments."""
    from petseg.data.phantom import make_phantom_study
    from petseg.io.images import write_volume

    def hot(predictor, model, settings):  # PET is the tiny recipe's third channel, scaled SUV 0-10 -> 0-1
        return lambda batch: (batch[:, 2:3] > suv_above / 10).float()

    monkeypatch.setattr("petseg.infer.predictor.Predictor._window_predictor", hot)
    study = make_phantom_study(seed=5, patient=3, size="small", n_lesions=4).study
    write_volume(study.suv, tmp_path / "suv.nii.gz")
    write_volume(study.ct, tmp_path / "ct.nii.gz")
    return study, ["segment", "--pet", str(tmp_path / "suv.nii.gz"), "--ct", str(tmp_path / "ct.nii.gz")]

def test_predict_reports_a_bad_study_and_goes_on(trained, tmp_path, capsys):
    datalist = json.loads(trained.cohort.read_text())
    broken = tmp_path / "broken_suv.nii.gz"
    broken.write_bytes(b"not an image")
    datalist["testing"] = [{"case": "broken", "image2": str(broken)}, *held_out(trained)[:2]]
    for entry in datalist["testing"][1:]:
        for key in ("image", "image2", "label"):
            entry[key] = str((trained.cohort.parent / entry[key]).resolve())
    path = tmp_path / "d.json"
    path.write_text(json.dumps(datalist))
    out = tmp_path / "preds"
    assert run(["--quiet", "predict", "--model", str(trained.model), "--datalist", str(path), "-o", str(out)]) == 2
    assert "1 study(ies) failed" in capsys.readouterr().err
    summary = rows(out / "summary.csv")
    assert [r["status"] for r in summary] == ["failed", "ok", "ok"] and "broken" in summary[0]["error"]
    for row in summary[1:]:
        assert (out / f"{row['case']}.nii.gz").is_file() and float(row["seconds"]) > 0
        assert int(row["windows_run"]) <= int(row["windows"])
        lesions = json.loads((out / f"{row['case']}.lesions.json").read_text())  # the schema segment writes
        assert lesions["study"]["case"] == row["case"] and lesions["method"]["name"] == "model"
        assert lesions["totals"]["lesion_count"] == int(row["lesions"])
        assert abs(lesions["totals"]["tmtv_ml"] - float(row["tmtv_ml"])) < 1e-3


def test_shards_split_the_cohort(trained, tmp_path):
    seen = []
    for index in (1, 2):
        out = tmp_path / f"shard{index}"
        assert run(["--quiet", "predict", "--model", str(trained.model), "--datalist", str(trained.cohort),
                    "--split", "fold:0", "-o", str(out), "--shard", f"{index}/2"]) == 0
        seen.append({r["case"] for r in rows(out / f"summary-{index}-of-2.csv")})
    assert seen[0] and seen[1] and not seen[0] & seen[1]
    assert seen[0] | seen[1] == {e["case"] for e in held_out(trained)}
    assert run(["predict", "--model", str(trained.model), "--datalist", str(trained.cohort), "-o",
                str(tmp_path / "x"), "--shard", "3/2"]) == 2


def test_calibrate_then_predict_and_segment_use_it(trained, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(trained.model, model)
    assert run(["--quiet", "calibrate", "--model", str(model), "--datalist", str(trained.cohort),
                "--split", "fold:0"]) == 0
    calibration = json.loads((model / "calibration.json").read_text())
    assert calibration["members"] == ["model"] and 0.05 <= calibration["threshold"] <= 0.95
    assert calibration["chosen"]["dice"] >= calibration["at_0.5"]["dice"]
    entry = held_out(trained)[0]
    study = trained.cohort.parent / entry["case"]
    out = tmp_path / "segment"
    assert run(["--quiet", "segment", "--pet", str(study / "suv.nii.gz"), "--ct", str(study / "ct.nii.gz"),
                "--model", str(model), "--tta", "x", "-o", str(out)]) == 0
    method = json.loads((out / "lesions.json").read_text())["method"]
    assert method["name"] == "model" and method["threshold"] == calibration["threshold"]
    assert method["postprocess"] == calibration["postprocess"] and method["flips"] == [[], [2]]
    for name in ("lesions.nii.gz", "lesions.csv", "mip.png", "report.html"):
        assert (out / name).is_file()
    folder_out = tmp_path / "folder"
    assert run(["--quiet", "predict", "--model", str(model), "--input", str(trained.cohort.parent), "-o",
                str(folder_out), "--threshold", "0.9"]) == 0
    assert len(rows(folder_out / "summary.csv")) == 16


def test_calibrate_out_of_fold_pools_what_each_member_held_out(trained, tmp_path, capsys):
    from petseg.data.datalist import load_datalist
    from petseg.data.study import load_study
    from petseg.infer.calibrate import held_out_cases
    from petseg.infer.predictor import Predictor
    from petseg.models.settings import InferenceOptions
    from petseg.tracers import TRACERS

    members = [tmp_path / "f0", tmp_path / "f1"]  # fold 0 and fold 1 of the same 2-fold cohort
    shutil.copytree(trained.model, members[0])
    shutil.copytree(trained.other, members[1])
    base = ["--quiet", "calibrate", "--datalist", str(trained.cohort), "--split", "out-of-fold"]
    assert run([*base, "--model", str(members[0]), "--model", str(members[1])]) == 0
    calibration = json.loads((members[0] / "calibration.json").read_text())
    assert calibration == json.loads((members[1] / "calibration.json").read_text())
    assert calibration["split"] == "out-of-fold" and calibration["members"] == ["f0", "f1"]
    entries = json.loads(trained.cohort.read_text())["training"]
    assert sorted(calibration["cases"]) == sorted(e["case"] for e in entries)  # every study, once
    predictor = Predictor(members, InferenceOptions(progress=False))
    assert predictor.decision.source == "calibration" and predictor.decision.threshold == calibration["threshold"]

    one_of_each = [next(e for e in load_datalist(trained.cohort)["training"] if e.fold == k) for k in (0, 1)]
    cases = held_out_cases(predictor, one_of_each, TRACERS["fdg"], split_out_of_fold=True)
    for case, entry, model in zip(cases, one_of_each, predictor.models, strict=True):  # each by its own member
        study = load_study(entry.pet, entry.ct, entry.label, ct_optional=True, tracer="fdg")
        own = predictor.member_probability(model, study).astype(np.float16)
        assert case.case == entry.case and np.array_equal(case.probability, own)
        assert not np.array_equal(own, predictor.probabilities(study, 0.0)[0].astype(np.float16))

    shutil.copytree(trained.model, tmp_path / "f0_again")
    capsys.readouterr()
    assert run([*base, "--model", str(members[0]), "--model", str(tmp_path / "f0_again")]) == 2
    assert "both held out fold 0" in capsys.readouterr().err
    shuffled = json.loads(trained.cohort.read_text())
    trained_on = next(e["case"] for e in entries if e["fold"] == 1)
    for entry in shuffled["training"]:  # another fold assignment: fold 0 now holds a study f0 trained on
        entry["fold"] = 0 if entry["case"] == trained_on else entry["fold"]
        entry.update({k: str((trained.cohort.parent / entry[k]).resolve()) for k in ("image", "image2", "label")})
    (tmp_path / "other.json").write_text(json.dumps(shuffled))
    assert run([*base[:3], str(tmp_path / "other.json"), *base[4:], "--model", str(members[0])]) == 2
    assert "the datalist the members were trained with" in capsys.readouterr().err


def test_inference_options_are_checked(trained, tmp_path, capsys):
    base = ["predict", "--model", str(trained.model), "--datalist", str(trained.cohort), "-o", str(tmp_path / "o")]
    assert run([*base, "--tta", "w"]) == 2
    assert run([*base, "--ensemble", "median"]) == 2
    assert run([*base, "--input", str(tmp_path)]) == 2
    assert "either --datalist" in capsys.readouterr().err


def test_shards_share_a_folder_and_a_rerun_never_mixes(trained, tmp_path, capsys):
    out = tmp_path / "preds"
    base = ["--quiet", "predict", "--model", str(trained.model), "--datalist", str(trained.cohort), "--split",
            "fold:0", "-o", str(out)]
    for index in (1, 2):  # two shards of one run into one folder
        assert run([*base, "--shard", f"{index}/2"]) == 0
    cases = {e["case"] for e in held_out(trained)}
    assert {p.name[: -len(".nii.gz")] for p in out.glob("*.nii.gz")} == cases
    (out / "my_notes.txt").write_text("mine")
    capsys.readouterr()
    assert run([*base, "--shard", "1/2"]) == 2  # the same shard again
    err = capsys.readouterr().err
    assert "already holds this shard's results (summary-1-of-2.csv)" in err and "--overwrite" in err
    assert run([*base, "--overwrite"]) == 0  # another run (unsharded): the shards' files go, the user's stay
    assert sorted(p.name for p in out.glob("summary*.csv")) == ["summary.csv"]
    assert {r["case"] for r in rows(out / "summary.csv")} == cases
    assert (out / "my_notes.txt").read_text() == "mine"
    one = held_out(trained)[:1]
    datalist = json.loads(trained.cohort.read_text())
    datalist["testing"] = [{**e, **{k: str((trained.cohort.parent / e[k]).resolve()) for k in ("image", "image2")}}
                           for e in one]
    (tmp_path / "one.json").write_text(json.dumps(datalist))
    assert run(["--quiet", "predict", "--model", str(trained.model), "--datalist", str(tmp_path / "one.json"),
                "-o", str(out), "--overwrite"]) == 0
    assert {p.name for p in out.glob("*.nii.gz")} == {f"{one[0]['case']}.nii.gz"}  # no stale masks
    assert run(["--quiet", "predict", "--model", str(trained.model), "--datalist", str(tmp_path / "one.json"),
                "-o", str(tmp_path)]) == 2  # a folder of other files
    assert "did not write" in capsys.readouterr().err


def test_a_case_folder_without_pet_is_reported_and_the_rest_goes_on(trained, tmp_path, capsys):
    cohort = tmp_path / "cohort"
    for entry in held_out(trained)[:2]:
        shutil.copytree(trained.cohort.parent / entry["case"], cohort / entry["case"])
    (cohort / "empty_case").mkdir()
    (cohort / "aaa_truncated").mkdir()
    pet = (trained.cohort.parent / held_out(trained)[0]["image2"]).read_bytes()
    (cohort / "aaa_truncated" / "suv.nii.gz").write_bytes(pet[: len(pet) // 2])
    out = tmp_path / "preds"
    assert run(["--quiet", "predict", "--model", str(trained.model), "--input", str(cohort), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "2 study(ies) failed" in err and len(err.strip().splitlines()) == 1
    summary = {r["case"]: r for r in rows(out / "summary.csv")}
    assert summary["empty_case"]["status"] == "failed" and "no PET file" in summary["empty_case"]["error"]
    assert summary["aaa_truncated"]["status"] == "failed" and "damaged" in summary["aaa_truncated"]["error"]
    assert sorted(r["status"] for r in summary.values()) == ["failed", "failed", "ok", "ok"]


def test_anatomy_removes_model_components_in_recognised_physiology(trained, tmp_path, monkeypatch):
    """--anatomy on a whole-body phantom, with a stand-in network that calls every voxel above SUV 3: what it calls
    in the brain or bladder is listed with its reason (lesions.json, the MIP's legend) and left out; the phantom's
    lesions stay; without the step every component stays."""
    from petseg.io.images import read_volume

    study, pet = phantom_with_hot_network(tmp_path, monkeypatch, suv_above=3.0)
    common = [*pet, "--model", str(trained.model), "--gate-suv", "0", "--threshold", "0.5"]
    assert run([*common, "-o", str(tmp_path / "plain"), "--no-anatomy"]) == 0
    assert run([*common, "-o", str(tmp_path / "anatomy"), "--anatomy"]) == 0
    plain = json.loads((tmp_path / "plain" / "lesions.json").read_text())
    cleaned = json.loads((tmp_path / "anatomy" / "lesions.json").read_text())
    removed = cleaned["method"]["suppressed"]
    assert "suppressed" not in plain["method"] and {"brain", "bladder"} <= {item["reason"] for item in removed}
    assert all(item["removed_by"] == "anatomy" and item["overlap"] >= 0.5 for item in removed)
    before = read_volume(tmp_path / "plain" / "lesions.nii.gz").array > 0
    after = read_volume(tmp_path / "anatomy" / "lesions.nii.gz").array > 0
    assert not (after & ~before).any() and after.sum() < before.sum()  # the step only removes
    truth = study.label.array > 0
    assert (after & truth).sum() == (before & truth).sum()  # no lesion voxel lost


def test_suv_outline_gives_the_suv_methods_outlines_the_model_confirms(trained, tmp_path, monkeypatch):
    """--suv-outline on a whole-body phantom, with a stand-in network that calls a few voxels above SUV 6: the
    lesions are whole outlines of the SUV method's own mask (segment without a model), those the network touched;
    lesions.json records the step."""
    from petseg.io.images import read_volume
    from petseg.metrics.components import label_components

    _, pet = phantom_with_hot_network(tmp_path, monkeypatch, suv_above=6.0)
    model = ["--model", str(trained.model), "--gate-suv", "0", "--threshold", "0.5", "--no-anatomy"]
    assert run([*pet, "-o", str(tmp_path / "suv")]) == 0
    assert run([*pet, *model, "-o", str(tmp_path / "plain"), "--no-suv-outline"]) == 0
    assert run([*pet, *model, "-o", str(tmp_path / "outline"), "--suv-outline"]) == 0
    suv_mask = read_volume(tmp_path / "suv" / "lesions.nii.gz").array > 0
    plain = read_volume(tmp_path / "plain" / "lesions.nii.gz").array > 0
    outlined = read_volume(tmp_path / "outline" / "lesions.nii.gz").array > 0
    components, count = label_components(suv_mask)
    touched = set(np.unique(components[plain & suv_mask])) - {0}
    assert count > len(touched) > 0  # the stand-in confirms some of the SUV method's lesions, not all
    assert (outlined == np.isin(components, sorted(touched))).all()
    method = json.loads((tmp_path / "outline" / "lesions.json").read_text())["method"]
    assert method["postprocess"]["suv_outline"] == {"confirm": 0.5} and "anatomy" not in method["postprocess"]

def test_torchrun_ranks_split_the_cohort_and_join_gives_the_whole(trained, tmp_path):
    """Two ranks launched by torchrun (CPU) take their shares from RANK/WORLD_SIZE into one folder."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import petseg

    out = tmp_path / "preds"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SLURM_", "RANK", "WORLD_SIZE"))}
    env.update(PYTHONPATH=str(Path(petseg.__file__).parents[1]), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "petseg", "-q", "predict", "--model", str(trained.model), "--datalist",
                           str(trained.cohort), "--split", "fold:0", "-o", str(out), "--shard", "auto", "--device",
                           "cpu"], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    shares = [{r["case"] for r in rows(out / f"summary-{index}-of-2.csv")} for index in (1, 2)]
    cohort = [entry["case"] for entry in held_out(trained)]
    assert shares[0] and shares[1] and not shares[0] & shares[1] and shares[0] | shares[1] == set(cohort)
    assert run(["--quiet", "predict", "--join", str(out)]) == 0
    joined = rows(out / "summary.csv")
    assert [r["case"] for r in joined] == cohort and {r["status"] for r in joined} == {"ok"}
    assert all((out / f"{case}.nii.gz").is_file() for case in cohort)


def test_the_gate_region_is_asked_for_and_recorded(trained, tmp_path):
    """--gate-region core gates on windows' cores (fewer windows), window on whole windows; lesions.json says which;
    a wrong value is one line, exit 2."""
    from petseg.data.phantom import make_phantom_study
    from petseg.io.images import write_volume

    study = make_phantom_study(seed=5, patient=3, size="small", n_lesions=4).study
    write_volume(study.suv, tmp_path / "suv.nii.gz")
    write_volume(study.ct, tmp_path / "ct.nii.gz")
    common = ["segment", "--pet", str(tmp_path / "suv.nii.gz"), "--ct", str(tmp_path / "ct.nii.gz"), "--model",
              str(trained.model), "--gate-suv", "2.5"]
    methods = {}
    for region in ("core", "window"):
        assert run([*common, "--gate-region", region, "-o", str(tmp_path / region)]) == 0
        methods[region] = json.loads((tmp_path / region / "lesions.json").read_text())["method"]
    assert methods["core"]["gate_region"] == "core" and methods["window"]["gate_region"] == "window"
    assert methods["core"]["windows"]["run"] < methods["window"]["windows"]["run"]
    assert run([*common, "--gate-region", "edge", "-o", str(tmp_path / "edge")]) == 2
    assert not (tmp_path / "edge").exists()
