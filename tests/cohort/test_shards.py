"""`--shard auto`: I/N from a Slurm job array (any first index) or torchrun, both at once, and one-line refusals."""

from __future__ import annotations

import pytest

from petseg.cohort.shards import parse_shard, shard
from petseg.errors import PetsegError


def slurm(task: int, low: int, high: int, **extra: str) -> dict[str, str]:
    """The variables Slurm sets in a task of `sbatch --array=LOW-HIGH`."""
    return {"SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_TASK_MIN": str(low), "SLURM_ARRAY_TASK_MAX": str(high),
            "SLURM_ARRAY_TASK_COUNT": str(high - low + 1), "SLURM_ARRAY_TASK_STEP": "1", "SLURM_JOB_ID": "77",
            **extra}


@pytest.mark.parametrize("low", [0, 1, 5])
def test_a_slurm_array_gives_every_task_its_share_whatever_its_first_index(low):
    parts = [parse_shard("auto", slurm(task, low, low + 3)) for task in range(low, low + 4)]
    assert parts == [(1, 4), (2, 4), (3, 4), (4, 4)]
    cohort = list(range(23))
    shares = [shard(cohort, part) for part in parts]
    assert sorted(case for share in shares for case in share) == cohort  # nothing twice, nothing missed


def test_slurm_min_with_max_or_count_alone_is_enough():
    only_max = {k: v for k, v in slurm(3, 2, 5).items() if k not in ("SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_STEP")}
    only_count = {k: v for k, v in slurm(3, 2, 5).items() if k != "SLURM_ARRAY_TASK_MAX"}
    assert parse_shard("auto", only_max) == parse_shard("auto", only_count) == (2, 4)


def test_torchrun_ranks_and_both_schedulers_at_once():
    assert parse_shard("auto", {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}) == (1, 2)
    assert parse_shard("auto", {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}) == (2, 2)
    # torchrun with 2 ranks inside each of 3 array tasks: 6 shares, each (task, rank) its own
    parts = {parse_shard("auto", {**slurm(task, 1, 3), "RANK": str(rank), "WORLD_SIZE": "2"})
             for task in (1, 2, 3) for rank in (0, 1)}
    assert parts == {(i, 6) for i in range(1, 7)}


@pytest.mark.parametrize(("environ", "message"), [
    ({}, "found neither a Slurm job array (SLURM_ARRAY_TASK_ID) nor torchrun (RANK, WORLD_SIZE)"),
    ({"SLURM_JOB_ID": "7", "SLURM_PROCID": "0"}, "found neither"),  # a plain job is no array
    ({"RANK": "0"}, "found neither"),
    (slurm(3, 1, 7, SLURM_ARRAY_TASK_STEP="2", SLURM_ARRAY_TASK_COUNT="4"), "gaps or steps"),
    ({**slurm(3, 1, 7), "SLURM_ARRAY_TASK_COUNT": "3"}, "gaps or steps"),  # --array=1,3,7
    ({"SLURM_ARRAY_TASK_ID": "3"}, "needs SLURM_ARRAY_TASK_MIN"),
    (slurm(9, 1, 4), "outside the array 1..4"),
    ({"RANK": "2", "WORLD_SIZE": "2"}, "RANK 2 is not below WORLD_SIZE 2"),
    ({"RANK": "one", "WORLD_SIZE": "2"}, "RANK='one' is not an integer"),
])
def test_auto_refuses_in_one_line_what_it_cannot_read(environ, message):
    with pytest.raises(PetsegError, match="--shard auto") as caught:
        parse_shard("auto", environ)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_auto_reads_the_process_environment(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(PetsegError, match="give --shard I/N"):
        parse_shard("auto")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert parse_shard("AUTO") == (4, 4)
    assert parse_shard("2/5") == (2, 5) and parse_shard(None) is None
    with pytest.raises(PetsegError, match="I/N with 1 <= I <= N"):
        parse_shard("0/3")
