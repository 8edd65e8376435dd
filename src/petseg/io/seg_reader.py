"""DICOM SEG in, by frame position: every frame is placed by its own position, orientation and pixel spacing.

Not by the source instances a frame names: many real SEGs leave out SpatialLocationsPreserved (highdicom then
refuses to index them by source frame), and a SEG made on another series of the same scan (a whole-body SEG
on a cropped PET, a SEG on the CT grid) names instances the PET does not have. Sampled by nearest neighbour:
each PET slice takes the SEG frame within half a SEG slice of it, each PET voxel the frame pixel it falls in.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from petseg.errors import PetsegError
from petseg.io.dicom import SeriesVolume
from petseg.io.images import Volume

SLAB_TOLERANCE = 1.1  # a frame covers 1.1 x half its slice step either side (uneven real slice spacing)


def read_seg(dataset: Dataset, pet: SeriesVolume, segment: str | None = None) -> Volume:
    """A DICOM SEG of the PET's scan as a uint8 mask on the PET grid (segments combined unless one is named)."""
    numbers = segment_numbers(dataset, segment)
    _check_frame_of_reference(dataset, pet)
    grid = pet.volume
    orientation = np.array([float(v) for v in _functional(dataset, 0, "PlaneOrientationSequence",
                                                          "ImageOrientationPatient")])
    row_dir, column_dir = orientation[:3], orientation[3:]
    normal = np.cross(row_dir, column_dir)
    if abs(float(np.dot(normal, grid.direction_matrix[:, 2]))) < 1 - 1e-3:
        raise PetsegError("the SEG's frames are not parallel to the PET slices; resample the SEG onto the PET first")
    frames = _frames(dataset, numbers)
    spacing = [float(v) for v in _functional(dataset, 0, "PixelMeasuresSequence", "PixelSpacing")]
    depth = np.array([np.dot(origin, normal) for origin, _ in frames])
    half = 0.5 * SLAB_TOLERANCE * _slice_step(dataset, depth)
    mask = np.zeros(grid.shape, dtype=np.uint8)
    indices = np.stack(np.meshgrid(np.arange(grid.shape[1]), np.arange(grid.shape[2]), indexing="ij"), axis=-1)
    for k in range(grid.shape[0]):
        distance = np.abs(depth - float(np.dot(grid.index_to_physical(np.array([k, 0, 0])), normal)))
        nearest = int(np.argmin(distance)) if depth.size else -1
        if nearest < 0 or distance[nearest] > half:
            continue
        origin, pixels = frames[nearest]
        offset = grid.index_to_physical(np.concatenate([np.full((*indices.shape[:2], 1), k), indices], axis=-1))
        offset -= origin
        rows = np.rint(offset @ column_dir / spacing[0]).astype(np.int64)
        columns = np.rint(offset @ row_dir / spacing[1]).astype(np.int64)
        inside = (rows >= 0) & (rows < pixels.shape[0]) & (columns >= 0) & (columns < pixels.shape[1])
        mask[k][inside] = pixels[rows[inside], columns[inside]]
    if not mask.any() and any(pixels.any() for _, pixels in frames):
        raise PetsegError("the SEG's segments lie outside the PET's field of view")
    return grid.with_array(mask)


def segment_numbers(dataset: Dataset, segment: str | None) -> list[int]:
    """The numbers of the segments to combine: all of them, or the one named (case-insensitive)."""
    labels = {int(item.SegmentNumber): str(item.SegmentLabel) for item in dataset.get("SegmentSequence", [])}
    if segment is None:
        return list(labels)
    numbers = [n for n, label in labels.items() if label.lower() == segment.lower()]
    if not numbers:
        raise PetsegError(f"no segment named {segment!r} in the SEG; it holds: {', '.join(labels.values())}")
    return numbers


def _check_frame_of_reference(dataset: Dataset, pet: SeriesVolume) -> None:
    """Refuse a SEG made on another scan (another frame of reference)."""
    ours, theirs = str(pet.datasets[0].get("FrameOfReferenceUID", "")), str(dataset.get("FrameOfReferenceUID", ""))
    if ours and theirs and ours != theirs:
        raise PetsegError(f"the SEG belongs to another scan: its frame of reference {theirs} is not the PET's "
                          f"({ours}); give the SEG made on this PET/CT")


def _functional(dataset: Dataset, frame: int, group: str, key: str) -> Any:
    """A functional-group value of a frame: the frame's own if it has one, else the shared one."""
    per_frame = dataset.get("PerFrameFunctionalGroupsSequence") or []
    shared = dataset.get("SharedFunctionalGroupsSequence") or []
    for item in (per_frame[frame] if frame < len(per_frame) else None, shared[0] if shared else None):
        if item is not None and item.get(group) and key in item.get(group)[0]:
            return item.get(group)[0].get(key)
    raise PetsegError(f"the SEG gives no {key} for frame {frame + 1}")


def _frames(dataset: Dataset, numbers: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(origin, lesion pixels) per frame position, the chosen segments' frames at one position combined."""
    try:
        pixels = np.asarray(dataset.pixel_array)
    except Exception as exc:  # pydicom raises several kinds for damaged pixel data
        raise PetsegError(f"cannot read the SEG's pixel data: {exc}") from None
    pixels = pixels.reshape(-1, *pixels.shape[-2:])
    kind = str(dataset.get("SegmentationType", "BINARY")).upper()
    if kind == "FRACTIONAL":
        pixels = pixels >= float(dataset.get("MaximumFractionalValue", 255)) / 2
    by_position: dict[tuple[float, ...], tuple[np.ndarray, np.ndarray]] = {}
    for index, frame in enumerate(pixels):
        if kind == "LABELMAP":
            chosen = np.isin(frame, numbers)
        else:
            number = int(_functional(dataset, index, "SegmentIdentificationSequence", "ReferencedSegmentNumber"))
            chosen = frame > 0 if number in numbers else np.zeros(frame.shape, bool)
        origin = np.array([float(v) for v in _functional(dataset, index, "PlanePositionSequence",
                                                         "ImagePositionPatient")])
        key = tuple(np.round(origin, 2).tolist())
        earlier = by_position.get(key, (origin, np.zeros(frame.shape, bool)))[1]
        by_position[key] = (origin, earlier | chosen)
    return list(by_position.values())


def _slice_step(dataset: Dataset, depth: np.ndarray) -> float:
    """The SEG's slice step: as recorded (spacing between slices, else thickness), else its frames' smallest."""
    for key in ("SpacingBetweenSlices", "SliceThickness"):
        try:
            value = abs(float(_functional(dataset, 0, "PixelMeasuresSequence", key)))
        except (PetsegError, TypeError, ValueError):
            continue
        if value > 0:
            return value
    steps = np.diff(np.unique(np.round(depth, 3)))
    return float(steps.min()) if steps.size else 1.0
