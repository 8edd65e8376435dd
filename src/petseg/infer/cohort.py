"""`petseg predict`: an ensemble over a cohort, one mask per study, a bad study reported and skipped,
the cohort split across machines by `--shard I/N`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import cc3d

from petseg.console import info
from petseg.data.study import load_study
from petseg.errors import PetsegError
from petseg.infer.predictor import Predictor
from petseg.io.atomic import write_csv_atomic
from petseg.io.images import write_volume

COLUMNS = ["case", "status", "seconds", "lesions", "volume_ml", "windows_run", "windows", "gate_probability",
           "mask", "error"]


class StudyFiles(Protocol):
    """What a cohort entry offers (datalist entries and imported folders both do)."""

    case: str
    pet: Path
    ct: Path | None


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """'I/N' (1 <= I <= N) -> (I, N); None stays None."""
    if text is None:
        return None
    index, sep, count = text.partition("/")
    if not sep or not index.isdigit() or not count.isdigit() or not 1 <= int(index) <= int(count):
        raise PetsegError(f"--shard is I/N with 1 <= I <= N (e.g. 2/4), got {text!r}")
    return int(index), int(count)


def shard(items: list, which: tuple[int, int] | None) -> list:
    """The I-th of N interleaved shards (every N-th item from the (I-1)-th): shards are disjoint and cover all."""
    if which is None:
        return list(items)
    index, count = which
    return items[index - 1::count]


def summary_name(which: tuple[int, int] | None) -> str:
    """summary.csv, or summary-I-of-N.csv for a shard (shards may share one output folder)."""
    return "summary.csv" if which is None else f"summary-{which[0]}-of-{which[1]}.csv"


def predict_cohort(predictor: Predictor, studies: list[StudyFiles], out: Path, tracer: str = "fdg",
                   which: tuple[int, int] | None = None,
                   progress: Callable[[Iterable], Iterable] | None = None) -> list[dict[str, Any]]:
    """Masks `out/<case>.nii.gz` (PET grid, uint8) and the summary CSV (rewritten after every study)."""
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for entry in (progress or iter)(shard(studies, which)):
        start = time.perf_counter()
        try:
            prediction = predictor.predict(load_study(entry.pet, entry.ct), tracer)
            mask_path = out / f"{entry.case}.nii.gz"
            write_volume(prediction.mask, mask_path)
            _, lesions = cc3d.connected_components(prediction.mask.array > 0, connectivity=18, return_N=True)
            rows.append({"case": entry.case, "status": "ok", "seconds": round(time.perf_counter() - start, 2),
                         "lesions": int(lesions),
                         "volume_ml": round(float(prediction.mask.array.sum()) * prediction.mask.voxel_ml, 3),
                         "windows_run": prediction.windows["run"], "windows": prediction.windows["windows"],
                         "gate_probability": (prediction.gate or {}).get("probability"), "mask": mask_path.name})
        except PetsegError as error:  # a bad study: say why, keep going
            info(f"{entry.case}: skipped: {error}")
            rows.append({"case": entry.case, "status": "failed", "seconds": round(time.perf_counter() - start, 2),
                         "error": str(error)})
        write_csv_atomic(out / summary_name(which), rows, COLUMNS)
    return rows
