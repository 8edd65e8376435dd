"""Output folders: --overwrite replaces only petseg's files; a killed run's staging folder is cleaned up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from petseg.errors import PetsegError
from petseg.io.outdir import MARKER, check_output_dir, staged_output_dir


def stage(out: Path, files: dict[str, str], overwrite: bool = False) -> None:
    with staged_output_dir(out, overwrite) as staging:
        for name, text in files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_text(text)


def test_overwrite_replaces_only_what_petseg_wrote(tmp_path):
    out = tmp_path / "out"
    stage(out, {"lesions.json": "1", "lesions_seg.dcm": "1", "study/suv.nii.gz": "1"})
    (out / "notes.txt").write_text("mine")
    (out / "study" / "my_drawing.png").write_text("mine too")
    stage(out, {"lesions.json": "2", "study/suv.nii.gz": "2"}, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine" and (out / "study" / "my_drawing.png").read_text() == "mine too"
    assert (out / "lesions.json").read_text() == "2" and (out / "study" / "suv.nii.gz").read_text() == "2"
    assert not (out / "lesions_seg.dcm").exists()  # the earlier run's file is not mixed in
    assert json.loads((out / MARKER).read_text())["files"] == ["lesions.json", "study/suv.nii.gz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_folder_of_petseg_files_is_swapped_whole(tmp_path):
    out = tmp_path / "out"
    stage(out, {"a.txt": "1", "b.txt": "1"})
    stage(out, {"a.txt": "2"}, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "a.txt"]


def test_an_unrelated_file_is_not_called_results(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    for overwrite in (False, True):
        with pytest.raises(PetsegError, match=r"holds files petseg did not write \(thesis\.tex\); choose an empty"):
            check_output_dir(folder, overwrite)
    (folder / MARKER).write_text("written by petseg; --overwrite may replace this folder\n")  # an older marker
    with pytest.raises(PetsegError, match="older petseg"):
        check_output_dir(folder, True)


def test_a_killed_runs_staging_folder_is_removed_by_the_next_run(tmp_path):
    from petseg.io.outdir import host_tag

    code = ("import os, signal, sys\nfrom petseg.io.outdir import staged_output_dir\n"
            "with staged_output_dir(sys.argv[1], False) as staging:\n"
            "    (staging / 'lesions.nii.gz').write_bytes(b'half')\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    killed = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a")], env=env, check=False)
    assert killed.returncode == -9
    stale = [p.name for p in tmp_path.iterdir()]
    assert len(stale) == 1 and stale[0].startswith(".a.staging-")
    other_host = tmp_path / ".b.staging-00000000-1-xyz"  # another machine's, recent: left alone
    other_host.mkdir()
    live = tmp_path / f".c.staging-{host_tag()}-{os.getpid()}-xyz"  # a running process's: left alone
    live.mkdir()
    stage(tmp_path / "b", {"x.txt": "1"})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([other_host.name, live.name, "b"])
