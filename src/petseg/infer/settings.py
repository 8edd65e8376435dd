"""Every inference setting, decided once per model: what the user asked (`InferenceOptions`) resolved against
a model's recipe and the study's tracer into concrete `WindowSettings`.

Defaults, each in one place: ROI = the recipe's `inference.roi_size`, else its training patch; overlap = the
command line's, else the recipe's `inference.overlap`, else `DEFAULT_OVERLAP`; gate SUV = the command line's,
else the ensemble's calibrated gate (`petseg calibrate`) up to the tracer's ceiling, else the tracer's
(`petseg.tracers`); precision = fp16 AMP on GPUs for recipes trained with AMP, bfloat16 (channels-last) on CPUs
that have it natively unless float32 is asked for. Training validation resolves the same settings (no flips, no gate).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from petseg.console import debug, progress_visible
from petseg.device import cpu_supports_bf16
from petseg.errors import PetsegError
from petseg.tracers import tracer_named
from petseg.train.recipe import zyx

DEFAULT_OVERLAP = 0.5  # nnU-Net's and MONAI Auto3DSeg's default, for recipes that do not say
DEFAULT_BATCH = 2  # windows per network pass
ENSEMBLES = ("mean", "vote")

Flips = tuple[tuple[int, ...], ...]


def flip_sets(axes: Sequence[int]) -> Flips:
    """All combinations of flips over `axes` (nnU-Net's mirroring): 2^len(axes) passes, identity first."""
    chosen = sorted({int(a) for a in axes})
    if any(a not in (0, 1, 2) for a in chosen):
        raise PetsegError(f"flip axes are 0 (z), 1 (y) and 2 (x), got {chosen}")
    return tuple(combo for n in range(len(chosen) + 1) for combo in itertools.combinations(chosen, n))


@dataclass(frozen=True)
class WindowSettings:
    """How one model's sliding window runs: all values concrete."""

    roi_zyx: tuple[int, int, int]
    overlap: float
    gate_suv: float  # 0: every window runs (MONAI's result exactly)
    flips: Flips
    dtype: torch.dtype | None  # autocast precision; None: float32
    channels_last: bool  # channels-last-3d memory order (pays off with bfloat16 on CPUs)
    batch_size: int
    progress: bool


@dataclass(frozen=True)
class InferenceOptions:
    """What the user asked for; None means "decide per model" (see the module docstring)."""

    device: str = "auto"
    overlap: float | None = None
    batch_size: int = DEFAULT_BATCH
    flips: Flips = ((),)  # each entry: array axes (0 z, 1 y, 2 x) flipped together
    ensemble: str = "mean"  # or "vote"
    gate_suv: float | None = None  # <= 0: no window skipping
    bf16: bool | None = None  # CPU bfloat16 autocast: None where the CPU has it natively, False never
    threshold: float | None = None  # None: the calibration's, else the models'
    progress: bool = True
    threads: int | None = None  # CPU threads for torch; None: the CPUs this process may use

    def __post_init__(self) -> None:
        if self.ensemble not in ENSEMBLES:
            raise PetsegError(f"--ensemble is {' or '.join(ENSEMBLES)}, got {self.ensemble!r}")
        if self.batch_size < 1:
            raise PetsegError(f"--batch must be at least 1, got {self.batch_size}")
        if self.overlap is not None and not 0.0 <= self.overlap < 1.0:
            raise PetsegError(f"--overlap is a fraction in [0, 1), got {self.overlap}")
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise PetsegError(f"--threshold is a probability in (0, 1), got {self.threshold}")

    def resolve(self, recipe: dict[str, Any], tracer: str, device: torch.device,
                calibrated_gate: float | None = None) -> WindowSettings:
        """The concrete settings of one model (its recipe) on a study of `tracer`, run on `device`;
        `calibrated_gate` is the ensemble's gate SUV chosen on held-out studies, if any."""
        inference = recipe.get("inference") or {}
        roi = zyx(inference.get("roi_size") or recipe["training"]["patch_size"])
        overlap = self.overlap if self.overlap is not None else float(inference.get("overlap", DEFAULT_OVERLAP))
        gate = window_gate(self.gate_suv, calibrated_gate, tracer)
        dtype = precision(device, bool((recipe.get("training") or {}).get("amp", True)), self.bf16)
        return WindowSettings(roi, overlap, gate, tuple(tuple(f) for f in self.flips), dtype,
                              dtype is torch.bfloat16 and device.type == "cpu", self.batch_size,
                              self.progress and progress_visible())

    def for_validation(self) -> InferenceOptions:
        """The options of validation during training: the same windows, one pass, every window run."""
        return replace(self, flips=((),), gate_suv=0.0, progress=False)


def window_gate(asked: float | None, calibrated: float | None, tracer: str) -> float:
    """The window gate SUV: the one asked for (<= 0: none), else the calibrated one up to the tracer's ceiling,
    else the tracer's default."""
    known = tracer_named(tracer)
    if asked is not None:
        return max(float(asked), 0.0)
    return float(known.gate_suv if calibrated is None else min(calibrated, known.gate_ceiling_suv))


def precision(device: torch.device, trained_with_amp: bool, bf16: bool | None) -> torch.dtype | None:
    """fp16 on GPUs for models trained with AMP; on CPUs bfloat16 where native (unless `bf16` is False);
    else float32."""
    if device.type == "cuda":
        return torch.float16 if trained_with_amp else None
    if bf16 is False:
        return None
    if cpu_supports_bf16():
        return torch.bfloat16
    if bf16:
        debug("this CPU has no native bfloat16: inference in float32")
    return None
