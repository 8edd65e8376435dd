"""The output folder of `petseg predict`: shared by the shards of one run, never mixed between runs.

`predict` cannot stage its folder whole (shards on several machines write into one folder at once), so
each file is written atomically in place and the folder carries the `.petseg-output` marker naming the
run (models, cohort, number of shards, options). A shard owns its summary (`summary.csv` or
`summary-I-of-N.csv`) and the files its rows list (`<case>.nii.gz`, `<case>.lesions.json`,
`<case>.thumb.png`). A shard lists its studies as "pending" before the first; a study's row says "writing"
while its files are written, then "ok" or "failed". Another shard of the same run may join the folder; a rerun
of a shard, or a different run, needs `--overwrite`, which removes exactly the files the earlier summaries list
(and, for a shard, the joined `summary.csv`/`summary.html` of `petseg predict --join`, now out of date).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from petseg.errors import PetsegError
from petseg.io.outdir import MARKER, write_marker

COMMAND = "predict"
COLUMNS = ["case", "status", "seconds", "lesions", "tmtv_ml", "suvmax", "windows_run", "windows", "gate_probability",
           "mask", "error"]
JOINED = "summary.csv"


def check_case_name(case: str) -> None:
    """Refuse a case name that cannot name a file inside the output folder."""
    if not case or case.startswith(".") or "/" in case or "\\" in case:
        raise PetsegError(f"case name {case!r} cannot name a file in the output folder (no '/', no leading '.')")


def case_files(case: str) -> list[str]:
    """The files `predict` writes for one case."""
    check_case_name(case)
    return [f"{case}.nii.gz", f"{case}.lesions.json", f"{case}.thumb.png"]


def prepare_output(out: Path, run: dict[str, Any], summary: str, overwrite: bool) -> None:
    """Make `out` this run's: refuse a folder of someone else's files, and earlier results unless `overwrite`
    (then remove what they list); `summary` is this shard's summary file name."""
    if out.exists() and not out.is_dir():
        raise PetsegError(f"output {out} exists and is not a folder")
    record = read_marker(out)
    # Shards started together (torchrun ranks, array tasks) meet here: one may be writing the marker right now.
    entries = [p.name for p in out.iterdir() if not p.name.startswith(f".{MARKER}.")] if out.is_dir() else []
    if entries:
        if record is None or record.get("command") != COMMAND:
            names = sorted(entries)[:3]
            raise PetsegError(f"output folder {out} holds files `petseg predict` did not write "
                              f"({', '.join(names)}); choose an empty or new folder")
        same_run = record.get("run") == run
        earlier = [out / summary] if same_run else sorted(out.glob("summary*.csv"))
        earlier = [path for path in earlier if path.exists()]
        if earlier or not same_run:
            if not overwrite:
                what = f"this shard's results ({summary})" if same_run else "the results of another predict run"
                raise PetsegError(f"output folder {out} already holds {what}; choose another folder or add "
                                  "--overwrite (it replaces only the files predict wrote)")
            for path in earlier:
                _remove_listed(out, path)
            if same_run and summary != JOINED:  # the shards' joined summary no longer holds
                for path in (out / JOINED, (out / JOINED).with_suffix(".html")):
                    path.unlink(missing_ok=True)
    if record is None or record.get("run") != run:
        write_marker(out, [], command=COMMAND, run=run)


def read_marker(out: Path) -> dict[str, Any] | None:
    """The marker of a predict output folder (None where there is none or it cannot be read)."""
    try:
        record = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _remove_listed(out: Path, summary: Path) -> None:
    """Remove a summary (and its page) and the case files its rows say were written."""
    with summary.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        if row.get("status") in ("ok", "writing"):
            for name in case_files(row.get("case") or ""):
                (out / name).unlink(missing_ok=True)
    summary.with_suffix(".html").unlink(missing_ok=True)
    summary.unlink()
