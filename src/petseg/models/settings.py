"""Every inference setting, decided once per model: what the user asked (`InferenceOptions`) resolved against
a model's recipe and the study's tracer into concrete `WindowSettings`.

Defaults, each in one place: ROI = the recipe's `inference.roi_size`, else its training patch; overlap = the
command line's, else the recipe's `inference.overlap` (its default in `petseg.recipe.sections`); gate SUV = the
command line's, else the ensemble's calibrated gate (`petseg calibrate`) up to the tracer's ceiling, else the
tracer's (`petseg.tracers`); precision = `petseg.device.precision` (fp16 on GPUs for recipes with `training.amp`,
the rule training uses too; bfloat16 with channels-last on CPUs that have it natively unless float32 is asked
for); engine = OpenVINO on CPUs where it is installed (`petseg[cpu-fast]`) for networks that are not tiny, else
PyTorch (`engine_for`). Training validation resolves the same settings (no flips, no gate, PyTorch). Below both
`train` and `infer`. The options and the gate are plain values: torch loads only when a model's settings are
resolved (`resolve`), so the command line reads `--tta`, `--overlap`, ... without it.
"""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from petseg.console import progress_visible
from petseg.errors import PetsegError
from petseg.recipe import Recipe
from petseg.tracers import Tracer

if TYPE_CHECKING:
    import torch

DEFAULT_BATCH = 2  # windows per network pass
GATE_CANDIDATES = tuple(float(g) for g in np.round(np.arange(0.5, 10.01, 0.25), 2))  # SUV, for `petseg calibrate`
ENSEMBLES = ("mean", "vote")
ENGINES = ("auto", "torch", "openvino")  # auto: OpenVINO on CPUs where installed, else PyTorch
# Below this many parameters `auto` keeps PyTorch: the 0.15 M tiny UNet's 96^3 window is faster in PyTorch (bf16 +
# channels-last) than on OpenVINO, whose first inference also costs a start-up; the seed networks (15-87 M) run
# 1.6-6.9x faster on OpenVINO (docs/benchmarks.md, issue 24).
OPENVINO_MIN_PARAMETERS = 1_000_000

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
    engine: str = "torch"  # "torch" or "openvino" (see `engine_for`)
    gate_core: bool = True  # a window runs when its core holds an active voxel (else: anywhere in it)


def openvino_installed() -> bool:
    """True when OpenVINO can be imported (the `cpu-fast` extra)."""
    return importlib.util.find_spec("openvino") is not None


def engine_for(asked: str, device: torch.device, parameters: int | None = None) -> str:
    """The engine a model's windows run on: `asked`, where auto is OpenVINO on CPUs where it is installed for
    networks of at least `OPENVINO_MIN_PARAMETERS` (None: not known, taken as large), else PyTorch."""
    if asked not in ENGINES:
        raise PetsegError(f"engine is {', '.join(ENGINES)}, got {asked!r}")
    if asked == "openvino":
        if device.type != "cpu":
            raise PetsegError("the OpenVINO engine runs on the CPU; choose the CPU device or the torch engine")
        if not openvino_installed():
            raise PetsegError("the OpenVINO engine needs OpenVINO: pip install 'petseg[cpu-fast]'")
        return "openvino"
    large = parameters is None or parameters >= OPENVINO_MIN_PARAMETERS
    return "openvino" if asked == "auto" and device.type == "cpu" and large and openvino_installed() else "torch"


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
    anatomy: bool | None = None  # remove learned components in recognised physiology; None: as calibrated
    suv_outline: bool | None = None  # the SUV method's outlines the model confirms; None: as calibrated
    engine: str = "auto"  # see `engine_for`
    gate_core: bool | None = None  # windows gated on their cores, else whole windows; None: `window_gate_core`

    def __post_init__(self) -> None:
        if self.ensemble not in ENSEMBLES:
            raise PetsegError(f"--ensemble is {' or '.join(ENSEMBLES)}, got {self.ensemble!r}")
        if self.batch_size < 1:
            raise PetsegError(f"--batch must be at least 1, got {self.batch_size}")
        if self.overlap is not None and not 0.0 <= self.overlap < 1.0:
            raise PetsegError(f"--overlap is a fraction in [0, 1), got {self.overlap}")
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise PetsegError(f"--threshold is a probability in (0, 1), got {self.threshold}")
        if self.engine not in ENGINES:
            raise PetsegError(f"engine is {', '.join(ENGINES)}, got {self.engine!r}")

    def resolve(self, recipe: Recipe, device: torch.device, gate_suv: float, parameters: int | None = None
                ) -> WindowSettings:
        """The concrete settings of one model (its recipe, its network's `parameters`) run on `device` with the
        window gate `gate_suv` (the ensemble's, for the study: `window_gate`)."""
        import torch

        from petseg.device import precision

        overlap = self.overlap if self.overlap is not None else recipe.inference.overlap
        dtype = precision(device, recipe.training.amp, self.bf16)
        return WindowSettings(recipe.roi_zyx, overlap, gate_suv, tuple(tuple(f) for f in self.flips), dtype,
                              dtype is torch.bfloat16 and device.type == "cpu", self.batch_size,
                              self.progress and progress_visible(), engine_for(self.engine, device, parameters),
                              self.gate_core is not False)

    def for_validation(self) -> InferenceOptions:
        """The options of validation during training: the same windows, one pass (every window is run: resolve
        with gate 0)."""
        return replace(self, flips=((),), gate_suv=0.0, progress=False, engine="torch")


def window_gate(asked: float | None, calibrated: float | None, tracer: Tracer, suv_floor: float | None = None
                ) -> float:
    """The window gate SUV of a study: the one asked for (<= 0: none), else the ensemble's calibrated one up to the
    tracer's ceiling, else the tracer's default; either up to the post-processing's `suv_floor` when it has one.

    Under the floor, every voxel the post-processing can keep lies in the core of a window that runs: a gate above
    it would leave a lesion's low-uptake rim (SUV between the floor and the gate) to the probability of the
    neighbouring windows only, where the network of a skipped window may well have called it lesion."""
    if asked is not None:
        return max(float(asked), 0.0)
    gate = float(tracer.gate_suv if calibrated is None else min(calibrated, tracer.gate_ceiling_suv))
    return gate if suv_floor is None else min(gate, float(suv_floor))


def window_gate_core(options: InferenceOptions, calibrated: float | None, calibrated_core: bool, default: bool
                     ) -> bool:
    """Whether windows are gated on their cores: as asked (`--gate-region`), else as calibrated when the calibrated
    gate is used (`--gate-suv` not given), else the predictor's `default`."""
    if options.gate_core is not None:
        return options.gate_core
    if options.gate_suv is None and calibrated is not None:
        return calibrated_core
    return default


def core_or_window(safe: dict[bool, float], ceiling: float) -> tuple[bool, float]:
    """(core, gate) from the safe gates on windows' cores (`safe[True]`) and on whole windows (`safe[False]`): the
    core, unless whole windows are safe at a higher gate up to the tracer's `ceiling` (the core gate runs fewer
    windows at one gate, but may keep the masks only at a lower one: a skipped window's periphery may reach a mask)."""
    core = min(safe[True], ceiling) >= min(safe[False], ceiling)
    return core, safe[core]


def highest_safe_gate(safe: Callable[[float], bool], up_to: float | None = None) -> float:
    """The highest of `GATE_CANDIDATES` (those up to `up_to`, where a check is costly and higher gates are never
    used) that is `safe` (a higher gate runs fewer windows, so safety only falls as the gate rises: binary search);
    0 when even the lowest is not. `petseg calibrate` asks this of MONAI's windows and of nnU-Net's alike."""
    candidates = [g for g in GATE_CANDIDATES if up_to is None or g <= up_to]
    low, high = -1, len(candidates) - 1  # invariant: the candidates up to `low` are safe
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if safe(candidates[middle]) else (low, middle - 1)
    return candidates[low] if low >= 0 else 0.0
