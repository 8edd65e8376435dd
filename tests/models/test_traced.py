"""The network traced at its window precision and cached: the eager network's outputs, traced once per weights
and precision, and a process served from the cache that neither builds the network nor imports MONAI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from petseg.infer.models import load_model_folder
from petseg.models import traced
from petseg.models.engines import CACHE
from petseg.models.networks import count_parameters
from petseg.models.settings import InferenceOptions
from petseg.models.windows import network_predictor
from tests.models.test_engines import CPU, model_folder


def settings_of(model, bf16: bool):
    return InferenceOptions(progress=False, bf16=bf16, engine="torch").resolve(model.recipe, CPU, 0.0)


def never_built():
    raise AssertionError("the network was built although its trace is cached")


@pytest.mark.parametrize("bf16", [False, True])
def test_the_trace_answers_as_the_network_under_autocast_for_any_batch(tmp_path, monkeypatch, bf16):
    monkeypatch.setattr("petseg.device.cpu_supports_bf16", lambda: True)  # bfloat16 asked where the CPU lacks it
    model = load_model_folder(model_folder(tmp_path / "model"), CPU)
    settings = settings_of(model, bf16)
    assert (settings.dtype is torch.bfloat16) is bf16
    ours = traced.traced_predictor(lambda: model.network, model.weights, 1, settings)
    eager = network_predictor(model.network, settings)
    for windows in (1, 3):
        batch = torch.rand(windows, 1, *settings.roi_zyx)
        torch.testing.assert_close(ours(batch), eager(batch), rtol=0, atol=0)


def test_it_is_traced_once_per_weights_and_precision(tmp_path):
    folder = model_folder(tmp_path / "model")
    model = load_model_folder(folder, CPU)
    settings = settings_of(model, False)
    batch = torch.rand(2, 1, *settings.roi_zyx)
    first = traced.traced_predictor(lambda: model.network, model.weights, 1, settings)(batch)
    cached = [p.name for p in (folder / CACHE).iterdir()]
    assert len(cached) == 1 and cached[0].startswith(traced.PREFIX) and "float32" in cached[0]
    torch.testing.assert_close(traced.traced_predictor(never_built, model.weights, 1, settings)(batch), first)
    model_folder(folder, seed=1)  # retrained: new weights in the same folder
    retrained = load_model_folder(folder, CPU)
    new = traced.traced_predictor(lambda: retrained.network, retrained.weights, 1, settings)(batch)
    renewed = [p.name for p in (folder / CACHE).iterdir()]
    assert len(renewed) == 1 and renewed != cached  # the stale trace is gone
    torch.testing.assert_close(new, network_predictor(retrained.network, settings)(batch))
    assert float((new - first).abs().max()) > 1e-3


def test_a_read_only_folder_traces_for_the_run_and_an_untraceable_network_runs_eagerly(tmp_path, monkeypatch):
    model = load_model_folder(model_folder(tmp_path / "model"), CPU)
    settings = settings_of(model, False)

    def read_only(*args):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(traced, "store", read_only)
    batch = torch.rand(1, 1, *settings.roi_zyx)
    expected = network_predictor(model.network, settings)(batch)
    torch.testing.assert_close(traced.traced_predictor(lambda: model.network, model.weights, 1, settings)(batch),
                               expected)
    assert not (model.path / CACHE).exists()
    assert traced.trace(model.network, 1, settings) is not None

    class Unfaithful(torch.nn.Module):  # the trace freezes a Python number of its input: other windows go wrong
        def forward(self, x):
            return x * float(x.sum())

    assert traced.trace(Unfaithful(), 1, settings) is None

    def untraceable(*args, **kwargs):
        raise RuntimeError("the tracer cannot follow this network")

    monkeypatch.setattr(torch.jit, "trace", untraceable)
    torch.testing.assert_close(traced.traced_predictor(lambda: model.network, model.weights, 1, settings)(batch),
                               expected)


def test_a_process_served_from_the_cache_imports_no_monai(tmp_path):
    """`petseg predict` twice: the first traces the network, the second runs without importing MONAI."""
    from petseg.data.phantom import make_phantom_study
    from petseg.io.images import write_volume

    folder = model_folder(tmp_path / "model")
    description = json.loads((folder / "model.json").read_text())  # as `petseg train` writes it: with the count
    network = load_model_folder(folder, CPU).network
    (folder / "model.json").write_text(json.dumps({**description, "parameters": count_parameters(network)}))
    study = tmp_path / "in" / "case"
    study.mkdir(parents=True)
    write_volume(make_phantom_study(seed=1, size="small").study.suv, study / "suv.nii.gz")
    script = ("import sys, runpy; sys.argv = ['petseg', '--quiet', 'predict', '--model', sys.argv[1], '--input', "
              "sys.argv[2], '-o', sys.argv[3], '--threads', '1'];\n"
              "try: runpy.run_module('petseg', run_name='__main__')\n"
              "except SystemExit as e: assert not e.code, e.code\n"
              "print('monai' in sys.modules)")
    env = dict(os.environ, PYTHONPATH=str(Path(traced.__file__).parents[2]))
    runs = [subprocess.run([sys.executable, "-c", script, str(folder), str(tmp_path / "in"), str(tmp_path / out)],
                           capture_output=True, text=True, env=env, check=True).stdout.split()[-1]
            for out in ("first", "second")]
    assert runs == ["True", "False"]
