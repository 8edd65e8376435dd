"""The CPU engine: OpenVINO where the `cpu-fast` extra is installed (agreeing with PyTorch and MONAI, converted
once per model folder and weights), plain PyTorch where it is not."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.inferers import sliding_window_inference

from petseg.errors import PetsegError
from petseg.models.networks import build_network
from petseg.models.settings import OPENVINO_MIN_PARAMETERS, InferenceOptions, engine_for, openvino_installed
from petseg.models.windows import network_predictor, sliding_probability
from petseg.recipe import as_yaml, load_recipe

CPU = torch.device("cpu")
RECIPE = load_recipe("tiny_unet", {"inputs": "[pet]", "inference.roi_size": "[32, 32, 32]", "training.amp": "false",
                                   "preprocess.spacing_mm": "null"})


def model_folder(folder: Path, seed: int = 0) -> Path:
    """A model folder of the tiny PET-only UNet with seeded random weights (batch norm statistics made non-trivial,
    so that the network answers differently inside and outside a bright region)."""
    torch.manual_seed(seed)
    network = build_network(RECIPE.network, 1)
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm3d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"model": network.state_dict()}, folder / "checkpoint_final.pt")
    (folder / "recipe.yaml").write_text(as_yaml(RECIPE))
    (folder / "model.json").write_text(json.dumps({"recipe": RECIPE.name, "threshold": 0.5}))
    return folder


def fp32(engine: str) -> InferenceOptions:
    return InferenceOptions(progress=False, bf16=False, engine=engine, batch_size=2)


def test_without_the_extra_auto_runs_pytorch(monkeypatch):
    monkeypatch.setattr("petseg.models.settings.openvino_installed", lambda: False)
    assert engine_for("auto", CPU) == "torch"
    assert fp32("auto").resolve(RECIPE, CPU, 0.0).engine == "torch"
    with pytest.raises(PetsegError, match="cpu-fast"):
        engine_for("openvino", CPU)
    with pytest.raises(PetsegError, match="engine is auto, torch, openvino"):
        InferenceOptions(engine="onnx")


def test_gpus_validation_and_tiny_networks_run_pytorch(monkeypatch):
    monkeypatch.setattr("petseg.models.settings.openvino_installed", lambda: True)
    assert engine_for("auto", CPU) == "openvino" == engine_for("auto", CPU, OPENVINO_MIN_PARAMETERS)
    assert engine_for("auto", CPU, 150_000) == "torch" and engine_for("openvino", CPU, 150_000) == "openvino"
    assert engine_for("auto", torch.device("cuda")) == "torch"
    assert engine_for("torch", CPU) == "torch"
    assert fp32("auto").for_validation().resolve(RECIPE, CPU, 0.0).engine == "torch"


def test_predictor_without_the_extra_is_the_pytorch_path(tmp_path, monkeypatch):
    from petseg.data.phantom import make_phantom_study
    from petseg.infer.predictor import Predictor

    monkeypatch.setattr("petseg.models.settings.openvino_installed", lambda: False)
    folder = model_folder(tmp_path / "model")
    study = make_phantom_study(seed=1, size="small").study
    predictor = Predictor([folder], fp32("auto"))
    plain = Predictor([folder], fp32("torch")).predict(study).probability.array
    np.testing.assert_array_equal(predictor.predict(study).probability.array, plain)
    assert [key[-1] for key in predictor._engines] == ["torch"]  # no OpenVINO conversion: the torch program only
    assert not list((folder / ".petseg-cache").glob("openvino-*"))


needs_openvino = pytest.mark.skipif(not openvino_installed(), reason="the cpu-fast extra (OpenVINO) is not installed")


@needs_openvino
def test_openvino_agrees_with_pytorch_and_monai(tmp_path):
    from petseg.infer.models import load_model_folder
    from petseg.models.engines import openvino_predictor

    model = load_model_folder(model_folder(tmp_path / "model"), CPU)
    rng = np.random.default_rng(0)
    image = rng.random((1, 40, 44, 36), dtype=np.float32)
    for dtype, tolerance in ((None, 1e-4), (torch.bfloat16, 0.05)):
        settings = replace(fp32("openvino").resolve(model.recipe, CPU, 0.0), dtype=dtype,
                           flips=((), (0,), (1, 2)))
        ours = openvino_predictor(lambda: model.network, model.weights, 1, settings)
        batch = torch.from_numpy(rng.random((3, 1, 32, 32, 32), dtype=np.float32))
        reference = network_predictor(model.network, settings)(batch)
        assert ours(batch).shape == (3, 1, 32, 32, 32)
        assert float((ours(batch) - reference).abs().max()) < tolerance
        gated, count = sliding_probability(ours, image, settings, None, CPU)
        monai = sliding_window_inference(torch.from_numpy(image)[None], (32, 32, 32), 2,
                                         network_predictor(model.network, settings), overlap=0.5,
                                         mode="gaussian")[0, 0].numpy()
        assert count.run == count.total and np.abs(gated - monai).max() < tolerance  # masks: the slow predictor tests


@needs_openvino
def test_the_conversion_is_cached_per_weights(tmp_path, monkeypatch):
    import openvino

    from petseg.infer.models import load_model_folder
    from petseg.models import engines

    folder = model_folder(tmp_path / "model")
    model = load_model_folder(folder, CPU)
    settings = fp32("openvino").resolve(model.recipe, CPU, 0.0)
    batch = torch.rand(1, 1, 32, 32, 32)
    first = engines.openvino_predictor(lambda: model.network, model.weights, 1, settings)(batch)
    cached = sorted(p.name for p in (folder / engines.CACHE).iterdir())
    assert [Path(n).suffix for n in cached] == [".bin", ".xml"]

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again although the weights did not change")

    monkeypatch.setattr(openvino, "convert_model", no_conversion)
    again = engines.openvino_predictor(lambda: model.network, model.weights, 1, settings)(batch)
    np.testing.assert_array_equal(again.numpy(), first.numpy())
    monkeypatch.undo()

    model_folder(folder, seed=1)  # retrained: new weights in the same folder
    retrained = load_model_folder(folder, CPU)
    new = engines.openvino_predictor(lambda: retrained.network, retrained.weights, 1, settings)(batch)
    renewed = sorted(p.name for p in (folder / engines.CACHE).iterdir())
    assert len(renewed) == 2 and set(renewed).isdisjoint(cached)  # the stale conversion is gone
    reference = network_predictor(retrained.network, settings)(batch)
    assert float((new - reference).abs().max()) < 1e-4 < float((new - first).abs().max())


@needs_openvino
def test_a_read_only_model_folder_is_converted_for_the_run(tmp_path, monkeypatch):
    from petseg.infer.models import load_model_folder
    from petseg.models import engines

    model = load_model_folder(model_folder(tmp_path / "model"), CPU)

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(engines, "store", read_only)
    settings = fp32("openvino").resolve(model.recipe, CPU, 0.0)
    batch = torch.rand(1, 1, 32, 32, 32)
    output = engines.openvino_predictor(lambda: model.network, model.weights, 1, settings)(batch)
    assert float((output - network_predictor(model.network, settings)(batch)).abs().max()) < 1e-4


def break_conversions(monkeypatch, broken: set[str]) -> list[str]:
    """Make the conversions by the converters in `broken` unable to run the window (cached as usual, then reshaped
    to a smaller window); returns the converters used, in order."""
    from petseg.models import engines

    real, used = engines.converted_model, []

    def converted_model(network, weights, channels, roi_zyx, converter):
        used.append(converter)
        converted = real(network, weights, channels, roi_zyx, converter)
        if converter in broken:
            converted.reshape([1, channels, 16, 16, 16])
        return converted

    monkeypatch.setattr(engines, "converted_model", converted_model)
    return used


@needs_openvino
def test_a_traced_conversion_that_fails_on_the_window_is_exported_instead(tmp_path, monkeypatch):
    """Swin-UNETR traced at 64^3 gives OpenVINO an empty output: the trace's conversion goes from the cache, the
    network is converted through torch.export, checked, cached, and agrees with PyTorch."""
    from petseg.infer.models import load_model_folder
    from petseg.models import engines

    folder = model_folder(tmp_path / "model")
    model = load_model_folder(folder, CPU)
    used = break_conversions(monkeypatch, {"trace"})
    settings = fp32("openvino").resolve(model.recipe, CPU, 0.0)
    ours = engines.openvino_predictor(lambda: model.network, model.weights, 1, settings)
    assert used == ["trace", "export"] and ours is not None
    batch = torch.rand(2, 1, 32, 32, 32)
    assert float((ours(batch) - network_predictor(model.network, settings)(batch)).abs().max()) < 1e-4
    assert len(list((folder / engines.CACHE).glob("openvino-*"))) == 2  # the exported one: .xml and .bin
    monkeypatch.undo()
    again = engines.openvino_predictor(lambda: model.network, model.weights, 1, settings)  # from the cache
    np.testing.assert_array_equal(again(batch).numpy(), ours(batch).numpy())


@needs_openvino
def test_a_conversion_that_fails_on_the_window_falls_back_to_pytorch(tmp_path, monkeypatch):
    """A network no converter makes run the window shape gives no OpenVINO predictor, its cached conversions go,
    and the predictor runs the network in PyTorch instead."""
    from petseg.data.phantom import make_phantom_study
    from petseg.infer.models import load_model_folder
    from petseg.infer.predictor import Predictor
    from petseg.models import engines

    folder = model_folder(tmp_path / "model")
    model = load_model_folder(folder, CPU)
    used = break_conversions(monkeypatch, set(engines.CONVERTERS))
    settings = fp32("openvino").resolve(model.recipe, CPU, 0.0)
    assert engines.openvino_predictor(lambda: model.network, model.weights, 1, settings) is None
    assert used == list(engines.CONVERTERS)
    assert not list((folder / engines.CACHE).glob("openvino-*"))
    study = make_phantom_study(seed=1, size="small").study
    fallen_back = Predictor([folder], fp32("openvino")).predict(study).probability.array
    np.testing.assert_array_equal(fallen_back, Predictor([folder], fp32("torch")).predict(study).probability.array)
