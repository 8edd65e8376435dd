from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from petseg.cli.app import app
from petseg.cli.main import run
from petseg.io.images import read_volume, write_volume

ROOT = Path(__file__).resolve().parents[2]


def test_challenge_layout(tmp_path, small_phantom):
    study = small_phantom.study
    write_volume(study.suv, tmp_path / "in" / "images" / "pet" / "7a1b-pet.mha")
    write_volume(study.ct, tmp_path / "in" / "images" / "ct" / "c0ffee-uuid.mha")
    assert run(["challenge", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out")]) == 0
    written = tmp_path / "out" / "images" / "automated-petct-lesion-segmentation" / "c0ffee-uuid.mha"
    mask = read_volume(written)
    assert mask.same_grid(study.suv) and mask.array.dtype == np.uint8 and mask.array.any()


def test_challenge_input_errors(tmp_path, capsys):
    assert run(["challenge", "--input", str(tmp_path), "--output", str(tmp_path / "out")]) == 2
    assert "no .mha image" in capsys.readouterr().err


def test_dockerfile_runs_an_existing_command():
    """No Docker engine here: check that the container's command is one the CLI accepts."""
    text = (ROOT / "Dockerfile").read_text()
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M).group(1))
    assert entrypoint[0] == "petseg"
    args = entrypoint[1:]
    command = next(a for a in args if not a.startswith("-"))
    registered = {c.name or c.callback.__name__ for c in app.registered_commands}
    assert command == "challenge" and command in registered
    options = [a for a in args[args.index(command) + 1:] if a.startswith("--")]
    from typer.main import get_command

    params = {opt for p in get_command(app).commands[command].params for opt in p.opts}
    assert set(options) <= params, set(options) - params
    assert "/input" in args and "/output" in args
    for line in text.splitlines():  # every file the image copies exists in the repository
        if line.startswith("COPY"):
            for source in shlex.split(line)[1:-1]:
                if not source.startswith("--"):
                    assert (ROOT / source).exists(), source


@pytest.mark.parametrize("command", ["convert", "challenge", "segment", "evaluate", "quantify"])
def test_help_has_an_example(command, capsys):
    assert run([command, "--help"]) == 0
    assert "Example: petseg" in capsys.readouterr().out
