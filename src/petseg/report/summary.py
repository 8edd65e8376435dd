"""The HTML summary of a cohort (`petseg predict`, `petseg evaluate`): one row per study with a MIP
thumbnail, lesion count, TMTV, SUVmax, status and, where a ground truth exists, the autoPET metrics, so a
team can look over hundreds of studies at a glance. One self-contained file, thumbnails embedded."""

from __future__ import annotations

import datetime
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from petseg.io.atomic import write_text_atomic
from petseg.io.images import read_volume
from petseg.report.page import number, page, picture, table, text
from petseg.report.thumbnail import mask_thumbnail, study_thumbnail
from petseg.results import SegmentResult


@dataclass(frozen=True)
class CaseSummary:
    """One study's row: status "ok" or "failed", the numbers, the metrics (with a truth), a thumbnail."""

    case: str
    status: str
    lesions: int | None = None
    tmtv_ml: float | None = None
    suvmax: float | None = None
    metrics: dict[str, Any] | None = None
    thumbnail: bytes | None = None
    note: str = ""


def case_summary(case: str, result: SegmentResult) -> CaseSummary:
    """The row of a segmented study."""
    totals = result.quantification.totals
    return CaseSummary(case, "ok", int(totals["lesion_count"]), float(totals["tmtv_ml"]),  # type: ignore[arg-type]
                       totals["suvmax"], result.metrics, study_thumbnail(result), "; ".join(result.warnings))


def evaluation_summaries(report: dict[str, Any], pairs: list[Any]) -> list[CaseSummary]:
    """The rows of `petseg evaluate`: its metrics per case, thumbnails of the masks, and the SUVmax where the
    prediction folder holds petseg's lesions.json beside the mask."""
    paths = {pair.case: pair for pair in pairs}
    rows = [CaseSummary(item["case"], "failed", note=str(item["error"])) for item in report["failed"]]
    for case in report["cases"]:
        pair = paths.get(case["case"])
        rows.append(CaseSummary(case["case"], "ok", int(case["pred_lesions"]), float(case["pred_volume_ml"]),
                                _recorded_suvmax(pair.pred if pair else None, case["case"]), case,
                                _mask_picture(pair) if pair else None))
    return rows


def _recorded_suvmax(prediction: Path | None, case: str) -> float | None:
    """The SUVmax of `<case>.lesions.json` (petseg predict) or `lesions.json` (petseg segment) beside a mask."""
    if prediction is None:
        return None
    for candidate in (prediction.parent / f"{case}.lesions.json", prediction.parent / "lesions.json"):
        if candidate.is_file():
            try:
                return json.loads(candidate.read_text(encoding="utf-8"))["totals"]["suvmax"]
            except (ValueError, KeyError):
                return None
    return None


def _mask_picture(pair: Any) -> bytes:
    """The thumbnail of an evaluated pair (both masks were read once already, so they read again)."""
    truth = read_volume(pair.gt)
    prediction = read_volume(pair.pred) if pair.pred is not None else truth.with_array(0 * truth.array)
    return mask_thumbnail(prediction, truth)


def write_cohort_summary(path: Path, title: str, rows: list[CaseSummary]) -> Path:
    """Write the summary page atomically."""
    write_text_atomic(path, render_cohort_summary(title, rows))
    return path


def render_cohort_summary(title: str, rows: list[CaseSummary]) -> str:
    """The summary page as an HTML string (failed studies first, then in the given order)."""
    ordered = sorted(rows, key=lambda row: row.status == "ok")
    scored = [row.metrics for row in ordered if row.metrics]
    columns = ["MIP", "case", "status", "lesions", "TMTV (ml)", "SUVmax"]
    if scored:
        columns += ["Dice", "FPV (ml)", "FNV (ml)", "truth lesions found", "false-positive lesions"]
    cells = [[*_cells(row, bool(scored)), text(row.note)] for row in ordered]
    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    body = (f'<section><h2>{text(title)}</h2><div class="cards">{_cards(ordered, scored)}</div></section>'
            f'<section id="studies"><h2>Studies</h2>'
            f'{table([*columns, "notes"], cells, "No study.", (1, 2, len(columns)))}</section>')
    return page(f"petseg summary: {title}", f"Cohort summary: {title}", created, body)


def _cells(row: CaseSummary, scored: bool) -> list[str]:
    status = '<span class="found">ok</span>' if row.status == "ok" else '<span class="fp">failed</span>'
    thumb = picture(row.thumbnail, f"coronal MIP of {row.case}", "thumb") if row.thumbnail else ""
    cells = [thumb, text(row.case), status, number(row.lesions), number(row.tmtv_ml), number(row.suvmax)]
    if scored:
        m = row.metrics or {}
        found = f"{m['tp']} of {m['gt_lesions']}" if m else "n/a"
        cells += [number(m.get("dice"), 3), number(m.get("fpv_ml")), number(m.get("fnv_ml")), text(found),
                  number(m.get("fp"))]
    return cells


def _cards(rows: list[CaseSummary], scored: list[dict[str, Any]]) -> str:
    ok = [row for row in rows if row.status == "ok"]
    dices = [m["dice"] for m in scored if m.get("dice") is not None and not math.isnan(m["dice"])]
    cards = [(str(len(rows)), "studies"), (str(len(rows) - len(ok)), "failed"),
             (str(sum(row.lesions or 0 for row in ok)), "lesions in all")]
    if scored:
        cards.append((number(sum(dices) / len(dices), 3) if dices else "n/a", "mean Dice (defined cases)"))
    return "".join(f'<div class="card"><b>{value}</b><span>{text(label)}</span></div>' for value, label in cards)
