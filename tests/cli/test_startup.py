"""The command line starts without the network stack: `--help`, `convert`, `quantify`, `evaluate` and the SUV
method's `segment` run in a fresh process that never loads torch or MONAI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import petseg
from petseg.io.images import Volume, write_volume

# Runs the CLI in this fresh process, then reports on its last line what the run left in sys.modules.
PROBE = ("import json, sys\nfrom petseg.cli.main import run\nrc = run(sys.argv[1:])\n"
         "print(json.dumps({'rc': rc, 'loaded': sorted(m for m in ('torch', 'monai') if m in sys.modules)}))\n")


def loaded_after(args: list[str], before: str = "") -> list[str]:
    """Run `petseg ARGS` in a fresh interpreter (this checkout's petseg; the code `before` first); return which of
    torch/MONAI it loaded."""
    env = {**os.environ, "PYTHONPATH": str(Path(petseg.__file__).parents[1])}
    proc = subprocess.run([sys.executable, "-c", before + PROBE, *args], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["rc"] == 0, proc.stderr
    return report["loaded"]


def test_help_of_the_app_and_of_every_command_loads_no_network_stack():
    from typer.main import get_command

    from petseg.cli.app import app
    from petseg.cli.main import run  # noqa: F401  (registers the commands)

    assert loaded_after(["--help"]) == []
    for name in get_command(app).commands:  # type: ignore[attr-defined]
        assert loaded_after([name, "--help"]) == [], name


def test_convert_quantify_and_evaluate_load_no_network_stack(tmp_path):
    from tests.dicom_writer import write_study_dicom

    rng = np.random.default_rng(0)
    suv = rng.gamma(2.0, 0.5, (12, 24, 24)).astype(np.float32)
    suv[4:8, 8:14, 8:14] = 9.0
    label = (suv > 8.0).astype(np.uint8)
    volume = Volume(suv, spacing=(4.0, 4.0, 3.0))
    write_study_dicom(volume, None, tmp_path / "dicom")
    assert loaded_after(["-q", "convert", "--pet", str(tmp_path / "dicom" / "pet"), "-o", str(tmp_path / "conv")]) \
        == []
    write_volume(Volume(label, spacing=(4.0, 4.0, 3.0)), tmp_path / "label.nii.gz")
    suv_file = tmp_path / "conv" / "suv.nii.gz"
    assert loaded_after(["-q", "quantify", "--pet", str(suv_file), "--mask", str(tmp_path / "label.nii.gz"),
                         "-o", str(tmp_path / "lesions.json")]) == []
    assert loaded_after(["-q", "evaluate", "--pred", str(tmp_path / "label.nii.gz"), "--gt",
                         str(tmp_path / "label.nii.gz"), "-o", str(tmp_path / "metrics.json")]) == []
    assert json.loads((tmp_path / "lesions.json").read_text())["totals"]["lesion_count"] == 1


@pytest.mark.slow
def test_segment_with_the_suv_method_loads_no_network_stack(tmp_path, small_phantom):
    study = small_phantom.study
    write_volume(study.suv, tmp_path / "suv.nii.gz")
    write_volume(study.ct, tmp_path / "ct.nii.gz")
    assert loaded_after(["-q", "segment", "--pet", str(tmp_path / "suv.nii.gz"), "--ct", str(tmp_path / "ct.nii.gz"),
                         "-o", str(tmp_path / "out")]) == []
    assert (tmp_path / "out" / "report.html").is_file()


def test_the_probe_sees_torch_when_a_run_loads_it():
    """The check can fail: a process that loads torch is reported as loading it."""
    assert loaded_after(["--version"], before="import torch\n") == ["torch"]
