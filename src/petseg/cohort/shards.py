"""Shards of a cohort: `--shard I/N` gives the I-th of N interleaved shares, so N machines (or jobs) split a
cohort with nothing done twice and nothing missed; each shard writes its own summary.

`--shard auto` reads I/N from the scheduler that started the process: a Slurm job array (`SLURM_ARRAY_TASK_ID`
counted from `SLURM_ARRAY_TASK_MIN`, N from `SLURM_ARRAY_TASK_COUNT` or MAX - MIN + 1: arrays may start at 0, 1
or any index, but must have no gaps or steps) or torchrun (`RANK` of `WORLD_SIZE`). Both at once (torchrun inside
each task of an array) split every task's share further among its ranks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

from petseg.errors import PetsegError

T = TypeVar("T")


def parse_shard(text: str | None, environ: Mapping[str, str] | None = None) -> tuple[int, int] | None:
    """'I/N' (1 <= I <= N) -> (I, N); 'auto' -> I/N of the Slurm array task or torchrun rank; None stays None."""
    if text is None:
        return None
    if text.strip().lower() == "auto":
        return shard_from_environment(os.environ if environ is None else environ)
    index, sep, count = text.partition("/")
    if not sep or not index.isdigit() or not count.isdigit() or not 1 <= int(index) <= int(count):
        raise PetsegError(f"--shard is I/N with 1 <= I <= N (e.g. 2/4) or auto, got {text!r}")
    return int(index), int(count)


def shard_from_environment(environ: Mapping[str, str]) -> tuple[int, int]:
    """I/N of this process from a Slurm job array's and/or torchrun's variables."""
    array, ranks = _slurm_array(environ), _torchrun(environ)
    if array is None and ranks is None:
        raise PetsegError("--shard auto found neither a Slurm job array (SLURM_ARRAY_TASK_ID) nor torchrun "
                          "(RANK, WORLD_SIZE); give --shard I/N")
    (task, tasks), (rank, world) = array or (1, 1), ranks or (1, 1)
    return (task - 1) * world + rank, tasks * world


def _integers(environ: Mapping[str, str], names: tuple[str, ...]) -> dict[str, int]:
    """The variables among `names` that are set, as integers (a value that is not one: a one-line error)."""
    found = {}
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            if not value.lstrip("-").isdigit():
                raise PetsegError(f"--shard auto: {name}={value!r} is not an integer")
            found[name] = int(value)
    return found


def _slurm_array(environ: Mapping[str, str]) -> tuple[int, int] | None:
    """(I, N) of a Slurm array task, I from 1; None outside a job array."""
    v = _integers(environ, ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX",
                            "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_STEP"))
    if "SLURM_ARRAY_TASK_ID" not in v:
        return None
    if "SLURM_ARRAY_TASK_MIN" not in v or not {"SLURM_ARRAY_TASK_MAX", "SLURM_ARRAY_TASK_COUNT"} & set(v):
        raise PetsegError("--shard auto: a Slurm array task needs SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_MAX or "
                          "SLURM_ARRAY_TASK_COUNT beside SLURM_ARRAY_TASK_ID (Slurm sets them; give --shard I/N)")
    low = v["SLURM_ARRAY_TASK_MIN"]
    count = v.get("SLURM_ARRAY_TASK_COUNT", v.get("SLURM_ARRAY_TASK_MAX", 0) - low + 1)
    span = v.get("SLURM_ARRAY_TASK_MAX", low + count - 1) - low + 1
    if span != count or v.get("SLURM_ARRAY_TASK_STEP", 1) != 1:
        raise PetsegError(f"--shard auto: the Slurm array has gaps or steps ({count} tasks over indices {low}.."
                          f"{low + span - 1}); use a contiguous range (sbatch --array=1-N) or --shard I/N")
    index = v["SLURM_ARRAY_TASK_ID"] - low + 1
    if not 1 <= index <= count:
        raise PetsegError(f"--shard auto: SLURM_ARRAY_TASK_ID {v['SLURM_ARRAY_TASK_ID']} is outside the array "
                          f"{low}..{low + count - 1}")
    return index, count


def _torchrun(environ: Mapping[str, str]) -> tuple[int, int] | None:
    """(I, N) of a torchrun rank, I from 1; None without RANK and WORLD_SIZE."""
    v = _integers(environ, ("RANK", "WORLD_SIZE"))
    if "RANK" not in v or "WORLD_SIZE" not in v:
        return None
    if not 0 <= v["RANK"] < v["WORLD_SIZE"]:
        raise PetsegError(f"--shard auto: RANK {v['RANK']} is not below WORLD_SIZE {v['WORLD_SIZE']}")
    return v["RANK"] + 1, v["WORLD_SIZE"]


def shard(items: list[T], part: tuple[int, int] | None) -> list[T]:
    """The I-th of N interleaved shards (every N-th item from the (I-1)-th): shards are disjoint and cover all."""
    if part is None:
        return list(items)
    index, count = part
    return items[index - 1::count]


def summary_name(part: tuple[int, int] | None) -> str:
    """summary.csv, or summary-I-of-N.csv for a shard (shards may share one output folder)."""
    return "summary.csv" if part is None else f"summary-{part[0]}-of-{part[1]}.csv"
