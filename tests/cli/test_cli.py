from __future__ import annotations

import json

import pytest

from petseg import __version__
from petseg.cli.main import run


def test_version(capsys):
    assert run(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"petseg {__version__}"


def test_every_command_has_help_with_an_example(capsys):
    for command in ("phantom", "datalist", "demo"):
        assert run([command, "--help"]) == 0
        assert "Example: petseg" in capsys.readouterr().out


def test_usage_error_exits_2(capsys):
    assert run(["phantom"]) == 2
    assert "Missing option" in capsys.readouterr().err


@pytest.mark.slow
def test_phantom_then_datalist_from_the_folder(tmp_path, capsys):
    out = tmp_path / "cohort"
    assert run(["phantom", "-o", str(out), "-n", "4", "--seed", "3", "--folds", "2"]) == 0
    datalist = json.loads((out / "datalist.json").read_text())
    assert len(datalist["training"]) == 4
    for entry in datalist["training"]:
        assert (out / entry["image"]).exists() and (out / entry["image2"]).exists()
    listed = tmp_path / "again.json"
    assert run(["datalist", "--folder", str(out), "-o", str(listed), "--folds", "2"]) == 0
    again = json.loads(listed.read_text())
    assert {e["case"] for e in again["training"]} == {e["case"] for e in datalist["training"]}
    assert [e["positive"] for e in again["training"]] == [e["positive"] for e in datalist["training"]]
    assert "4 training and 0 test studies" in capsys.readouterr().err


def test_user_errors_are_one_line_without_traceback(tmp_path, capsys):
    assert run(["datalist", "--autopet", str(tmp_path / "missing"), "-o", str(tmp_path / "d.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: folder not found") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert run(["datalist", "-o", str(tmp_path / "d.json")]) == 2
    assert "exactly one of" in capsys.readouterr().err
    assert not (tmp_path / "d.json").exists()


@pytest.mark.slow
def test_demo_refuses_to_mix_runs(tmp_path, capsys):
    out = tmp_path / "demo"
    assert run(["demo", "-o", str(out), "--size", "small"]) == 0
    captured = capsys.readouterr()
    assert "report.html" in captured.out and "lesion(s)" in captured.out
    for name in ("lesions.nii.gz", "lesions.json", "lesions.csv", "mip.png", "report.html", "metrics.json",
                 "study/suv.nii.gz", "study/ct.nii.gz", "study/label.nii.gz", "study/phantom.json"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_cases"] == 1 and 0 <= metrics["mean"]["dice"] <= 1
    assert run(["demo", "-o", str(out), "--size", "small"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert run(["demo", "-o", str(out), "--size", "small", "--overwrite"]) == 0
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    assert run(["demo", "-o", str(foreign), "--size", "small", "--overwrite"]) == 2
    assert (foreign / "thesis.tex").exists()


@pytest.mark.slow
def test_quiet_and_verbose_work_after_the_command_too(tmp_path, small_phantom, capsys):
    from petseg.data.phantom.generate import write_phantom_case

    files = write_phantom_case(small_phantom, tmp_path / "cases" / "one")
    for flags in ([], ["-q"], ["--quiet"]):
        assert run(["datalist", "--folder", str(tmp_path / "cases"), "-o", str(tmp_path / "d.json"), "--folds", "1",
                    *flags]) == 0
        assert ("1 training and 0 test studies" in capsys.readouterr().err) == (not flags)
    assert run(["segment", "--pet", str(files.pet), "-o", str(tmp_path / "out"), "-v"]) == 0
    assert "segmenting:" in capsys.readouterr().err  # the step timings --verbose adds
    assert run(["--help"]) == 0
    assert "also after the command" in capsys.readouterr().out


def test_an_option_value_that_looks_like_a_flag_stays():
    from petseg.cli.app import hoist_global_flags

    assert hoist_global_flags(["segment", "--roi", "-q", "-v"]) == ["-v", "segment", "--roi", "-q"]
    assert hoist_global_flags(["--quiet", "demo", "--", "-q"]) == ["--quiet", "demo", "--", "-q"]


def test_help_names_only_options_that_exist_and_examples_parse():
    import re
    import shlex

    import typer

    from petseg.cli.app import app

    group = typer.main.get_command(app)
    known_everywhere = {"--help", "--quiet", "--verbose", "--version", "--nproc_per_node"}  # torchrun's, in train's
    for name, command in group.commands.items():
        options = {opt for param in command.params for opt in (*param.opts, *getattr(param, "secondary_opts", []))}
        texts = [command.help or "", command.epilog or "", *(getattr(p, "help", "") or "" for p in command.params)]
        named = set(re.findall(r"--[a-z][a-z0-9_-]*", " ".join(texts)))
        assert named <= options | known_everywhere, (name, named - options - known_everywhere)
        example = (command.epilog or "").split("Example: ", 1)[1].split("   (", 1)[0]
        args = shlex.split(example)
        assert args[:2] == ["petseg", name], example
        command.make_context(name, args[2:])  # raises on unknown or missing options and extra arguments
