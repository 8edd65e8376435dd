"""The tracer is decided once, when a study is made, and every entry point runs that tracer's settings."""

from __future__ import annotations

import json
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from petseg.api import segment
from petseg.cli.main import run
from petseg.data.phantom import make_phantom_study
from petseg.errors import PetsegError, PetsegWarning
from petseg.io.images import read_volume, write_volume
from petseg.methods.suv import method_parameters
from petseg.tracers import TRACERS, decide_tracer, tracer_of_radiopharmaceutical
from tests.dicom_writer import write_study_dicom
from tests.standins import ThresholdEnsemble


@pytest.fixture(scope="module")
def psma():
    return make_phantom_study(seed=4, size="small", tracer="psma", n_lesions=6)


def test_the_tracer_is_the_one_asked_for_else_the_headers_else_fdg():
    assert tracer_of_radiopharmaceutical("Fluorodeoxyglucose") == "fdg"
    assert tracer_of_radiopharmaceutical("Ga68-PSMA-11") == "psma" == tracer_of_radiopharmaceutical("18F-DCFPyL")
    assert tracer_of_radiopharmaceutical("Fluorothymidine") is None and tracer_of_radiopharmaceutical(None) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert decide_tracer(None) is TRACERS["fdg"] and decide_tracer("PSMA") is TRACERS["psma"]
        assert decide_tracer(None, "[18F]PSMA-1007") is TRACERS["psma"]
    with pytest.warns(PetsegWarning, match="names the radiopharmaceutical 'FDG'.*PSMA's settings are used"):
        assert decide_tracer("psma", "FDG") is TRACERS["psma"]
    with pytest.warns(PetsegWarning, match="'FLT' is neither FDG nor PSMA"):
        assert decide_tracer(None, "FLT") is TRACERS["fdg"]
    with pytest.raises(PetsegError, match="unknown tracer 'flt'"):
        decide_tracer("flt")


def _ran_psma(report: dict) -> bool:
    return report["study"]["tracer"] == "psma" and report["method"]["parameters"] == method_parameters("psma")


def test_a_psma_study_runs_psma_settings_at_every_entry_point(psma, tmp_path):
    study = psma.study
    assert study.tracer is TRACERS["psma"]
    assert _ran_psma(segment(study).lesions_json())  # the API with a study: it carries its tracer
    assert _ran_psma(segment(study.suv, study.ct, tracer="psma").lesions_json())  # the API with images
    with pytest.raises(PetsegError, match="carries its tracer"):
        segment(study, tracer="fdg")
    write_volume(study.suv, tmp_path / "suv.nii.gz")
    write_volume(study.ct, tmp_path / "ct.nii.gz")
    assert run(["segment", "--pet", str(tmp_path / "suv.nii.gz"), "--ct", str(tmp_path / "ct.nii.gz"),
                "--tracer", "psma", "-o", str(tmp_path / "cli")]) == 0
    expected = json.loads((tmp_path / "cli" / "lesions.json").read_text())
    assert _ran_psma(expected)
    write_study_dicom(study.suv, study.ct, tmp_path / "dicom", radiopharmaceutical="Ga-68 PSMA-11")
    assert run(["segment", "--pet", str(tmp_path / "dicom"), "-o", str(tmp_path / "from_dicom")]) == 0  # no --tracer
    assert _ran_psma(json.loads((tmp_path / "from_dicom" / "lesions.json").read_text()))
    inputs = tmp_path / "challenge"
    write_volume(study.suv, inputs / "images" / "pet" / "case-pet.mha")
    write_volume(study.ct, inputs / "images" / "ct" / "case.mha")
    assert run(["challenge", "--input", str(inputs), "--output", str(tmp_path / "out"), "--tracer", "psma"]) == 0
    mask = read_volume(tmp_path / "out" / "images" / "automated-petct-lesion-segmentation" / "case.mha")
    np.testing.assert_array_equal(mask.array, read_volume(tmp_path / "cli" / "lesions.nii.gz").array)


def test_predict_hands_the_tracer_to_every_study_it_reads(psma, tmp_path):
    from petseg.cohort.run import predict_cohort

    ensemble = ThresholdEnsemble()
    write_volume(psma.study.suv, tmp_path / "case" / "suv.nii.gz")
    entry = SimpleNamespace(case="case", pet=tmp_path / "case" / "suv.nii.gz", ct=None, label=None)
    predict_cohort(ensemble, [entry], tmp_path / "out", "psma")  # type: ignore[arg-type]
    assert ensemble.seen == ["psma"]
    assert json.loads((tmp_path / "out" / "case.lesions.json").read_text())["study"]["tracer"] == "psma"
