"""A stand-in for a trained ensemble, for tests of what surrounds the networks (cohorts, summaries, tracers)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np


class ThresholdEnsemble:
    """Everything above `suv` is lesion; `seen` records the tracer of each study it was given."""

    def __init__(self, suv: float = 4.0) -> None:
        self.suv, self.seen = suv, []

    def predict(self, study):
        self.seen.append(study.tracer.name)
        return SimpleNamespace(mask=study.suv.with_array((study.suv.array > self.suv).astype(np.uint8)), seconds=0.01)

    def describe(self, prediction):
        return {"name": "model", "windows": {"run": 1, "windows": 1}}
