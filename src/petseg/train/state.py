"""The training state kept in the last checkpoint, and the best epoch chosen honestly: on the selection split
carved from the training folds, ties going to the later epoch (files: `petseg.models.checkpoints`)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

HIGHER_IS_BETTER = {"dice": True, "top_k_auroc": True, "fpv_ml": False}  # the metrics an epoch is chosen by


@dataclass
class Best:
    """The best validation value so far on the selection split (ties go to the later epoch)."""

    metric: str
    value: float | None = None
    epoch: int | None = None

    def improves(self, value: float) -> bool:
        """True when `value` is at least as good as the best so far (NaN never is)."""
        if math.isnan(value):
            return False
        if self.value is None:
            return True
        return value >= self.value if HIGHER_IS_BETTER[self.metric] else value <= self.value


@dataclass
class TrainState:
    """Where training is: epochs and steps done, steps skipped (non-finite loss), the best epoch."""

    epoch: int = 0
    step: int = 0
    skipped: int = 0
    best: Best = field(default_factory=lambda: Best("dice"))

    def as_dict(self) -> dict[str, Any]:
        """For checkpoints and model.json."""
        return asdict(self)

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> TrainState:
        """The state stored in a checkpoint."""
        return cls(int(saved["epoch"]), int(saved["step"]), int(saved["skipped"]), Best(**saved["best"]))
