"""Atomic file writes: write to a temporary file beside the target, then rename.

A reader never sees a half-written file and a failed write leaves nothing behind. A write that fails
because of the disk or the folder (no space left, quota, read-only file system, no permission) is the
user's to fix: it becomes one `PetsegError` line naming the file and what to do.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from petseg.errors import PetsegError

# Multi-part suffixes that writers use to choose a format; the temp file must keep them.
_COMPOUND_SUFFIXES = (".nii.gz", ".tar.gz", ".seg.nrrd")

_SPACE = "free space or choose another -o"
_ACCESS = "choose a folder you can write to"
WRITE_FAULTS = {
    errno.ENOSPC: ("no space left on device", _SPACE),
    errno.EDQUOT: ("disk quota exceeded", _SPACE),
    errno.EFBIG: ("file too large for the file system", _SPACE),
    errno.EROFS: ("read-only file system", _ACCESS),
    errno.EACCES: ("permission denied", _ACCESS),
    errno.EPERM: ("operation not permitted", _ACCESS),
    errno.EIO: ("input/output error", "check the disk or choose another -o"),
}


def full_suffix(path: Path) -> str:
    """The format-defining suffix of `path`, e.g. '.nii.gz' or '.mha'."""
    name = path.name.lower()
    for suffix in _COMPOUND_SUFFIXES:
        if name.endswith(suffix):
            return path.name[-len(suffix):]
    return path.suffix


def write_fault(exc: OSError, target: str | os.PathLike[str]) -> PetsegError | None:
    """The one line for an OS fault while writing `target` (None when `exc` is not a disk/folder fault)."""
    if exc.errno not in WRITE_FAULTS:
        return None
    reason, advice = WRITE_FAULTS[exc.errno]
    if exc.strerror and exc.strerror != os.strerror(exc.errno):
        reason = exc.strerror  # petseg's own account of the fault
    return PetsegError(f"{reason} while writing {target}: {advice}")


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success rename it onto `target`.

    The temporary name keeps the target's suffix so that writers choosing a format by
    extension (SimpleITK, matplotlib) still choose the right one. On any exception the
    temporary file is removed and `target` is left untouched; disk and folder faults become
    a `PetsegError`.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{full_suffix(target)}",
                                        dir=target.parent)
    except OSError as exc:
        raise write_fault(exc, target) or exc from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        fault = write_fault(exc, target)
        if fault is None:
            raise
        raise fault from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """The process umask (read without changing it for longer than a call)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` with the plain system call (every Python-side write of petseg goes through it)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def write_bytes_atomic(target: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `target` atomically."""
    with atomic_path(target) as tmp:
        write_bytes(tmp, data)


def write_text_atomic(target: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `target` atomically (UTF-8)."""
    write_bytes_atomic(target, text.encode("utf-8"))


def write_json_atomic(target: str | os.PathLike[str], data: Any) -> None:
    """Write `data` as indented JSON to `target` atomically. NaN is written as null."""
    write_text_atomic(target, json.dumps(_nan_to_none(data), indent=2) + "\n")


def write_csv_atomic(target: str | os.PathLike[str], rows: list[dict[str, Any]],
                     columns: list[str] | None = None) -> None:
    """Write dict rows as CSV atomically; NaN becomes empty. Columns default to the first row's keys."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns or (list(rows[0]) if rows else []))
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if value is None else value for key, value in _nan_to_none(row).items()})
    write_text_atomic(target, text.getvalue())


def _nan_to_none(value: Any) -> Any:
    """Replace float NaN/inf by None recursively: JSON has no NaN."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {key: _nan_to_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(item) for item in value]
    return value
