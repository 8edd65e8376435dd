"""Test helper: a full disk, as petseg's writers meet it.

ITK's NIfTI writer does not report a failed write: on a full disk it leaves a short file and returns
(checked by writing to /dev/full). Python-side writes fail with OSError(ENOSPC) from the system call.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from types import SimpleNamespace

import SimpleITK as sitk


def fill_the_disk(monkeypatch, after: int = 0) -> None:
    """From the (after+1)-th write on, every write fails as on a full disk."""
    real_write_image, calls = sitk.WriteImage, []

    def full(path) -> bool:
        calls.append(path)
        return len(calls) > after

    def write_image(image, path, *args, **kwargs):
        real_write_image(image, path, *args, **kwargs)
        if full(path):
            data = Path(path).read_bytes()
            Path(path).write_bytes(data[: len(data) // 3])  # what ITK leaves, without an error

    def write(fd, data):
        if full(fd):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_os_write(fd, data)

    real_os_write, real_statvfs = os.write, os.statvfs

    def statvfs(path):
        status = real_statvfs(path)
        return SimpleNamespace(f_bavail=0 if len(calls) > after else status.f_bavail, f_frsize=status.f_frsize)

    monkeypatch.setattr(sitk, "WriteImage", write_image)
    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(os, "statvfs", statvfs)
