"""Shards of a cohort: `--shard I/N` gives the I-th of N interleaved shares, so N machines (or jobs) split a
cohort with nothing done twice and nothing missed; each shard writes its own summary."""

from __future__ import annotations

from typing import TypeVar

from petseg.errors import PetsegError

T = TypeVar("T")


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """'I/N' (1 <= I <= N) -> (I, N); None stays None."""
    if text is None:
        return None
    index, sep, count = text.partition("/")
    if not sep or not index.isdigit() or not count.isdigit() or not 1 <= int(index) <= int(count):
        raise PetsegError(f"--shard is I/N with 1 <= I <= N (e.g. 2/4), got {text!r}")
    return int(index), int(count)


def shard(items: list[T], part: tuple[int, int] | None) -> list[T]:
    """The I-th of N interleaved shards (every N-th item from the (I-1)-th): shards are disjoint and cover all."""
    if part is None:
        return list(items)
    index, count = part
    return items[index - 1::count]


def summary_name(part: tuple[int, int] | None) -> str:
    """summary.csv, or summary-I-of-N.csv for a shard (shards may share one output folder)."""
    return "summary.csv" if part is None else f"summary-{part[0]}-of-{part[1]}.csv"
