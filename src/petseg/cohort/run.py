"""`petseg predict`: an ensemble over a cohort, one mask and one lesions.json per study, a bad study reported
and skipped, the cohort split across machines by `--shard I/N`, a summary page (HTML) for a look at a glance.
A study's ground truth, where the cohort has one, is scored (metrics in lesions.json and the summary)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from petseg.api import StudyPredictor, segment
from petseg.cohort.output import COLUMNS, check_case_name
from petseg.cohort.shards import shard, summary_name
from petseg.console import info
from petseg.errors import PetsegError
from petseg.io.atomic import write_bytes_atomic, write_csv_atomic
from petseg.io.images import write_volume
from petseg.report.summary import CaseSummary, case_summary, write_cohort_summary
from petseg.results import SegmentResult, write_lesions_json


class StudyFiles(Protocol):
    """What a cohort entry offers (datalist entries and imported folders both do)."""

    case: str
    pet: Path
    ct: Path | None
    label: Path | None


@dataclass(frozen=True)
class Unlisted:
    """A cohort entry that is not a study (e.g. a case folder without a PET): reported like a failed study."""

    case: str
    error: str


def predict_cohort(predictor: StudyPredictor, studies: list[StudyFiles | Unlisted], out: Path,
                   tracer: str | None = None, part: tuple[int, int] | None = None,
                   progress: Callable[[Iterable], Iterable] | None = None) -> list[dict[str, Any]]:
    """Masks `out/<case>.nii.gz` (PET grid, uint8), `out/<case>.lesions.json`, `out/<case>.thumb.png` (the
    summary page's MIP), the summary CSV (written before the first study with every study of the shard
    "pending", rewritten after every study; a study's row says "writing" while its files are written) and, at the
    end, the summary page (HTML, beside the CSV). Each study is segmented by `petseg.api.segment` (its tracer:
    `tracer`, else FDG); an unusable CT or ground truth is left out with a warning, a study that cannot be read is
    reported."""
    out.mkdir(parents=True, exist_ok=True)
    todo = shard(studies, part)
    pending = [{"case": entry.case, "status": "pending"} for entry in todo]
    rows: list[dict[str, Any]] = []
    pages: list[CaseSummary] = []
    summary = out / summary_name(part)
    write_csv_atomic(summary, pending, COLUMNS)
    for entry in (progress or iter)(todo):
        start = time.perf_counter()
        try:
            if isinstance(entry, Unlisted):
                raise PetsegError(entry.error)
            check_case_name(entry.case)
            result = segment(entry.pet, entry.ct, label=entry.label, tracer=tracer, model=predictor,
                             case=entry.case, skip_unusable=True)
            write_csv_atomic(summary, [*rows, {"case": entry.case, "status": "writing"}, *pending[len(rows) + 1:]],
                             COLUMNS)
            page = case_summary(entry.case, result)
            write_volume(result.mask, out / f"{entry.case}.nii.gz")
            write_lesions_json(result, out / f"{entry.case}.lesions.json")
            write_bytes_atomic(out / f"{entry.case}.thumb.png", page.thumbnail or b"")
            rows.append(_row(entry.case, result, time.perf_counter() - start))
            pages.append(page)
        except PetsegError as error:  # a bad study: say why, keep going
            info(f"{entry.case}: skipped: {error}")
            rows.append({"case": entry.case, "status": "failed", "seconds": round(time.perf_counter() - start, 2),
                         "error": str(error)})
            pages.append(CaseSummary(entry.case, "failed", note=str(error)))
        write_csv_atomic(summary, [*rows, *pending[len(rows):]], COLUMNS)
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
