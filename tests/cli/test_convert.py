from __future__ import annotations

import json

import highdicom as hd
import numpy as np
import pytest

from petseg.cli.main import run
from petseg.errors import PetsegWarning
from petseg.io.images import read_volume


@pytest.mark.slow
def test_convert_real_sts_with_rtstruct(tmp_path, real_data, capsys):
    folder = real_data / "sts_001_wb_pet_rtstruct"
    out = tmp_path / "converted"
    assert run(["convert", "--pet", str(folder / "pet"), "--mask", str(folder / "rtstruct" / "1-1.dcm"),
                "--roi", "GTV_Mass", "-o", str(out)]) == 0
    conversion = json.loads((out / "conversion.json").read_text())
    assert conversion["suv_factor"] == pytest.approx(2.42903e-4, rel=1e-4)
    assert conversion["tags_used"]["uptake_min"] == pytest.approx(45.2, abs=0.05)
    assert any("not uniform" in w for w in conversion["warnings"])
    assert conversion["mask"]["voxels"] == 5095
    suv, label = read_volume(out / "suv.nii.gz"), read_volume(out / "label.nii.gz")
    assert suv.array.dtype == np.float32 and label.same_grid(suv)
    assert float(suv.array[label.array > 0].max()) == pytest.approx(7.91, abs=0.005)
    assert not (out / "ct.nii.gz").exists()
    assert "warning: PT slice spacing is not uniform" in capsys.readouterr().err


def test_convert_errors_name_the_fix(tmp_path, real_data, capsys):
    single = real_data / "pet_dicom_single_slices" / "orthanc_tests" / "Issue94.dcm"
    folder = tmp_path / "issue94"
    folder.mkdir()
    (folder / "slice.dcm").write_bytes(single.read_bytes())
    assert run(["convert", "--pet", str(folder), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "PatientWeight is missing" in err and "--weight" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_segment_takes_the_series_options_it_suggests(tmp_path, real_data, capsys):
    folder = real_data / "sts_001_wb_pet_rtstruct"
    assert run(["segment", "--pet", str(folder / "pet"), "--pet-series", "1.2.3.4", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "no series with SeriesInstanceUID 1.2.3.4" in err and "Traceback" not in err


@pytest.mark.slow
def test_segment_dicom_folder_writes_a_readable_seg(tmp_path, real_data):
    folder = real_data / "sts_001_wb_pet_rtstruct"
    out = tmp_path / "seg"
    assert run(["segment", "--pet", str(folder / "pet"), "--label", str(folder / "rtstruct" / "1-1.dcm"), "--roi",
                "GTV_Mass", "-o", str(out)]) == 0
    report = json.loads((out / "lesions.json").read_text())
    assert report["metrics"]["tp"] == 1  # the sarcoma is found
    assert report["study"]["suv_source"].startswith("DICOM BQML")
    seg = hd.seg.segread(str(out / "lesions_seg.dcm"))
    assert seg.SegmentSequence[0].SegmentLabel == "lesion"
    mask = read_volume(out / "lesions.nii.gz").array
    from petseg.data.dicom_study import load_dicom_study
    from petseg.io.dicom_seg import read_dicom_mask

    with pytest.warns(PetsegWarning, match="not uniform"):
        pet = load_dicom_study(folder / "pet").dicom
    np.testing.assert_array_equal(read_dicom_mask(out / "lesions_seg.dcm", pet).array, (mask > 0).astype(np.uint8))


@pytest.mark.slow
def test_dicom_seg_for_converted_nifti(tmp_path, real_data, capsys):
    folder = real_data / "sts_001_wb_pet_rtstruct"
    converted = tmp_path / "converted"
    assert run(["convert", "--pet", str(folder / "pet"), "-o", str(converted)]) == 0
    out = tmp_path / "seg"
    assert run(["segment", "--pet", str(converted / "suv.nii.gz"), "-o", str(out), "--dicom-seg",
                "--per-lesion", "--param", "threshold.suv=6"]) == 0
    seg = hd.seg.segread(str(out / "lesions_seg.dcm"))
    lesions = json.loads((out / "lesions.json").read_text())["lesions"]
    assert len(seg.SegmentSequence) == len(lesions)
    capsys.readouterr()
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "suv.nii.gz").write_bytes((converted / "suv.nii.gz").read_bytes())
    assert run(["segment", "--pet", str(lone / "suv.nii.gz"), "-o", str(tmp_path / "x"), "--dicom-seg"]) == 2
    assert "DICOM-SEG needs the source PET DICOM" in capsys.readouterr().err


@pytest.mark.slow
def test_segment_phantom_dicom_with_ct(tmp_path, small_phantom):
    from tests.dicom_writer import write_study_dicom

    study = small_phantom.study
    write_study_dicom(study.suv, study.ct, tmp_path / "dicom")
    out = tmp_path / "out"
    assert run(["segment", "--pet", str(tmp_path / "dicom"), "-o", str(out)]) == 0
    report = json.loads((out / "lesions.json").read_text())
    assert report["study"]["has_ct"] is True and report["study"]["conversion"]["ct_series"]["files"] == 122
    assert (out / "lesions_seg.dcm").is_file()
    mask = read_volume(out / "lesions.nii.gz")
    assert mask.same_grid(study.suv, tol_mm=1e-3)
