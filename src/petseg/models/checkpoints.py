"""Checkpoint files: written atomically, read weights-only (no code runs), a foreign or truncated file refused
in one line. Shared by training (which writes them) and inference (which reads them).

Files of a model folder: `checkpoint_last.pt` (everything needed to resume: model, optimiser, scheduler, scaler,
RNG, state), `checkpoint_final.pt` (the weights at the end of training) and, for recipes that select a checkpoint
(`training.checkpoint: best`), `checkpoint_best.pt` (the weights of the best epoch on the selection split).
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from petseg.errors import PetsegError
from petseg.io.atomic import atomic_path

LAST, FINAL, BEST = "checkpoint_last.pt", "checkpoint_final.pt", "checkpoint_best.pt"


def save_checkpoint(content: dict[str, Any], path: Path) -> None:
    """torch.save to a temporary file, then rename: a kill never leaves a truncated checkpoint. Written through a
    Python file, so a full disk is an OSError (one line from `atomic_path`), not torch's RuntimeError."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save(content, handle)


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A petseg checkpoint, loaded weights-only (no code runs); one clear line for anything else."""
    if not path.is_file():
        raise PetsegError(f"checkpoint {path} does not exist")
    try:
        content = torch.load(path, map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise PetsegError(f"{path} is not a petseg checkpoint, or it is truncated ({reason[:160]}); "
                          "train again or restore the file") from None
    if not isinstance(content, dict) or "model" not in content:
        raise PetsegError(f"{path} is not a petseg checkpoint (no model weights in it)")
    return content
