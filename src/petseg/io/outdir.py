"""Output folders that never mix the results of two runs."""

from __future__ import annotations

import shutil
from pathlib import Path

from petseg.errors import PetsegError

MARKER = ".petseg-output"


def prepare_output_dir(path: str | Path, overwrite: bool) -> Path:
    """Create `path` for a new run's results.

    An existing non-empty folder is refused unless `overwrite`; even then it is only emptied when it
    carries petseg's marker file, so a mistyped `-o` can never delete a user's own folder.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise PetsegError(f"output {path} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()):
        if not overwrite:
            raise PetsegError(f"output folder {path} already holds results; choose another folder or add --overwrite")
        if not (path / MARKER).exists():
            raise PetsegError(f"output folder {path} is not empty and was not written by petseg; refusing to "
                              "overwrite it")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text("written by petseg; --overwrite may empty this folder\n", encoding="utf-8")
    return path
