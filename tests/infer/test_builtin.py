"""The model shipped with petseg (`--model builtin:wb-fdg`) loads, segments a whole-body study on day one, and says
when a study is not what it was trained on."""

from __future__ import annotations

import json

import numpy as np
import pytest

from petseg.cli.main import run
from petseg.errors import PetsegError
from petseg.infer.models import resolve_model
from petseg.infer.predictor import Predictor
from petseg.io.images import write_volume
from petseg.models.settings import InferenceOptions


def test_the_shipped_model_loads_and_segments_a_phantom(small_phantom, tmp_path):
    folder = resolve_model("builtin:wb-fdg")
    card = (folder / "MODEL_CARD.md").read_text()
    assert "training data" in card.lower() and "never seen" in card.lower()
    assert json.loads((folder / "model.json").read_text())["tracer"] == "fdg"
    predictor = Predictor(["builtin:wb-fdg"], InferenceOptions(progress=False))
    assert predictor.decision.source == "calibration"  # its calibration ships with it
    study = small_phantom.study
    prediction = predictor.predict(study)
    assert prediction.mask.same_grid(study.suv) and prediction.mask.array.dtype == np.uint8
    truth = study.label.array > 0
    assert (prediction.mask.array[truth] > 0).any()  # it finds lesions of a whole-body FDG study
    write_volume(study.suv, tmp_path / "suv.nii.gz")
    assert run(["segment", "--pet", str(tmp_path / "suv.nii.gz"), "--model", "builtin:wb-fdg", "--tracer", "psma",
                "-o", str(tmp_path / "out")]) == 0  # PET-only and PSMA: it runs, and says so
    report = json.loads((tmp_path / "out" / "lesions.json").read_text())
    assert any("trained on FDG studies and this study is PSMA" in w for w in report["warnings"])


def test_builtin_names_and_calibration_are_checked():
    with pytest.raises(PetsegError, match="unknown built-in model 'wb-psma': choose wb-fdg"):
        resolve_model("builtin:wb-psma")
    from petseg.infer.calibrate import calibrate
    from petseg.tracers import TRACERS

    with pytest.raises(PetsegError, match="ships with petseg"):
        calibrate(Predictor(["builtin:wb-fdg"], InferenceOptions(progress=False)), [], "dice", TRACERS["fdg"])
