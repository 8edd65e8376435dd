"""Atomic file writes: write to a temporary file beside the target, then rename.

A reader never sees a half-written file and a failed write leaves nothing behind.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Multi-part suffixes that writers use to choose a format; the temp file must keep them.
_COMPOUND_SUFFIXES = (".nii.gz", ".tar.gz", ".seg.nrrd")


def full_suffix(path: Path) -> str:
    """The format-defining suffix of `path`, e.g. '.nii.gz' or '.mha'."""
    name = path.name.lower()
    for suffix in _COMPOUND_SUFFIXES:
        if name.endswith(suffix):
            return path.name[-len(suffix):]
    return path.suffix


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success rename it onto `target`.

    The temporary name keeps the target's suffix so that writers choosing a format by
    extension (SimpleITK, matplotlib) still choose the right one. On any exception the
    temporary file is removed and `target` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{full_suffix(target)}",
                                    dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """The process umask (read without changing it for longer than a call)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(target: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `target` atomically (UTF-8)."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(target: str | os.PathLike[str], data: Any) -> None:
    """Write `data` as indented JSON to `target` atomically. NaN is written as null."""
    write_text_atomic(target, json.dumps(_nan_to_none(data), indent=2) + "\n")


def write_csv_atomic(target: str | os.PathLike[str], rows: list[dict[str, Any]],
                     columns: list[str] | None = None) -> None:
    """Write dict rows as CSV atomically; NaN becomes empty. Columns default to the first row's keys."""
    with atomic_path(target) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns or (list(rows[0]) if rows else []))
        writer.writeheader()
        for row in rows:
            writer.writerow({key: "" if value is None else value for key, value in _nan_to_none(row).items()})


def _nan_to_none(value: Any) -> Any:
    """Replace float NaN/inf by None recursively: JSON has no NaN."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {key: _nan_to_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(item) for item in value]
    return value
