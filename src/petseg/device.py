"""Where networks run: device choice and what the CPU supports (shared by training and inference)."""

from __future__ import annotations

import os
from pathlib import Path

import SimpleITK as sitk
import torch

from petseg.console import info
from petseg.errors import PetsegError


def pick_device(choice: str = "auto", rank: int = 0) -> torch.device:
    """cpu, cuda, or the GPU when there is one (auto); under torchrun, the rank's own GPU (LOCAL_RANK)."""
    if choice not in ("auto", "cpu", "cuda"):
        raise PetsegError(f"--device is auto, cpu or cuda, got {choice!r}")
    if choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise PetsegError("--device cuda asked for, but PyTorch sees no GPU")
    index = int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count()
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def cpu_supports_bf16() -> bool:
    """True when the CPU has native bfloat16 (avx512_bf16 or amx) so bf16 autocast pays off."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. a container's or taskset's share)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # platforms without sched_getaffinity
        return max(os.cpu_count() or 1, 1)


def ranks_on_this_machine(default: int = 1) -> int:
    """The processes that share this machine's CPUs: torchrun's LOCAL_WORLD_SIZE, else `default`."""
    return max(int(os.environ.get("LOCAL_WORLD_SIZE", default)), 1)


def use_threads(threads: int | None = None, processes: int = 1) -> int:
    """Set torch's intra-op threads and SimpleITK's (resampling): `threads`, else this process's share of the CPUs
    it may use (`processes` ranks on one machine share them). Returns the number set."""
    if threads is not None and threads < 1:
        raise PetsegError(f"--threads must be at least 1, got {threads}")
    count = threads or max(available_cpus() // max(processes, 1), 1)
    torch.set_num_threads(count)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(count)
    return count


def precision(device: torch.device, amp: bool, bf16: bool | None) -> torch.dtype | None:
    """The autocast precision of a network, one rule for training and inference: fp16 on GPUs for recipes with
    `training.amp`; on CPUs bfloat16 where the CPU has it natively, unless `bf16` is False (None: where native;
    True: asked for, with a note where the CPU lacks it); else None (float32)."""
    if device.type == "cuda":
        return torch.float16 if amp else None
    if bf16 is False:
        return None
    if cpu_supports_bf16():
        return torch.bfloat16
    if bf16:
        info("this CPU has no native bfloat16 (avx512_bf16): float32 instead")
    return None
