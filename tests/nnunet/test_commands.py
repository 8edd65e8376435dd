"""nnU-Net models through petseg's commands: segment (from the exported zip), predict over a cohort with nnU-Net's
way of writing folds, calibrate (the gate), and the STS_001 whole-body DICOM PET against nnU-Net on its SUV NIfTI."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from petseg.cli.main import run
from petseg.io.images import read_volume
from petseg.metrics.components import Overlap
from tests.nnunet.conftest import nnunet_reference

pytestmark = pytest.mark.slow


def test_segment_with_the_exported_zip_writes_petsegs_results(tiny, tmp_path, monkeypatch):
    from nnunetv2.postprocessing.remove_connected_components import apply_postprocessing

    from petseg.nnunet.runtime import load_postprocessing

    monkeypatch.setenv("PETSEG_CACHE", str(tmp_path / "cache"))
    archive = shutil.make_archive(str(tmp_path / "model"), "zip", tiny.petct.parent.parent, tiny.petct.parent.name)
    case, out = tiny.cases["grid"], tmp_path / "out"
    assert run(["segment", "--pet", str(case.pet), "--ct", str(case.ct), "--label", str(case.label), "-o", str(out),
                "--model", archive, "--folds", "0", "1", "--tta", "none", "--gate-suv", "0", "--threads", "1"]) == 0
    method = json.loads((out / "lesions.json").read_text())["method"]
    assert method["name"] == "nnunet"
    assert method["description"] == "nnU-Net v2 Dataset990_PetsegTiny 3d_fullres folds 0-1"
    assert method["model"] == archive and method["folds"] == ["0", "1"] and method["channels"] == ["CT", "PET"]
    assert method["mirroring"] == "" and method["windows"]["run"] == method["windows"]["windows"] == 2 * 45
    assert method["postprocessing"]["file"].endswith("crossval_results_folds_0_1/postprocessing.pkl")
    reference = nnunet_reference(tiny.petct, case.channels, (0, 1))
    pp_file = tiny.petct / "crossval_results_folds_0_1" / "postprocessing.pkl"
    expected = apply_postprocessing(reference, *load_postprocessing(pp_file)) > 0
    assert np.array_equal(read_volume(out / "lesions.nii.gz").array > 0, expected)
    assert "nnU-Net v2 Dataset990_PetsegTiny 3d_fullres folds 0-1 (nnU-Net&#x27;s predictor" in \
        (out / "report.html").read_text()


def test_predict_and_calibrate_a_cohort(tiny, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny.petct, model)  # calibrate writes into the model folder
    cohort = {"training": [{"case": name, "image": str(c.ct), "image2": str(c.pet), "label": str(c.label), "fold": 0}
                           for name, c in tiny.cases.items() if name != "aniso"]}
    (tmp_path / "d.json").write_text(json.dumps(cohort))
    base = ["--model", str(model), "--datalist", str(tmp_path / "d.json"), "--tta", "none", "--threads", "1"]
    assert run(["calibrate", *base, "--split", "fold:0"]) == 0
    calibration = json.loads((model / "petseg_calibration.json").read_text())["calibrations"][0]
    assert calibration["key"] == {"folds": ["0", "1"], "checkpoint": "checkpoint_final.pth", "tile_step_size": 0.5}
    assert calibration["gate_suv"] >= 1.5 and calibration["rule"] == "argmax"  # the spheres are SUV 4-10
    assert calibration["gate_core"] and all(c["gate_suv_core"] >= 1.5 for c in calibration["cases"])
    assert {"anatomy_dice", "anatomy_fpv_ml"} <= set(calibration["cases"][0]) and "anatomy" in calibration
    assert run(["predict", *base, "--split", "fold:0", "-o", str(tmp_path / "pred"), "--folds", "0", "1"]) == 0
    rows = list(csv.DictReader((tmp_path / "pred" / "summary.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert int(rows[0]["windows_run"]) < 0.3 * int(rows[0]["windows"]) == 0.3 * 2 * 45  # "grid": the core gate
    lesions = json.loads((tmp_path / "pred" / "grid.lesions.json").read_text())
    assert lesions["method"]["gate_source"] == "calibration"
    assert lesions["method"]["gate_suv"] == min(calibration["gate_suv"], 2.5)  # FDG's ceiling
    assert lesions["method"]["gate_region"] == "core"
    assert lesions["metrics"]["dice"] > 0.5
    from nnunetv2.postprocessing.remove_connected_components import apply_postprocessing

    from petseg.nnunet.runtime import load_postprocessing

    reference = nnunet_reference(model, tiny.cases["grid"].channels, (0, 1))  # at the calibrated gate: nnU-Net's
    expected = apply_postprocessing(reference, *load_postprocessing(model / "crossval_results_folds_0_1" /
                                                                    "postprocessing.pkl")) > 0
    mask = read_volume(tmp_path / "pred" / "grid.nii.gz").array > 0
    overlap = Overlap.of(expected, mask, 1.0)
    assert 2 * (mask & expected).sum() / (mask.sum() + expected.sum()) >= 0.99  # the core gate's agreement rule
    assert overlap.gt_touched().all() and overlap.pred_touched().all()


def test_sts_001_dicom_through_segment_equals_nnunet_on_its_suv_nifti(tiny, real_data, tmp_path):
    pet = real_data / "sts_001_wb_pet_rtstruct" / "pet"
    if not pet.is_dir():
        pytest.skip("STS_001 not in the shared data")
    out = tmp_path / "seg"
    assert run(["segment", "--pet", str(pet), "--model", str(tiny.pet), "-o", str(out), "--tta", "none",
                "--threads", "1"]) == 0
    assert run(["convert", "--pet", str(pet), "-o", str(tmp_path / "conv")]) == 0
    reference = nnunet_reference(tiny.pet, [str(tmp_path / "conv" / "suv.nii.gz")], (0,))
    mask = read_volume(out / "lesions.nii.gz").array
    assert (reference > 0).sum() > 0 and np.array_equal(mask > 0, reference > 0)
    import pydicom

    seg = pydicom.dcmread(str(out / "lesions_seg.dcm"))
    assert seg.SeriesDescription == "petseg: nnU-Net v2 Dataset991_PetsegTinyPET 3d_fullres fold 0"
