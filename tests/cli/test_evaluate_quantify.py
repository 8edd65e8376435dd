from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from petseg.cli.main import run
from petseg.io.images import Volume, write_volume


def mask_volume(points, shape=(8, 8, 8), spacing=(2.0, 2.0, 3.0), value=1):
    array = np.zeros(shape, np.uint8)
    for point in points:
        array[point] = value
    return Volume(array, spacing)


@pytest.fixture
def cohort(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    write_volume(mask_volume([(1, 1, 1), (5, 5, 5)]), gt / "a.nii.gz")
    write_volume(mask_volume([]), gt / "b.nii.gz")  # negative study
    write_volume(mask_volume([(1, 1, 1), (6, 1, 1)]), pred / "a" / "lesions.nii.gz")  # segment's layout
    write_volume(mask_volume([(3, 3, 3)]), pred / "b.nii.gz")
    return gt, pred


def test_evaluate_folders(tmp_path, cohort, capsys):
    gt, pred = cohort
    out, table = tmp_path / "metrics.json", tmp_path / "metrics.csv"
    assert run(["evaluate", "--gt", str(gt), "--pred", str(pred), "-o", str(out), "--csv", str(table)]) == 0
    report = json.loads(out.read_text())
    a, b = report["cases"]
    voxel_ml = 2 * 2 * 3 / 1000
    assert a["case"] == "a" and a["dice"] == pytest.approx(0.5)
    assert a["fpv_ml"] == pytest.approx(voxel_ml) and a["fnv_ml"] == pytest.approx(voxel_ml)
    assert b["dice"] is None and b["fnv_ml"] is None and b["fpv_ml"] == pytest.approx(voxel_ml)
    assert report["mean"]["dice"] == pytest.approx(0.5)
    assert report["mean"]["fpv_ml"] == pytest.approx(voxel_ml)
    assert report["detection"]["gt_lesions"] == 2 and report["detection"]["tp"] == 1
    rows = list(csv.DictReader(table.open()))
    assert [r["case"] for r in rows] == ["a", "b"] and rows[1]["dice"] == ""
    printed = capsys.readouterr().out
    assert "mean of 2 (1 negative)" in printed and "0.500" in printed


def test_evaluate_autopet1_rule(tmp_path, cohort):
    gt, pred = cohort
    out = tmp_path / "m.json"
    assert run(["evaluate", "--gt", str(gt), "--pred", str(pred), "-o", str(out), "--rule", "autopet1"]) == 0
    report = json.loads(out.read_text())
    assert report["cases"][1]["dice"] == 0.0 and report["mean"]["dice"] == pytest.approx(0.25)


def test_evaluate_single_files_and_grid_mismatch(tmp_path, capsys):
    write_volume(mask_volume([(1, 1, 1)]), tmp_path / "gt.nii.gz")
    write_volume(mask_volume([(1, 1, 1)]), tmp_path / "pred.nii.gz")
    assert run(["evaluate", "--gt", str(tmp_path / "gt.nii.gz"), "--pred", str(tmp_path / "pred.nii.gz")]) == 0
    capsys.readouterr()
    write_volume(mask_volume([(1, 1, 1)], spacing=(2.0, 2.0, 3.5)), tmp_path / "other.nii.gz")
    assert run(["evaluate", "--gt", str(tmp_path / "gt.nii.gz"), "--pred", str(tmp_path / "other.nii.gz")]) == 2
    err = capsys.readouterr().err
    assert "grids differ" in err and "spacing 2x2x3 mm" in err and "spacing 2x2x3.5 mm" in err


def test_missing_predictions(tmp_path, cohort, capsys):
    gt, pred = cohort
    (pred / "b.nii.gz").unlink()
    assert run(["evaluate", "--gt", str(gt), "--pred", str(pred)]) == 2
    assert "1 case(s) have no prediction: b" in capsys.readouterr().err
    out = tmp_path / "m.json"
    assert run(["evaluate", "--gt", str(gt), "--pred", str(pred), "--missing-as-empty", "-o", str(out)]) == 0
    assert json.loads(out.read_text())["cases"][1]["fpv_ml"] == 0.0


def test_missing_predictions_are_listed_and_the_rest_scored(tmp_path, cohort, capsys):
    gt, pred = cohort
    (pred / "b.nii.gz").unlink()
    (pred / ".a.nii.gz.x1y2.tmp.nii.gz").write_bytes(b"an interrupted write")  # hidden: never a case
    out = tmp_path / "m.json"
    assert run(["evaluate", "--gt", str(gt), "--pred", str(pred), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "1 case(s) have no prediction: b; the other 1 were scored (add --missing-as-empty" in err
    assert "without ground truth" not in err and len(err.strip().splitlines()) == 1
    report = json.loads(out.read_text())
    assert [c["case"] for c in report["cases"]] == ["a"] and report["missing"] == ["b"]


def test_bad_case_is_reported_and_the_rest_scored(tmp_path, cohort, capsys):
    gt, pred = cohort
    (pred / "b.nii.gz").write_bytes(b"corrupt")
    out = tmp_path / "m.json"
    assert run(["evaluate", "--gt", str(gt), "--pred", str(pred), "-o", str(out), "--jobs", "2"]) == 2
    report = json.loads(out.read_text())
    assert [c["case"] for c in report["cases"]] == ["a"]
    assert report["failed"][0]["case"] == "b"
    assert "could not be evaluated (b)" in capsys.readouterr().err


def test_non_binary_masks_warn(tmp_path, capsys):
    write_volume(mask_volume([(1, 1, 1)], value=2), tmp_path / "gt.nii.gz")
    write_volume(mask_volume([(1, 1, 1)]), tmp_path / "pred.nii.gz")
    assert run(["evaluate", "--gt", str(tmp_path / "gt.nii.gz"), "--pred", str(tmp_path / "pred.nii.gz")]) == 0
    assert "values other than 0/1" in capsys.readouterr().err


def test_evaluate_against_a_datalist(tmp_path, capsys):
    cohort = tmp_path / "cohort"
    assert run(["phantom", "-o", str(cohort), "-n", "3", "--folds", "2", "--seed", "5"]) == 0
    datalist = json.loads((cohort / "datalist.json").read_text())
    pred = tmp_path / "pred"
    for entry in datalist["training"]:  # the truth itself as prediction: perfect scores
        (pred / entry["case"]).mkdir(parents=True)
        (pred / entry["case"] / "lesions.nii.gz").write_bytes((cohort / entry["label"]).read_bytes())
    out = tmp_path / "m.json"
    assert run(["evaluate", "--datalist", str(cohort / "datalist.json"), "--pred", str(pred), "-o", str(out)]) == 0
    report = json.loads(out.read_text())
    assert len(report["cases"]) == 3
    assert all(c["fpv_ml"] == 0 for c in report["cases"])
    assert all(c["dice"] is None or c["dice"] == 1.0 for c in report["cases"])
    assert run(["evaluate", "--pred", str(pred)]) == 2


def test_quantify_command(tmp_path, capsys):
    suv = Volume(np.full((8, 8, 8), 1.5, np.float32), (2.0, 2.0, 3.0))
    suv.array[1, 1, 1] = 6.0
    write_volume(suv, tmp_path / "suv.nii.gz")
    write_volume(mask_volume([(1, 1, 1), (1, 1, 2), (6, 6, 6)]), tmp_path / "mask.nii.gz")
    out, table = tmp_path / "lesions.json", tmp_path / "lesions.csv"
    args = ["quantify", "--pet", str(tmp_path / "suv.nii.gz"), "--mask", str(tmp_path / "mask.nii.gz")]
    assert run([*args, "-o", str(out), "--csv", str(table)]) == 0
    report = json.loads(out.read_text())
    assert report["totals"]["lesion_count"] == 2 and report["totals"]["suvmax"] == 6.0
    first = report["lesions"][0]
    assert first["id"] == 1 and first["voxels"] == 2 and math.isclose(first["suvmean"], 3.75)
    assert set(report["lesions"][0]) >= {"id", "volume_ml", "suvmax", "suvmean", "suvpeak", "tlg", "centroid_mm"}
    assert len(list(csv.DictReader(table.open()))) == 2
    assert "TMTV" in capsys.readouterr().out
    assert run(["quantify", "--pet", str(tmp_path / "nope.nii.gz"), "--mask", str(tmp_path / "mask.nii.gz")]) == 2
