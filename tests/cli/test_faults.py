"""Faults and broken inputs end in one clear line and exit 2, with nothing half-written (issue 14)."""

from __future__ import annotations

import pytest

from petseg.cli.main import run
from petseg.data.phantom.generate import write_phantom_case
from tests.faults import fill_the_disk


@pytest.fixture(scope="module")
def study_files(tmp_path_factory, small_phantom):
    return write_phantom_case(small_phantom, tmp_path_factory.mktemp("study"))


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.slow
@pytest.mark.parametrize("after", [0, 2])
def test_disk_full_in_segment_keeps_the_earlier_results(tmp_path, study_files, monkeypatch, capsys, after):
    out = tmp_path / "out"
    assert run(["--quiet", "segment", "--pet", str(study_files.pet), "-o", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    fill_the_disk(monkeypatch, after)
    assert run(["--quiet", "segment", "--pet", str(study_files.pet), "-o", str(out), "--overwrite"]) == 2
    err = one_error_line(capsys)
    assert f"no space left on device while writing {out}" in err and "free space or choose another -o" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert leftovers(tmp_path) == []


def test_disk_full_in_phantom_leaves_no_cohort(tmp_path, monkeypatch, capsys):
    fill_the_disk(monkeypatch, after=4)  # the second study's files fail
    out = tmp_path / "cohort"
    assert run(["phantom", "-o", str(out), "-n", "3", "--folds", "1"]) == 2
    assert "no space left on device while writing" in one_error_line(capsys)
    assert not out.exists() and leftovers(tmp_path) == []


def test_disk_full_in_convert(tmp_path, real_data, monkeypatch, capsys):
    fill_the_disk(monkeypatch)
    out = tmp_path / "converted"
    dicom = real_data / "sts_cropped_petct_masks" / "STS_001" / "PET" / "dicom" / "image"
    assert run(["convert", "--pet", str(dicom), "-o", str(out)]) == 2
    assert f"no space left on device while writing {out / 'suv.nii.gz'}" in one_error_line(capsys)
    assert not out.exists() and leftovers(tmp_path) == []


def test_read_only_output_is_one_line(tmp_path, study_files, monkeypatch, capsys):
    import errno
    import os

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path))

    monkeypatch.setattr("tempfile.mkdtemp", refuse)
    assert run(["segment", "--pet", str(study_files.pet), "-o", str(tmp_path / "out")]) == 2
    assert "read-only file system" in one_error_line(capsys)


def test_truncated_nifti_in_segment_and_evaluate(tmp_path, study_files, capsys):
    cut = tmp_path / "suv.nii.gz"
    data = study_files.pet.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    assert run(["segment", "--pet", str(cut), "-o", str(tmp_path / "out")]) == 2
    assert "suv.nii.gz is damaged" in one_error_line(capsys)
    assert not (tmp_path / "out").exists()
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    for folder in (gt, pred):
        folder.mkdir()
        for case in ("a", "b"):
            (folder / f"{case}.nii.gz").write_bytes(study_files.label.read_bytes())
    label = study_files.label.read_bytes()
    (pred / "b.nii.gz").write_bytes(label[: len(label) // 2])
    assert run(["evaluate", "--gt", str(gt), "--pred", str(pred), "-o", str(tmp_path / "m.json")]) == 2
    err = one_error_line(capsys)
    assert "1 case(s) could not be evaluated (b)" in err and "damaged" in err
