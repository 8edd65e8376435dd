"""A network traced at its window precision and cached in its model folder, for windows that run in PyTorch on a
CPU.

Loading the traced network needs torch alone (0.03 s): a `petseg predict` process whose model was traced before
neither imports MONAI nor builds the network (docs/benchmarks.md). It is traced under the settings' autocast, so
the casts autocast makes are in the graph and it runs without autocast: the same ATen kernels as the eager
network under autocast, outputs equal (checked once after tracing, on two windows, and in tests), for any number
of windows per batch and either memory layout. TorchScript is deprecated in torch in favour of `torch.export`,
whose loader imports torch's compiler stack (1.5 s, as much as MONAI); a network that cannot be traced, or whose
trace does not answer as the network, runs eagerly. Kept beside OpenVINO's conversions in `.petseg-cache/` under a
key of the weights' SHA-256, the input shape, the precision and the torch version; the traces of other weights
are removed; a folder that cannot be written traces for the run only.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from petseg.console import debug, info
from petseg.errors import PetsegError
from petseg.io.atomic import atomic_path
from petseg.io.digest import file_sha256
from petseg.models.engines import CACHE
from petseg.models.settings import WindowSettings
from petseg.models.windows import WindowPredictor, network_predictor

PREFIX = "torchscript-"


def trace_key(weights: Path, channels: int, settings: WindowSettings) -> str:
    """The trace's file name: weights, input shape, precision and torch version."""
    shape = "x".join(str(s) for s in (channels, *settings.roi_zyx))
    precision = str(settings.dtype or torch.float32).removeprefix("torch.")
    return f"{PREFIX}{file_sha256(weights)[:20]}-{shape}-{precision}-{torch.__version__.split('+')[0]}.pt"


def traced_predictor(build: Callable[[], nn.Module], weights: Path, channels: int, settings: WindowSettings
                     ) -> WindowPredictor:
    """(B, C, *roi) -> lesion probability for the network `build()` makes (weights from `weights`): its cached
    trace (the network is not built), else traced now and cached, else the eager network under autocast."""
    folder = weights.parent / CACHE
    path = folder / trace_key(weights, channels, settings)
    baked = replace(settings, dtype=None)  # the trace holds the precision's casts
    if path.is_file():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                traced = torch.jit.load(str(path), map_location="cpu")
            debug(f"traced network from the cache: {path}")
            return network_predictor(traced, baked)
        except (RuntimeError, ValueError, OSError) as error:  # written by another torch build, or damaged
            debug(f"cached traced network unreadable ({error}); tracing again")
    network = build()
    if settings.channels_last:
        network = network.to(memory_format=torch.channels_last_3d)
    traced = trace(network, channels, settings)
    if traced is None:
        return network_predictor(network, settings)
    try:
        store(traced, folder, path.name)
    except (OSError, PetsegError) as error:  # a read-only or full folder: atomic_path says which
        info(f"the traced network is not cached ({folder}: {getattr(error, 'strerror', None) or error}); "
              "traced for this run")
    return network_predictor(traced, baked)


def trace(network: nn.Module, channels: int, settings: WindowSettings) -> torch.jit.ScriptModule | None:
    """`network` traced on one window under the settings' autocast; None when tracing fails or the trace does not
    answer two other windows as the network does."""
    autocast = {"device_type": "cpu", "dtype": settings.dtype or torch.float32, "enabled": settings.dtype is not None}
    example = torch.rand(1, channels, *settings.roi_zyx, generator=torch.Generator().manual_seed(0))
    check = torch.rand(2, channels, *settings.roi_zyx, generator=torch.Generator().manual_seed(1))
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # torch's deprecation notice, and tracer notes the check below judges
            with torch.autocast(**autocast):
                traced = torch.jit.trace(network, example, check_trace=False)
                expected = network(check)
            answered = traced(check)
    except Exception as error:  # any network the tracer cannot follow runs eagerly
        debug(f"the network cannot be traced ({type(error).__name__}: {error}); running it eagerly")
        return None
    if not all(torch.equal(a, b) for a, b in zip(_tensors(answered), _tensors(expected), strict=True)):
        debug("the traced network does not answer as the network; running it eagerly")
        return None
    return traced


def _tensors(output: Any) -> list[torch.Tensor]:
    return list(output) if isinstance(output, list | tuple) else [output]


def store(traced: torch.jit.ScriptModule, folder: Path, name: str) -> None:
    """Save `traced` as `folder/name` atomically, removing the traces of other weights."""
    with atomic_path(folder / name) as staging, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(traced, str(staging))
    weights = name[len(PREFIX):].split("-")[0]
    for stale in folder.glob(f"{PREFIX}*"):
        if not stale.name.startswith(f"{PREFIX}{weights}-"):
            stale.unlink(missing_ok=True)
