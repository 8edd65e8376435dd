from __future__ import annotations

import json
import shutil

import cc3d
import numpy as np
import pytest
import torch
import yaml
from monai.inferers import sliding_window_inference

from petseg.data.datalist import load_datalist, select
from petseg.data.phantom import make_phantom_study
from petseg.data.study import load_study
from petseg.errors import PetsegError
from petseg.infer.predictor import Predictor
from petseg.models.settings import InferenceOptions, flip_sets, openvino_installed
from petseg.models.windows import network_predictor
from petseg.preprocess import preprocess_study
from petseg.recipe import load_recipe
from petseg.tracers import TRACERS

pytestmark = pytest.mark.slow  # trains networks

GATE = TRACERS["fdg"].gate_suv  # the uncalibrated FDG window gate


def options(**changes) -> InferenceOptions:
    return InferenceOptions(progress=False, **changes)


@pytest.mark.parametrize("engine", ["torch", "openvino"])
def test_gated_windows_agree_with_monai_and_lose_no_lesion(trained, engine):
    """Gated windows, on PyTorch or on OpenVINO (the cpu-fast extra), against MONAI with PyTorch."""
    if engine == "openvino" and not openvino_installed():
        pytest.skip("the cpu-fast extra (OpenVINO) is not installed")
    # OpenVINO at fp32 against MONAI at fp32: bf16 rounding of this barely trained network's few mask voxels is
    # no test of the engine (tests/models/test_engines.py bounds OpenVINO's bf16 against PyTorch's)
    precision = {"bf16": False} if engine == "openvino" else {}
    predictor = Predictor([trained.model], options(overlap=0.5, engine=engine, **precision))
    model = predictor.models[0]
    settings = predictor.options.resolve(model.recipe, predictor.device, 0.0)
    roi = model.recipe.roi_zyx
    skipped = 0
    for entry in select(load_datalist(trained.cohort), "fold:0")[:4]:
        study = load_study(entry.pet, entry.ct, entry.label)
        prediction = predictor.predict(study)
        image = preprocess_study(study, model.recipe, model.fingerprint).image
        reference = sliding_window_inference(torch.from_numpy(image)[None], roi, 2,
                                             network_predictor(model.network, settings), overlap=0.5,
                                             mode="gaussian")[0, 0].numpy() >= 0.5
        ours = prediction.probability.array >= 0.5
        total = ours.sum() + reference.sum()
        assert total == 0 or 2 * (ours & reference).sum() / total >= 0.99
        lesions = cc3d.connected_components(study.label.array > 0, connectivity=18)
        for index in range(1, lesions.max() + 1):
            if reference[lesions == index].any():
                assert ours[lesions == index].any(), f"{entry.case}: lesion {index} lost by the gate"
        assert prediction.windows.run < prediction.windows.total
        skipped += prediction.windows.total - prediction.windows.run
    assert skipped > 0


def test_the_gate_stays_under_the_post_processings_suv_floor(trained, tmp_path):
    """A voxel the floor keeps (SUV between the floor and a higher gate) must lie in a window that runs."""
    model = tmp_path / "model"
    shutil.copytree(trained.model, model)
    study = make_phantom_study(seed=5, size="small").study
    for steps, gate in (({"suv_floor": 1.2}, 1.2), ({"suv_floor": 4.0}, 2.5), ({}, 2.5)):
        (model / "calibration.json").write_text(json.dumps({"members": ["model"], "threshold": 0.4,
                                                            "postprocess": steps, "gate_suv": 6.0, "gate_core": True}))
        assert Predictor([model], options()).window_gate(study) == gate  # floor, FDG's ceiling, FDG's ceiling
        assert Predictor([model], options(gate_suv=3.0)).window_gate(study) == 3.0  # as asked


def test_a_calibrated_gate_runs_fewer_windows_and_keeps_every_lesion(trained, tmp_path):
    """The gate chosen on some held-out studies, applied to other held-out studies: MONAI's mask, fewer windows."""
    from petseg.infer.calibrate import calibrate

    model = tmp_path / "model"
    shutil.copytree(trained.model, model)
    entries = select(load_datalist(trained.cohort), "fold:0")
    result = calibrate(Predictor([model], options()), entries[:4], "dice", TRACERS["fdg"])
    assert result["gate_suv"] > 0  # a trained model's mask never lies where the PET holds only air
    calibrated = Predictor([model], options())
    assert calibrated.decision.gate_suv == result["gate_suv"]
    reference = Predictor([model], options(gate_suv=0.0))  # every window: MONAI's sliding window
    ran, placed = 0, 0
    for index, entry in enumerate(entries):
        study = load_study(entry.pet, entry.ct, entry.label)
        ours, full = calibrated.predict(study), reference.predict(study)
        floor = result["postprocess"].get("suv_floor", 2.5)  # no voxel the post-processing keeps in a skipped core
        assert ours.gate_suv == min(result["gate_suv"], 2.5, floor)  # up to FDG's ceiling, and recorded as used
        assert calibrated.describe(ours)["gate_suv"] == ours.gate_suv and full.gate_suv == 0.0
        assert full.windows.run == full.windows.total
        a, b = ours.mask.array > 0, full.mask.array > 0
        if index < 4:  # the calibration's own studies: MONAI's mask exactly (what the gate was chosen for)
            assert np.array_equal(a, b), entry.case
        assert a.sum() + b.sum() == 0 or 2 * (a & b).sum() / (a.sum() + b.sum()) >= 0.99
        lesions = cc3d.connected_components(study.label.array > 0, connectivity=18)
        for lesion in range(1, lesions.max() + 1):
            if b[lesions == lesion].any():
                assert a[lesions == lesion].any(), f"{entry.case}: lesion {lesion} lost by the calibrated gate"
        ran, placed = ran + ours.windows.run, placed + ours.windows.total
    assert ran < placed  # windows of air, at least, are skipped


def test_flips_average_the_flipped_passes():
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Conv3d(2, 1, 3, padding=1))
    batch = torch.rand((2, 2, 8, 10, 12))
    options_ = InferenceOptions(flips=((), (2,)), bf16=False)
    settings = options_.resolve(load_recipe("tiny_unet"), torch.device("cpu"), 0.0)
    flipped = network_predictor(network, settings)(batch)
    manual = 0.5 * (torch.sigmoid(network(batch)) + torch.sigmoid(network(batch.flip(4))).flip(4))
    torch.testing.assert_close(flipped, manual)
    assert flip_sets([0, 1, 2])[0] == () and len(flip_sets([0, 1, 2])) == 8
    with pytest.raises(PetsegError):
        flip_sets([3])


def test_test_time_flips_keep_shape_and_range(trained, small_phantom):
    study = small_phantom.study
    plain = Predictor([trained.model], options()).predict(study)
    flipped = Predictor([trained.model], options(flips=flip_sets([0, 1, 2]))).predict(study)
    assert flipped.probability.shape == study.suv.shape and flipped.probability.spacing == study.suv.spacing
    values = flipped.probability.array
    assert values.min() >= 0.0 and values.max() <= 1.0 and not np.allclose(values, plain.probability.array)
    # the mean of 8 passes in [0, 1], one of them the plain pass: between plain / 8 and (plain + 7) / 8 per voxel
    # (a property of the averaging, whatever the small network learnt)
    first = plain.probability.array
    assert (values >= first / 8 - 1e-3).all() and (values <= (first + 7) / 8 + 1e-3).all()


def test_ensembles_average_or_vote(trained, small_phantom, tmp_path):
    study = small_phantom.study
    one = Predictor([trained.model], options()).probabilities(study, GATE)[0]
    other = Predictor([trained.other], options()).probabilities(study, GATE)[0]
    twin = tmp_path / "twin"
    shutil.copytree(trained.model, twin)
    twins = Predictor([trained.model, twin], options())
    np.testing.assert_allclose(twins.probabilities(study, GATE)[0], one, atol=1e-6)
    mean, windows = Predictor([trained.model, trained.other], options()).probabilities(study, GATE)
    assert windows.total == 2 * Predictor([trained.model], options()).predict(study).windows.total
    np.testing.assert_allclose(mean, (one + other) / 2, atol=1e-6)
    vote = Predictor([trained.model, trained.other], options(ensemble="vote")).predict(study)
    expected = ((one >= 0.5).astype(np.float32) + (other >= 0.5)) / 2
    np.testing.assert_array_equal(vote.probability.array, expected)
    np.testing.assert_array_equal(vote.mask.array, (expected >= 0.5).astype(np.uint8))


def test_probabilities_come_back_on_the_pet_grid(trained, tmp_path):
    resampling = tmp_path / "resampling"
    shutil.copytree(trained.model, resampling)
    recipe = yaml.safe_load((resampling / "recipe.yaml").read_text())
    recipe["preprocess"]["spacing_mm"] = [6.0, 6.0, 8.0]  # the model works at 6 x 6 x 8 mm
    (resampling / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    phantom = make_phantom_study(seed=4, size="medium", n_lesions=6, min_lesion_mm=25)  # 4 x 4 x 5 mm
    prediction = Predictor([resampling], options()).predict(phantom.study)
    suv = phantom.study.suv
    assert prediction.mask.shape == suv.shape and prediction.mask.origin == suv.origin
    assert prediction.mask.spacing == suv.spacing and prediction.mask.array.dtype == np.uint8
    label = phantom.study.label.array > 0
    assert prediction.probability.array[label].mean() > 5 * prediction.probability.array[~label].mean()


def test_bad_model_folders_are_refused(tmp_path, trained):
    with pytest.raises(PetsegError, match="does not exist"):
        Predictor([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(PetsegError, match="not a petseg model folder"):
        Predictor([tmp_path / "empty"])
    broken = tmp_path / "broken"
    shutil.copytree(trained.model, broken)
    weights = json.loads((broken / "model.json").read_text())["files"]["weights"]
    (broken / weights).write_bytes(b"not a checkpoint")
    with pytest.raises(PetsegError, match="not a petseg checkpoint"):
        Predictor([broken])


def test_bf16_on_cpu_keeps_the_mask(trained, small_phantom, monkeypatch):
    """bfloat16 + channels-last runs only on CPUs with native bf16; forced here to check the result holds."""
    monkeypatch.setattr("petseg.device.cpu_supports_bf16", lambda: True)
    study = small_phantom.study
    fp32_predictor = Predictor([trained.model], options(bf16=False))
    fp32 = fp32_predictor.predict(study).mask.array > 0
    assert fp32_predictor.options.resolve(fp32_predictor.models[0].recipe, fp32_predictor.device, 0).dtype is None
    bf16_predictor = Predictor([trained.model], options())  # the default: bfloat16 where the CPU has it
    settings = bf16_predictor.options.resolve(bf16_predictor.models[0].recipe, bf16_predictor.device, 0)
    assert settings.dtype is torch.bfloat16 and settings.channels_last
    monkeypatch.setattr("petseg.device.cpu_supports_bf16", lambda: False)
    assert bf16_predictor.options.resolve(bf16_predictor.models[0].recipe, bf16_predictor.device, 0).dtype is None
    bf16_prediction = bf16_predictor.predict(study)
    bf16 = bf16_prediction.mask.array > 0
    total = fp32.sum() + bf16.sum()
    assert total == 0 or 2 * (fp32 & bf16).sum() / total >= 0.95
    plain = fp32_predictor.predict(study).probability.array
    assert np.abs(bf16_prediction.probability.array - plain).max() < 0.05  # bfloat16 keeps ~3 significant digits
    assert np.corrcoef(bf16_prediction.probability.array.ravel(), plain.ravel())[0, 1] > 0.99
