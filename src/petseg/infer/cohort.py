"""`petseg predict`: an ensemble over a cohort, one mask and one lesions.json per study, a bad study reported
and skipped, the cohort split across machines by `--shard I/N`, a summary page (HTML) for a look at a glance.
A study's ground truth, where the cohort has one, is scored (metrics in lesions.json and the summary)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from petseg.annotate import annotate
from petseg.console import info
from petseg.data.study import load_study, with_label
from petseg.errors import PetsegError, PetsegWarning
from petseg.infer.cohort_output import check_case_name
from petseg.infer.predictor import Predictor
from petseg.io.atomic import write_csv_atomic
from petseg.io.images import read_volume, write_volume
from petseg.quantify import quantify
from petseg.report.summary import CaseSummary, case_summary, write_cohort_summary
from petseg.results import SegmentResult, write_lesions_json

COLUMNS = ["case", "status", "seconds", "lesions", "tmtv_ml", "suvmax", "windows_run", "windows", "gate_probability",
           "mask", "error"]


class StudyFiles(Protocol):
    """What a cohort entry offers (datalist entries and imported folders both do)."""

    case: str
    pet: Path
    ct: Path | None
    label: Path | None


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """'I/N' (1 <= I <= N) -> (I, N); None stays None."""
    if text is None:
        return None
    index, sep, count = text.partition("/")
    if not sep or not index.isdigit() or not count.isdigit() or not 1 <= int(index) <= int(count):
        raise PetsegError(f"--shard is I/N with 1 <= I <= N (e.g. 2/4), got {text!r}")
    return int(index), int(count)


def shard(items: list, part: tuple[int, int] | None) -> list:
    """The I-th of N interleaved shards (every N-th item from the (I-1)-th): shards are disjoint and cover all."""
    if part is None:
        return list(items)
    index, count = part
    return items[index - 1::count]


def summary_name(part: tuple[int, int] | None) -> str:
    """summary.csv, or summary-I-of-N.csv for a shard (shards may share one output folder)."""
    return "summary.csv" if part is None else f"summary-{part[0]}-of-{part[1]}.csv"


@dataclass(frozen=True)
class Unlisted:
    """A cohort entry that is not a study (e.g. a case folder without a PET): reported like a failed study."""

    case: str
    error: str


def predict_cohort(predictor: Predictor, studies: list[StudyFiles | Unlisted], out: Path, tracer: str = "fdg",
                   part: tuple[int, int] | None = None,
                   progress: Callable[[Iterable], Iterable] | None = None) -> list[dict[str, Any]]:
    """Masks `out/<case>.nii.gz` (PET grid, uint8), `out/<case>.lesions.json`, the summary CSV (rewritten
    after every study; a study's row says "writing" while its files are written) and, at the end, the summary
    page (HTML, beside the CSV)."""
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    pages: list[CaseSummary] = []
    summary = out / summary_name(part)
    for entry in (progress or iter)(shard(studies, part)):
        start = time.perf_counter()
        try:
            if isinstance(entry, Unlisted):
                raise PetsegError(entry.error)
            check_case_name(entry.case)
            result = _segment(predictor, entry, tracer)
            write_csv_atomic(summary, [*rows, {"case": entry.case, "status": "writing"}], COLUMNS)
            write_volume(result.mask, out / f"{entry.case}.nii.gz")
            write_lesions_json(result, out / f"{entry.case}.lesions.json")
            rows.append(_row(entry.case, result, time.perf_counter() - start))
            pages.append(case_summary(entry.case, result))
        except PetsegError as error:  # a bad study: say why, keep going
            info(f"{entry.case}: skipped: {error}")
            rows.append({"case": entry.case, "status": "failed", "seconds": round(time.perf_counter() - start, 2),
                         "error": str(error)})
            pages.append(CaseSummary(entry.case, "failed", note=str(error)))
        write_csv_atomic(summary, rows, COLUMNS)
    write_cohort_summary(summary.with_suffix(".html"), f"petseg predict: {out.name}", pages)
    return rows


def _row(case: str, result: SegmentResult, seconds: float) -> dict[str, Any]:
    """The summary row of a segmented study."""
    totals, method = result.quantification.totals, result.method
    return {"case": case, "status": "ok", "seconds": round(seconds, 2), "lesions": totals["lesion_count"],
            "tmtv_ml": round(float(totals["tmtv_ml"]), 3),
            "suvmax": None if totals["suvmax"] is None else round(float(totals["suvmax"]), 2),
            "windows_run": method["windows"]["run"], "windows": method["windows"]["windows"],
            "gate_probability": method.get("gate", {}).get("probability"), "mask": f"{case}.nii.gz"}


def _segment(predictor: Predictor, entry: StudyFiles, tracer: str) -> SegmentResult:
    """One study through the ensemble, quantified."""
    study = load_study(entry.pet, entry.ct, meta={"case": entry.case, "tracer": tracer}, ct_optional=True)
    label = getattr(entry, "label", None)
    if label is not None:  # scored when it can be read; a bad label never costs the study its mask
        try:
            study = with_label(study, read_volume(label))
            study.meta["label_path"] = str(label)
        except PetsegError as error:
            warnings.warn(f"{entry.case}: ground truth {label} not used ({error}); segmented without metrics",
                          PetsegWarning, stacklevel=2)
    timings: dict[str, float] = {}
    prediction = predictor.predict(study)
    timings["segmenting"] = round(prediction.seconds, 3)
    return annotate(SegmentResult(study, prediction.mask, quantify(study.suv, prediction.mask),
                                  predictor.describe(prediction), timings))
