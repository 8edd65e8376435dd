"""Two-stage cascades (seed 003): the stage-1 models run first; their mask, at the stage-1 ensemble's own
threshold and post-processing, is an input channel of the stage-2 models."""

from __future__ import annotations

from dataclasses import dataclass

from petseg.errors import PetsegError
from petseg.infer.models import ModelFolder


@dataclass(frozen=True)
class Stages:
    """The segmentation models by cascade stage (`second` empty without a cascade)."""

    first: list[ModelFolder]
    second: list[ModelFolder]

    @classmethod
    def of(cls, models: list[ModelFolder]) -> Stages:
        """Sort models into stages: a model whose recipe takes the `stage1` input is a second stage."""
        first = [m for m in models if m.stage == 1]
        second = [m for m in models if m.stage == 2]
        if second and not first:
            raise PetsegError("a cascade's stage-2 model needs the stage-1 model folders too")
        return cls(first, second)

    @property
    def final(self) -> list[ModelFolder]:
        """The models whose probability is the ensemble's answer."""
        return self.second or self.first
