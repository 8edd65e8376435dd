"""Images without SUV: the NEMA image-quality phantom (real, units stripped) segments with the option the error
names, its values relative to its own background and never called SUV; image files take the same options."""

from __future__ import annotations

import json

import numpy as np
import pytest

from petseg.cli.main import run
from petseg.io.images import Volume, write_volume


def test_the_nema_phantom_segments_with_units_none_and_all_six_spheres_are_found(tmp_path, real_data, capsys):
    pet = real_data / "nema_iq_phantom" / "pet"
    assert run(["segment", "--pet", str(pet), "-o", str(tmp_path / "refused")]) == 2
    assert "--units none" in capsys.readouterr().err
    out = tmp_path / "nema"
    assert run(["segment", "--pet", str(pet), "--units", "none", "-o", str(out)]) == 0
    report = json.loads((out / "lesions.json").read_text())
    assert report["study"]["values"] == "relative to the image's background (not SUV)"
    assert any("NOT SUV" in w for w in report["warnings"]) and "NOT SUV" in (out / "report.html").read_text()
    centres = np.array([lesion["centroid_mm"] for lesion in report["lesions"] if lesion["volume_ml"] >= 0.3])
    ring = centres[np.abs(centres[:, 2] - np.median(centres[:, 2])) < 10.0]  # the spheres' transverse plane
    radius = np.linalg.norm(ring[:, :2] - ring[:, :2].mean(axis=0), axis=1)
    assert len(ring) == 6 and np.all(np.abs(radius - 57.2) < 8.0)  # six spheres on NEMA's 114.4 mm ring
    converted = tmp_path / "converted"
    assert run(["convert", "--pet", str(pet), "--units", "none", "-o", str(converted)]) == 0
    record = json.loads((converted / "conversion.json").read_text())
    assert record["values"] == "relative to the image's background (not SUV)" and record["units"] == "NONE"


def test_an_image_file_in_bq_per_ml_takes_a_factor_or_its_background(tmp_path, capsys):
    rng = np.random.default_rng(0)
    activity = rng.normal(5000.0, 300.0, (40, 40, 40)).astype(np.float32)  # Bq/ml, a warm cylinder ...
    activity[15:22, 15:22, 15:22] = 40000.0  # ... with a hot cube
    write_volume(Volume(activity, (4.0, 4.0, 4.0)), tmp_path / "pet.nii.gz")
    assert run(["segment", "--pet", str(tmp_path / "pet.nii.gz"), "-o", str(tmp_path / "a")]) == 2
    assert "--suv-factor F" in capsys.readouterr().err
    assert run(["segment", "--pet", str(tmp_path / "pet.nii.gz"), "--suv-factor", "2e-4", "-o",
                str(tmp_path / "b")]) == 0
    factor = json.loads((tmp_path / "b" / "lesions.json").read_text())
    assert factor["totals"]["suvmax"] == pytest.approx(8.0, rel=0.01) and factor["study"]["values"] == "SUV"
    assert run(["segment", "--pet", str(tmp_path / "pet.nii.gz"), "--units", "none", "-o", str(tmp_path / "c")]) == 0
    relative = json.loads((tmp_path / "c" / "lesions.json").read_text())
    assert relative["totals"]["suvmax"] == pytest.approx(8.0, rel=0.05)  # 8 x the background
    assert relative["totals"]["lesion_count"] == 1
    assert run(["segment", "--pet", str(tmp_path / "pet.nii.gz"), "--units", "bqml", "-o", str(tmp_path / "d")]) == 2
    assert "converts DICOM only" in capsys.readouterr().err
    assert run(["segment", "--pet", str(tmp_path / "pet.nii.gz"), "--units", "mci", "-o", str(tmp_path / "e")]) == 2
