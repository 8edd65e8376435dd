from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from petseg.cli.main import run
from petseg.data.phantom.generate import write_phantom_case
from petseg.io.images import Volume, read_volume, write_volume


@pytest.fixture(scope="module")
def study_files(tmp_path_factory, small_phantom):
    folder = tmp_path_factory.mktemp("study")
    return write_phantom_case(small_phantom, folder)


@pytest.mark.slow
def test_segment_writes_every_output(tmp_path, study_files, small_phantom, capsys):
    out = tmp_path / "out"
    args = ["segment", "--pet", str(study_files.pet), "--ct", str(study_files.ct), "-o", str(out)]
    assert run([*args, "--label", str(study_files.label)]) == 0
    mask = read_volume(out / "lesions.nii.gz")
    assert mask.array.dtype == np.uint8 and mask.same_grid(small_phantom.study.suv)
    assert set(np.unique(mask.array)) <= {0, 1}
    report = json.loads((out / "lesions.json").read_text())
    assert report["method"]["name"] == "suv" and report["study"]["tracer"] == "fdg"
    assert report["totals"]["lesion_count"] == len(report["lesions"]) > 0
    assert report["totals"]["tmtv_ml"] == pytest.approx(mask.array.sum() * mask.voxel_ml)
    assert [lesion["id"] for lesion in report["lesions"]] == list(range(1, len(report["lesions"]) + 1))
    assert report["lesions"][0]["suvmax"] == max(lesion["suvmax"] for lesion in report["lesions"])
    assert 0 <= report["metrics"]["dice"] <= 1
    rows = list(csv.DictReader((out / "lesions.csv").open()))
    assert len(rows) == len(report["lesions"]) and float(rows[0]["suvmax"]) == report["lesions"][0]["suvmax"]
    assert (out / "mip.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "report.html").read_text()
    assert "Research use only" in html and "data:image/png;base64," in html and "<table>" in html
    assert f"{report['totals']['lesion_count']}</b><span>lesions" in html
    printed = capsys.readouterr().out
    assert "TMTV" in printed and "vs ground truth: Dice" in printed


def test_pet_only_and_parameters(tmp_path, study_files):
    out = tmp_path / "pet_only"
    assert run(["segment", "--pet", str(study_files.pet), "-o", str(out), "--param", "threshold.suv=4.5",
                "--param", "threshold.mode=fixed"]) == 0
    report = json.loads((out / "lesions.json").read_text())
    assert report["study"]["has_ct"] is False
    assert report["method"]["threshold_suv"] == 4.5
    assert all(lesion["suvmax"] >= 4.5 for lesion in report["lesions"])


def test_bad_inputs_exit_2_and_leave_nothing(tmp_path, study_files, capsys):
    out = tmp_path / "out"
    assert run(["segment", "--pet", str(tmp_path / "missing.nii.gz"), "-o", str(out)]) == 2
    assert "file not found" in capsys.readouterr().err
    far_ct = read_volume(study_files.ct)
    write_volume(Volume(far_ct.array, far_ct.spacing, (9000.0, 0.0, 0.0)), tmp_path / "far_ct.nii.gz")
    assert run(["segment", "--pet", str(study_files.pet), "--ct", str(tmp_path / "far_ct.nii.gz"), "-o",
                str(out)]) == 2
    assert "do not overlap" in capsys.readouterr().err
    bqml = read_volume(study_files.pet)
    write_volume(bqml.with_array(bqml.array * 4000), tmp_path / "bqml.nii.gz")
    assert run(["segment", "--pet", str(tmp_path / "bqml.nii.gz"), "-o", str(out)]) == 2
    assert "Bq/ml" in capsys.readouterr().err
    assert run(["segment", "--pet", str(study_files.pet), "-o", str(out), "--param", "nonsense"]) == 2
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging folder left


@pytest.mark.slow
def test_existing_results_are_not_mixed(tmp_path, study_files, capsys):
    out = tmp_path / "out"
    assert run(["segment", "--pet", str(study_files.pet), "-o", str(out)]) == 0
    first = (out / "lesions.json").read_text()
    assert run(["segment", "--pet", str(study_files.pet), "-o", str(out), "--param", "threshold.suv=5"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "lesions.json").read_text() == first
    assert run(["segment", "--pet", str(study_files.pet), "-o", str(out), "--param", "threshold.suv=5",
                "--overwrite"]) == 0
    assert json.loads((out / "lesions.json").read_text())["method"]["threshold_suv"] == 5


@pytest.mark.slow
def test_failure_while_writing_keeps_the_earlier_results(tmp_path, study_files, monkeypatch):
    out = tmp_path / "out"
    assert run(["segment", "--pet", str(study_files.pet), "-o", str(out)]) == 0
    before = sorted(p.name for p in out.iterdir())

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("petseg.report.html.write_report", broken)
    with pytest.raises(OSError):
        run(["segment", "--pet", str(study_files.pet), "-o", str(out), "--overwrite"])
    assert sorted(p.name for p in out.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow
def test_segment_real_sarcoma_study(tmp_path, real_data):
    folder = real_data / "sts_cropped_petct_masks" / "STS_001"
    out = tmp_path / "sts"
    assert run(["segment", "--pet", str(folder / "PET/nifti/image/image.nii.gz"),
                "--ct", str(folder / "CT/nifti/image/image.nii.gz"),
                "--label", str(folder / "PET/nifti/mask/mask.nii.gz"), "-o", str(out)]) == 0
    report = json.loads((out / "lesions.json").read_text())
    assert report["metrics"]["tp"] == 1 and report["metrics"]["fnv_ml"] == 0.0  # the sarcoma is found
    assert report["study"]["has_ct"] is True
    assert read_volume(out / "lesions.nii.gz").shape == (59, 43, 41)  # on the PET grid, not the CT's
