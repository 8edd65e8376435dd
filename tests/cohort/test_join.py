"""Shards of one run from simulated Slurm array tasks split a cohort into one folder with nothing done twice and
nothing missed; `join_shards` gives the whole cohort's summary and refuses, naming them, shards not finished."""

from __future__ import annotations

import csv
from types import SimpleNamespace

import pytest

from petseg.cohort.join import join_shards
from petseg.cohort.output import prepare_output
from petseg.cohort.run import predict_cohort
from petseg.cohort.shards import parse_shard, summary_name
from petseg.errors import PetsegError
from petseg.io.atomic import write_csv_atomic
from petseg.io.images import write_volume
from tests.standins import ThresholdEnsemble

RUN = {"models": ["standin"], "cohort": {"input": "cohort"}, "shards": 2}


def rows(path):
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def cohort(small_phantom, tmp_path):
    """Five studies (one PET and label under five names) and a sixth entry whose PET is missing."""
    study = small_phantom.study
    write_volume(study.suv, tmp_path / "suv.nii.gz")
    write_volume(study.label, tmp_path / "label.nii.gz")
    entries = [SimpleNamespace(case=f"case{k}", pet=tmp_path / "suv.nii.gz", ct=None, label=tmp_path / "label.nii.gz")
               for k in range(5)]
    return [*entries, SimpleNamespace(case="case5", pet=tmp_path / "absent.nii.gz", ct=None, label=None)]


def run_array_task(monkeypatch, task: int, cohort, out, overwrite: bool = False):
    """What `petseg predict --shard auto` does in task `task` of `sbatch --array=1-2`."""
    for name, value in {"SLURM_ARRAY_TASK_ID": task, "SLURM_ARRAY_TASK_MIN": 1, "SLURM_ARRAY_TASK_MAX": 2,
                        "SLURM_ARRAY_TASK_COUNT": 2}.items():
        monkeypatch.setenv(name, str(value))
    part = parse_shard("auto")
    prepare_output(out, RUN, summary_name(part), overwrite)
    return part, predict_cohort(ThresholdEnsemble(), cohort, out, part=part)


def test_two_array_tasks_split_the_cohort_and_join_gives_the_whole(monkeypatch, cohort, tmp_path):
    out = tmp_path / "preds"
    part, first = run_array_task(monkeypatch, 1, cohort, out)
    assert part == (1, 2)
    with pytest.raises(PetsegError, match=r"shard\(s\) 2 \(summary-2-of-2.csv\) of 2 have no summary yet"):
        join_shards(out)
    part, second = run_array_task(monkeypatch, 2, cohort, out)
    assert part == (2, 2)
    done = [row["case"] for row in [*first, *second]]
    assert sorted(done) == [entry.case for entry in cohort]  # nothing twice, nothing missed
    joined, summary = join_shards(out)
    assert summary == out / "summary.csv"
    assert [row["case"] for row in rows(summary)] == [entry.case for entry in cohort]  # the cohort's order
    assert [row["status"] for row in joined] == ["ok"] * 5 + ["failed"]
    assert rows(summary)[:5] == rows(out / "summary-1-of-2.csv")[:1] + rows(out / "summary-2-of-2.csv")[:1] + \
        rows(out / "summary-1-of-2.csv")[1:2] + rows(out / "summary-2-of-2.csv")[1:2] + \
        rows(out / "summary-1-of-2.csv")[2:3]
    page = (out / "summary.html").read_text()
    assert all(f">{entry.case}<" in page for entry in cohort)
    assert page.count("data:image/png;base64") == 5  # every segmented study's thumbnail, from <case>.thumb.png
    assert "no PET" in page or "absent.nii.gz" in page  # the failed study's reason


def test_join_refuses_a_shard_still_running_and_a_rerun_drops_the_joined_summary(monkeypatch, cohort, tmp_path):
    out = tmp_path / "preds"
    for task in (1, 2):
        run_array_task(monkeypatch, task, cohort, out)
    join_shards(out)
    shard2 = out / "summary-2-of-2.csv"
    finished = rows(shard2)
    write_csv_atomic(shard2, [finished[0], {**finished[1], "status": "writing"}, {**finished[2], "status": "pending"}])
    with pytest.raises(PetsegError, match=r"shard 2 of 2 \(2 not done: case3, case5\) is still running"):
        join_shards(out)
    run_array_task(monkeypatch, 2, cohort, out, overwrite=True)  # the shard again: the joined summary is stale
    assert not (out / "summary.csv").exists() and not (out / "summary.html").exists()
    assert len(join_shards(out)[0]) == 6


def test_a_shard_lists_its_studies_as_pending_before_the_first(cohort, tmp_path):
    out = tmp_path / "preds"
    seen = []

    def progress(items):
        for item in items:
            seen.append([row["status"] for row in rows(out / "summary-2-of-2.csv")])
            yield item

    predict_cohort(ThresholdEnsemble(), cohort, out, part=(2, 2), progress=progress)
    assert seen == [["pending"] * 3, ["ok", "pending", "pending"], ["ok", "ok", "pending"]]
    assert [row["status"] for row in rows(out / "summary-2-of-2.csv")] == ["ok", "ok", "failed"]
    assert (out / "case1.thumb.png").read_bytes().startswith(b"\x89PNG")


def test_join_refuses_what_is_not_a_sharded_predict_folder(tmp_path):
    with pytest.raises(PetsegError, match="is not an output folder of `petseg predict`"):
        join_shards(tmp_path)
    prepare_output(tmp_path / "whole", {**RUN, "shards": 1}, "summary.csv", False)
    write_csv_atomic(tmp_path / "whole" / "summary.csv", [{"case": "a", "status": "ok"}])
    with pytest.raises(PetsegError, match="unsharded run"):
        join_shards(tmp_path / "whole")


def test_predict_join_on_the_command_line(monkeypatch, cohort, tmp_path, capsys):
    from petseg.cli.main import run

    out = tmp_path / "preds"
    for task in (1, 2):
        run_array_task(monkeypatch, task, cohort, out)
    capsys.readouterr()
    assert run(["predict", "--join", str(out)]) == 0
    said = " ".join(capsys.readouterr().err.split())  # (rich wraps an info line at the terminal's width)
    assert f"joined 6 studies (1 failed) -> {out / 'summary.csv'}" in said
    assert run(["predict", "--join", str(out), "--model", "runs/f0"]) == 2
    assert "--join OUT takes no other option" in capsys.readouterr().err
    assert run(["predict", "-o", str(tmp_path / "x")]) == 2
    assert "give --model" in capsys.readouterr().err
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID")
    monkeypatch.delenv("RANK", raising=False)
    assert run(["predict", "--model", "m", "-o", str(tmp_path / "x"), "--input", str(tmp_path), "--shard",
                "auto"]) == 2
    err = capsys.readouterr().err
    assert "--shard auto found neither a Slurm job array" in err and len(err.strip().splitlines()) == 1
