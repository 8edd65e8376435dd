"""Output folders that never mix the results of two runs, never hold half a run, and never lose a user's file.

A run writes into a hidden staging folder beside the target and moves its files into place only when
every output is written; a failure removes the staging folder and leaves any earlier results as they
were. The `.petseg-output` marker lists the files petseg wrote: `--overwrite` replaces those and keeps
anything else the user put into the folder. A staging folder left behind by a killed run is removed by
the next run into the same parent (its name records the host and process that made it).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from petseg import __version__
from petseg.errors import PetsegError
from petseg.io.atomic import current_umask, write_json_atomic

MARKER = ".petseg-output"
FOREIGN_STAGING_AGE_S = 24 * 3600  # a staging folder of another host is left alone for a day
_STAGING = re.compile(r"^\..+\.staging-([0-9a-f]{8})-(\d+)-")


def check_output_dir(path: str | Path, overwrite: bool) -> Path:
    """Refuse an output folder that holds results unless `overwrite`; always refuse one petseg did not write."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise PetsegError(f"output {path} exists and is not a folder")
    if not path.is_dir() or not any(path.iterdir()):
        return path
    written = petseg_files(path)
    if written is None and (path / MARKER).exists():
        raise PetsegError(f"output folder {path} was written by an older petseg that did not list its files; "
                          "empty it or choose another folder")
    if written is None:
        names = sorted(p.name for p in path.iterdir())
        more = f" and {len(names) - 3} more" if len(names) > 3 else ""
        raise PetsegError(f"output folder {path} holds files petseg did not write ({', '.join(names[:3])}{more}); "
                          "choose an empty or new folder")
    if not overwrite:
        raise PetsegError(f"output folder {path} already holds petseg results; choose another folder or add "
                          "--overwrite (it replaces only the files petseg wrote)")
    return path


def petseg_files(folder: Path) -> list[str] | None:
    """The files (relative paths) the marker of `folder` says petseg wrote; None without a readable marker."""
    try:
        record = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = record.get("files") if isinstance(record, dict) else None
    return [str(f) for f in files] if isinstance(files, list) else None


def write_marker(folder: Path, files: list[str], **fields: Any) -> None:
    """Record (atomically) that petseg wrote `files` into `folder`."""
    write_json_atomic(folder / MARKER, {"written_by": "petseg", "version": __version__, **fields,
                                        "files": sorted(set(files))})


def remove_written(folder: Path, files: list[str]) -> None:
    """Remove the listed files of `folder` and the folders they leave empty; nothing else."""
    for name in sorted(set(files), key=lambda f: -f.count("/")):
        target = folder / name
        if target.is_dir() and not target.is_symlink():
            continue
        target.unlink(missing_ok=True)
        for parent in target.parents:
            if parent == folder or any(parent.iterdir()):
                break
            parent.rmdir()


@contextmanager
def staged_output_dir(path: str | Path, overwrite: bool) -> Iterator[Path]:
    """Yield a staging folder; on success its files replace petseg's files in `path` (checked first with
    `check_output_dir`)."""
    path = check_output_dir(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(path.parent)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.staging-{host_tag()}-{os.getpid()}-", dir=path.parent))
    staging.chmod(0o777 & ~current_umask())
    try:
        yield staging
        _move_into_place(staging, check_output_dir(path, overwrite))  # as it is now, after the work
    except PetsegError as exc:  # name the file as the user will know it, not its staging copy
        raise PetsegError(str(exc).replace(str(staging), str(path))) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move_into_place(staging: Path, path: Path) -> None:
    """The staged files become `path`'s: the whole folder when it holds only petseg's files, else file by file."""
    files = [p.relative_to(staging).as_posix() for p in sorted(staging.rglob("*")) if not p.is_dir()]
    old = petseg_files(path) if path.is_dir() else None
    kept = _user_files(path, old or [])
    if not kept:  # nothing of the user's: swap the folders
        write_marker(staging, files)
        trash = staging.with_name(staging.name + "-old")
        if path.exists():
            path.rename(trash)
        staging.rename(path)
        shutil.rmtree(trash, ignore_errors=True)
        return
    write_marker(path, [*(old or []), *files], state="replacing")  # a kill from here on leaves a listed mix
    remove_written(path, [f for f in old or [] if f not in files])
    for name in files:
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / name, path / name)
    write_marker(path, files)


def _user_files(path: Path, written: list[str]) -> list[str]:
    """Files under `path` that petseg did not write."""
    if not path.is_dir():
        return []
    ours = {*written, MARKER}
    return [p.relative_to(path).as_posix() for p in path.rglob("*")
            if not p.is_dir() and p.relative_to(path).as_posix() not in ours]


def host_tag() -> str:
    """A short tag of this host (staging folder names record it)."""
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def remove_stale_staging(parent: Path) -> None:
    """Remove the staging folders in `parent` whose process is gone (this host) or that are a day old (others)."""
    for entry in parent.iterdir() if parent.is_dir() else []:
        match = _STAGING.match(entry.name)
        if match is None or not entry.is_dir():
            continue
        if _stale(match.group(1), int(match.group(2)), entry):
            shutil.rmtree(entry, ignore_errors=True)


def _stale(host: str, pid: int, folder: Path) -> bool:
    """A staging folder of this host whose process is gone, or of another host and a day old."""
    if host == host_tag():
        return not _alive(pid)
    return time.time() - folder.stat().st_mtime > FOREIGN_STAGING_AGE_S


def _alive(pid: int) -> bool:
    """True when a process with this id runs on this host."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
