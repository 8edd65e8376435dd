"""The GPU acceptance run (bench/gpu.py) works end to end, shrunk to a CPU (--smoke): it is ready for a GPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_acceptance_run_smoke(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--smoke", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "gpu.json").read_text())
    assert [row["recipe"] for row in result["train"]] == ["auto3dseg_segresnet", "hadlich_dynunet",
                                                          "galdran_swinunetr", "liu_stepwise_unet", "safdari_cascade"]
    assert all(row["steps"] == 2 and row["seconds_per_step"] > 0 for row in result["train"])
    infer = result["infer"]
    assert infer["models"] == 5 and infer["flips"] == 8 and 0.0 <= infer["dice_vs_monai"] <= 1.0
    assert "| recipe |" in done.stdout
