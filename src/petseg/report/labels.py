"""Number labels placed beside their points without overlapping each other (greedy, in display pixels)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Offsets tried around a point, nearest first: below-right as the first choice, then the other
# directions on rings of growing radius (pixels, y down).
_DIRECTIONS = [(1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1)]
_RADII = (7, 14, 22, 32, 44, 58, 74)
PREFER_CLEAR_RINGS = 3  # within this many rings a label that covers no other point wins


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in display pixels (x to the right, y down)."""

    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Box, gap: float = 1.0) -> bool:
        """True when the boxes come closer than `gap` pixels."""
        return not (self.x1 + gap <= other.x0 or other.x1 + gap <= self.x0 or self.y1 + gap <= other.y0
                    or other.y1 + gap <= self.y0)

    def inside(self, bounds: Box) -> bool:
        """True when the box lies within `bounds`."""
        return bounds.x0 <= self.x0 and self.x1 <= bounds.x1 and bounds.y0 <= self.y0 and self.y1 <= bounds.y1


def _box_at(centre: tuple[float, float], size: tuple[float, float]) -> Box:
    (x, y), (w, h) = centre, size
    return Box(x - w / 2, y - h / 2, x + w / 2, y + h / 2)


def place_labels(points: np.ndarray, sizes: list[tuple[float, float]], bounds: Box) -> list[tuple[float, float]]:
    """Label centres (pixels) for `points` (n x 2, pixels) with label `sizes` (w, h).

    Each label goes as close to its point as it can without overlapping an earlier label or leaving
    `bounds`; within the first rings a position that covers no other point is preferred. Earlier points
    are placed first (give them in order of importance)."""
    placed: list[Box] = []
    centres: list[tuple[float, float]] = []
    for k, (point, size) in enumerate(zip(points, sizes, strict=True)):
        others = np.delete(np.asarray(points, dtype=float).reshape(-1, 2), k, axis=0)
        free = [(ring, box) for ring, box in _candidates(point, size)
                if box.inside(bounds) and not any(box.overlaps(b) for b in placed)]
        clear = [box for ring, box in free if ring < PREFER_CLEAR_RINGS and not _covers(box, others)]
        box = clear[0] if clear else free[0][1] if free else _box_at(_fallback(*point, size, bounds), size)
        placed.append(box)
        centres.append(((box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2))
    return centres


def _candidates(point: np.ndarray, size: tuple[float, float]) -> list[tuple[int, Box]]:
    """(ring, box) of every position tried around `point`, nearest first."""
    x, y = float(point[0]), float(point[1])
    found = []
    for ring, radius in enumerate(_RADII):
        for dx, dy in _DIRECTIONS:
            scale = radius / np.hypot(dx, dy)
            found.append((ring, _box_at((x + dx * (scale + size[0] / 2), y + dy * (scale + size[1] / 2)), size)))
    return found


def _covers(box: Box, points: np.ndarray) -> bool:
    return bool(np.any((points[:, 0] >= box.x0) & (points[:, 0] <= box.x1) & (points[:, 1] >= box.y0)
                       & (points[:, 1] <= box.y1)))


def _fallback(x: float, y: float, size: tuple[float, float], bounds: Box) -> tuple[float, float]:
    """The point's first-choice position, moved inside `bounds`."""
    w, h = size
    cx = min(max(x + _RADII[0] + w / 2, bounds.x0 + w / 2), bounds.x1 - w / 2)
    cy = min(max(y + _RADII[0] + h / 2, bounds.y0 + h / 2), bounds.y1 - h / 2)
    return cx, cy
