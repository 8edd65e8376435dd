"""`petseg predict`'s per-study results come through the one path `segment` uses: warnings, acquisition facts and
metrics reach every lesions.json."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np

from petseg.cohort.run import predict_cohort
from petseg.io.images import write_volume
from tests.standins import ThresholdEnsemble


def test_each_lesions_json_carries_its_studys_warnings_and_metrics(small_phantom, tmp_path):
    study = small_phantom.study
    pet = study.suv.array.copy()
    pet[0, 0, :5] = np.nan  # five NaN voxels: replaced by 0, with a warning
    write_volume(study.suv.with_array(pet), tmp_path / "nan" / "suv.nii.gz")
    write_volume(study.suv, tmp_path / "bad_ct" / "suv.nii.gz")
    (tmp_path / "bad_ct" / "ct.nii.gz").write_bytes(b"not an image")
    write_volume(study.label, tmp_path / "bad_ct" / "label.nii.gz")
    entries = [SimpleNamespace(case="nan", pet=tmp_path / "nan" / "suv.nii.gz", ct=None, label=None),
               SimpleNamespace(case="bad_ct", pet=tmp_path / "bad_ct" / "suv.nii.gz",
                               ct=tmp_path / "bad_ct" / "ct.nii.gz", label=tmp_path / "bad_ct" / "label.nii.gz")]
    rows = predict_cohort(ThresholdEnsemble(), entries, tmp_path / "out")  # type: ignore[arg-type]
    assert [r["status"] for r in rows] == ["ok", "ok"]
    nan = json.loads((tmp_path / "out" / "nan.lesions.json").read_text())
    assert any("5 NaN/Inf voxel(s) replaced by 0" in w for w in nan["warnings"])
    bad_ct = json.loads((tmp_path / "out" / "bad_ct.lesions.json").read_text())
    assert any(w.startswith(f"CT {tmp_path / 'bad_ct' / 'ct.nii.gz'} not used") for w in bad_ct["warnings"])
    assert bad_ct["study"]["case"] == "bad_ct" and bad_ct["metrics"]["dice"] > 0  # scored against its label
    assert all("truth" in lesion for lesion in bad_ct["lesions"])
