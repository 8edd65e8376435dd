"""NIfTI files read through completely: a truncated or damaged file is refused, never read as an image.

The NIfTI library under ITK (nifti1_io.c) reads a truncated file without an error (the missing voxels
come out as zeros, or as whatever the half-file held) and sets every NaN/Inf float voxel to 0 without a
word. `check_nifti` streams the whole file once (for .nii.gz zlib checks the gzip CRC and length), checks
that it holds every voxel its header promises, and counts the non-finite voxels; `restore_non_finite` puts
them back, so that a NIfTI reads like every other format and the caller warns about them in one place.
"""

from __future__ import annotations

import errno
import io
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from petseg.errors import PetsegError

CHUNK = 1 << 20
NEARLY_FULL = 16 << 20  # bytes free on a file system where a write just failed: it is full
_GZIP_MAGIC = b"\x1f\x8b"
_HEADER_SIZES = {348: "Nifti1Header", 540: "Nifti2Header"}


def is_nifti(path: Path) -> bool:
    """True for .nii and .nii.gz files."""
    name = path.name.lower()
    return name.endswith(".nii") or name.endswith(".nii.gz")


def check_nifti(path: Path) -> int:
    """Read `path` through to its end and return its number of NaN/Inf voxels; a PetsegError naming the file
    when it is truncated or damaged."""
    chunks = _chunks(path)
    head = b""
    for chunk in chunks:  # the header may span chunks of a gzip stream
        head += chunk
        if len(head) >= 540:
            break
    header = _header(head, path)
    offset = int(header.get_data_offset())
    dtype = header.get_data_dtype()
    expected = offset + int(np.prod(header.get_data_shape(), dtype=np.int64)) * dtype.itemsize
    counter = _NonFiniteCounter(dtype, offset, expected) if dtype.kind in "fc" else None
    size = 0
    for chunk in _prepend(head, chunks):
        if counter is not None:
            counter.feed(chunk, size)
        size += len(chunk)
    if size < expected:
        raise damaged(path, f"it holds {size} of the {expected} bytes its header promises (the file is truncated)")
    return counter.count if counter is not None else 0


def verify_written(path: Path) -> None:
    """Raise the OSError of a failed write when the NIfTI just written to `path` came out incomplete."""
    try:
        check_nifti(path)
    except PetsegError:
        status = os.statvfs(path.parent)
        if status.f_bavail * status.f_frsize < NEARLY_FULL:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from None
        raise OSError(errno.EIO, "the written file came out incomplete", str(path)) from None


def restore_non_finite(array: np.ndarray, path: Path) -> np.ndarray:
    """`array` (as ITK read `path`, [z, y, x]) with the NaN/Inf voxels that ITK set to 0 put back."""
    import nibabel as nib

    data = np.asanyarray(nib.load(str(path)).dataobj)
    data = data.reshape(data.shape[:3]).transpose(2, 1, 0) if data.ndim > 3 else data.transpose(2, 1, 0)
    bad = ~np.isfinite(data)
    restored = array.astype(np.result_type(array.dtype, np.float32), copy=True)
    restored[bad] = data[bad]
    return restored


def damaged(path: Path, reason: str) -> PetsegError:
    """The one line for a damaged image file."""
    return PetsegError(f"{path} is damaged: {reason}; copy or export it again")


def _header(head: bytes, path: Path) -> Any:
    """The NIfTI-1 or NIfTI-2 header at the start of the (decompressed) file."""
    import nibabel as nib

    if not head:
        raise PetsegError(f"cannot read {path} as an image: the file is empty")
    sizes = {int.from_bytes(head[:4], "little"), int.from_bytes(head[:4], "big")} & set(_HEADER_SIZES)
    if not sizes:
        raise PetsegError(f"cannot read {path} as an image: it is not a NIfTI file")
    size = sizes.pop()
    if len(head) < size:
        raise damaged(path, f"it holds {len(head)} bytes, less than its header (the file is truncated)")
    kind = getattr(nib, _HEADER_SIZES[size])
    try:
        return kind.from_fileobj(io.BytesIO(head), check=False)
    except Exception as exc:  # nibabel raises several kinds for a malformed header
        raise PetsegError(f"cannot read {path} as an image: {exc}") from None


def _chunks(path: Path) -> Iterator[bytes]:
    """The file's bytes, decompressed (every member of a gzip stream) and checked, in pieces."""
    with path.open("rb") as handle:
        if handle.read(2) != _GZIP_MAGIC:
            handle.seek(0)
            yield from iter(lambda: handle.read(CHUNK), b"")
            return
        handle.seek(0)
        decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
        try:
            for data in iter(lambda: handle.read(CHUNK), b""):
                while data:
                    yield decompressor.decompress(data, CHUNK)
                    data = decompressor.unconsumed_tail
                    if decompressor.eof:  # a member ends: another may follow
                        rest = decompressor.unused_data
                        if not rest.startswith(_GZIP_MAGIC):
                            return  # trailing padding, as some writers leave
                        decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
                        data = rest + data
            yield decompressor.flush()
        except zlib.error as exc:
            raise damaged(path, f"its compressed data are corrupt ({exc})") from None
        if not decompressor.eof:
            raise damaged(path, "its compressed data end early (the file is truncated)")


def _prepend(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    """`head`, then the rest of the stream."""
    yield head
    yield from rest


class _NonFiniteCounter:
    """Counts NaN/Inf values in the voxel bytes [offset, end) of a stream fed chunk by chunk."""

    def __init__(self, dtype: np.dtype, offset: int, end: int) -> None:
        self.dtype, self.offset, self.end = dtype, offset, end
        self.pending = b""
        self.count = 0

    def feed(self, chunk: bytes, position: int) -> None:
        """Count the values of `chunk`, which starts at byte `position` of the file."""
        start, stop = max(self.offset - position, 0), min(self.end - position, len(chunk))
        if stop <= start:
            return
        data = self.pending + chunk[start:stop]
        usable = len(data) - len(data) % self.dtype.itemsize
        self.pending = data[usable:]
        values = np.frombuffer(data[:usable], dtype=self.dtype)
        self.count += int(values.size - np.count_nonzero(np.isfinite(values)))
