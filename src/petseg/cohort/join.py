"""`petseg predict --join OUT`: the shards of one run, each with its `summary-I-of-N.csv` in the shared folder,
joined into the cohort's `summary.csv` and `summary.html` (rows in the cohort's order, thumbnails and numbers read
from each study's `<case>.thumb.png` and `<case>.lesions.json`). It refuses while a shard has not written its
summary or still lists studies as "pending" or "writing" (running, or stopped before the end), naming them."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

from petseg.cohort.output import COLUMNS, COMMAND, JOINED, read_marker
from petseg.cohort.shards import summary_name
from petseg.errors import PetsegError
from petseg.io.atomic import write_csv_atomic
from petseg.report.summary import CaseSummary, write_cohort_summary

UNFINISHED = ("pending", "writing")


def join_shards(out: Path) -> tuple[list[dict[str, Any]], Path]:
    """Write OUT/summary.csv and OUT/summary.html from the shards' summaries; return the rows and the CSV path."""
    record = read_marker(out)
    if record is None or record.get("command") != COMMAND:
        raise PetsegError(f"{out} is not an output folder of `petseg predict` (no {COMMAND} marker)")
    count = int(record.get("run", {}).get("shards", 1))
    names = [summary_name((index, count)) for index in range(1, count + 1)]
    if count == 1 and (out / JOINED).is_file() and not (out / names[0]).is_file():
        raise PetsegError(f"{out} holds an unsharded run: {out / JOINED} is already the whole cohort's summary")
    missing = [f"{index} ({name})" for index, name in enumerate(names, 1) if not (out / name).is_file()]
    if missing:
        raise PetsegError(f"cannot join {out}: shard(s) {', '.join(missing)} of {count} have no summary yet "
                          "(not started, or stopped before their first study)")
    shards = [_read_rows(out / name) for name in names]
    unfinished = []
    for index, shard_rows in enumerate(shards, 1):
        left = [row for row in shard_rows if row["status"] in UNFINISHED]
        if left:
            unfinished.append(f"{index} of {count} ({len(left)} not done: {_cases(left)})")
    if unfinished:
        raise PetsegError(f"cannot join {out}: shard {'; shard '.join(unfinished)} is still running or was stopped; "
                          "wait for it, or rerun that shard with --overwrite")
    rows = _interleave(shards)
    twice = sorted(case for case, times in Counter(row["case"] for row in rows).items() if times > 1)
    if twice:
        raise PetsegError(f"cannot join {out}: {_cases([{'case': c} for c in twice])} appear(s) in two shards")
    summary = out / JOINED
    write_csv_atomic(summary, rows, COLUMNS)
    write_cohort_summary(summary.with_suffix(".html"), f"petseg predict: {out.resolve().name} ({count} shards)",
                         [_page(out, row) for row in rows])
    return rows, summary


def _read_rows(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _cases(rows: list[dict[str, Any]]) -> str:
    shown = ", ".join(str(row["case"]) for row in rows[:3])
    return shown + (", ..." if len(rows) > 3 else "")


def _interleave(shards: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The rows in the cohort's order: shard I holds studies I, I+N, I+2N, ... (see `shards.shard`)."""
    longest = max((len(rows) for rows in shards), default=0)
    return [rows[k] for k in range(longest) for rows in shards if k < len(rows)]


def _page(out: Path, row: dict[str, Any]) -> CaseSummary:
    """A study's row of the joined page, from its lesions.json and thumbnail (a failed study: its error)."""
    case = row["case"]
    if row["status"] != "ok":
        return CaseSummary(case, "failed", note=row.get("error") or "")
    try:
        document = json.loads((out / f"{case}.lesions.json").read_text(encoding="utf-8"))
        totals = document["totals"]
    except (OSError, ValueError, KeyError) as error:
        raise PetsegError(f"cannot join {out}: {case}.lesions.json of a finished study cannot be read "
                          f"({error})") from None
    thumb = out / f"{case}.thumb.png"
    return CaseSummary(case, "ok", int(totals["lesion_count"]), float(totals["tmtv_ml"]), totals["suvmax"],
                       document.get("metrics"), thumb.read_bytes() if thumb.is_file() else None,
                       "; ".join(document.get("warnings", [])))
