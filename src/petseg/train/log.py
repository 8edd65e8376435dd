"""The training log: log.csv (one row per epoch), TensorBoard events when tensorboard is installed, and one
line per epoch on the console with steps, seconds and samples per second."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from petseg.console import debug, info

COLUMNS = ["epoch", "step", "lr", "train_loss", "skipped_steps", "seconds", "samples_per_s",
           "select_dice", "select_fpv_ml", "select_top_k_auroc", "val_dice", "val_fpv_ml", "val_top_k_auroc"]


class TrainingLog:
    """Appends epochs to `folder/log.csv` (and TensorBoard); `enabled` is False on every rank but 0."""

    def __init__(self, folder: Path, enabled: bool) -> None:
        self.path, self.enabled, self.writer = folder / "log.csv", enabled, None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(log_dir=str(folder / "tensorboard"))
            except ImportError:
                debug("tensorboard is not installed: logging to log.csv only")

    def write(self, row: dict[str, Any]) -> None:
        """One epoch's row: CSV, TensorBoard scalars, a console line."""
        if not self.enabled:
            return
        new = not self.path.exists()
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            out = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
            if new:
                out.writeheader()
            out.writerow({key: row.get(key, "") for key in COLUMNS})
        numbers = {k: v for k, v in row.items() if isinstance(v, float) and not math.isnan(v)}
        if self.writer is not None:
            for key, value in numbers.items():
                self.writer.add_scalar(key, value, row["step"])
        shown = ", ".join(f"{key} {value:.4g}" for key, value in numbers.items() if key != "lr")
        info(f"epoch {row['epoch']} (step {row['step']}): {shown}")

    def close(self) -> None:
        """Flush TensorBoard."""
        if self.writer is not None:
            self.writer.close()
