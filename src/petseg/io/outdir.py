"""Output folders that never mix the results of two runs, and never hold half a run.

A run writes into a hidden staging folder beside the target and renames it into place only when
every output is written; a failure removes the staging folder and leaves any earlier results as
they were.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from petseg.errors import PetsegError
from petseg.io.atomic import current_umask

MARKER = ".petseg-output"


def check_output_dir(path: str | Path, overwrite: bool) -> Path:
    """Refuse an output folder that holds results, unless `overwrite` and petseg wrote them."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise PetsegError(f"output {path} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()):
        if not overwrite:
            raise PetsegError(f"output folder {path} already holds results; choose another folder or add --overwrite")
        if not (path / MARKER).exists():
            raise PetsegError(f"output folder {path} is not empty and was not written by petseg; refusing to "
                              "overwrite it")
    return path


@contextmanager
def staged_output_dir(path: str | Path, overwrite: bool) -> Iterator[Path]:
    """Yield a staging folder; on success it replaces `path` (checked first with `check_output_dir`)."""
    path = check_output_dir(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.staging-", dir=path.parent))
    staging.chmod(0o777 & ~current_umask())
    try:
        (staging / MARKER).write_text("written by petseg; --overwrite may replace this folder\n", encoding="utf-8")
        yield staging
        if path.exists():
            shutil.rmtree(path)
        staging.rename(path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
