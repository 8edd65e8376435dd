"""Splitting a candidate that merges an organ with a lesion touching it at the threshold.

A lesion that touches an organ at the threshold has its own peak, separated from the organ's by a valley:
the pieces are the watershed basins of the (lightly smoothed) SUV, merged again wherever the valley between
two basins stays above `saddle_ratio` x the lower peak, so that an organ's own texture (gyri, a patchy
myocardium, noise) stays in one piece. Pieces smaller than `min_piece_ml` stay with their neighbour, and
so do pieces larger than `max_piece_ml` (another organ merged with this one, such as a bowel loop, rather
than a lesion beside it). A lesion pressed onto an organ with no valley between them at this resolution
stays with the organ.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

# The 9 forward neighbour offsets of 18-connectivity (faces and edges; the other 9 are their opposites).
FORWARD_18 = [(dz, dy, dx) for dz in (0, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
              if (dz, dy, dx) > (0, 0, 0) and abs(dz) + abs(dy) + abs(dx) <= 2]
WATERSHED_LEVEL = 0.01  # basins whose peaks stand less than this fraction of the region's max are merged at once


def split_region(suv: np.ndarray, mask: np.ndarray, spacing_zyx: tuple[float, float, float],
                 params: dict[str, Any]) -> np.ndarray:
    """Piece labels (1..n, 0 outside `mask`) of one region, given on its box with a margin (`suv` the same box)."""
    voxel_ml = float(np.prod(spacing_zyx)) / 1000.0
    min_voxels = max(int(np.ceil(params["min_piece_ml"] / voxel_ml)), 1)
    sigma = [params["smooth_mm"] / 2.3548 / s for s in spacing_zyx]
    smooth = ndimage.gaussian_filter(suv.astype(np.float32), sigma)
    pieces = _valley_pieces(smooth, mask, params["saddle_ratio"], min_voxels)
    return _rejoin_large(pieces, smooth, max(int(params["max_piece_ml"] / voxel_ml), min_voxels))


def _valley_pieces(smooth: np.ndarray, mask: np.ndarray, ratio: float, min_voxels: int) -> np.ndarray:
    """Watershed basins of `smooth` in `mask`, merged across every valley shallower than `ratio`."""
    peak = float(smooth[mask].max())
    inverted = np.where(mask, peak - smooth, peak + 1.0).astype(np.float32)
    basins = sitk.GetArrayFromImage(sitk.MorphologicalWatershed(
        sitk.GetImageFromArray(inverted), level=WATERSHED_LEVEL * peak, markWatershedLine=False,
        fullyConnected=True)).astype(np.int64)
    basins[~mask] = 0
    count = int(basins.max())
    if count <= 1:
        return mask.astype(np.int32)
    peaks = np.zeros(count + 1)
    np.maximum.at(peaks, basins[mask], smooth[mask])
    sizes = np.bincount(basins[mask], minlength=count + 1)
    parent = np.arange(count + 1)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b, saddle in _edges(basins, smooth):
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        if saddle >= ratio * min(peaks[ra], peaks[rb]) or min(sizes[ra], sizes[rb]) < min_voxels:
            parent[rb] = ra
            peaks[ra], sizes[ra] = max(peaks[ra], peaks[rb]), sizes[ra] + sizes[rb]
    roots = np.array([find(i) for i in range(count + 1)])
    return _relabel(np.where(mask, roots[basins], 0))


def _edges(basins: np.ndarray, smooth: np.ndarray) -> list[tuple[int, int, float]]:
    """(a, b, saddle) for every pair of touching basins, highest saddle first; the saddle is the
    highest value at which one can pass from a to b (the larger of the pairwise minima on their border)."""
    keys, values = [], []
    count = int(basins.max()) + 1
    for offset in FORWARD_18:
        here = tuple(slice(max(-o, 0), n - max(o, 0)) for o, n in zip(offset, basins.shape, strict=True))
        there = tuple(slice(max(o, 0), n - max(-o, 0)) for o, n in zip(offset, basins.shape, strict=True))
        a, b = basins[here], basins[there]
        border = (a != b) & (a > 0) & (b > 0)
        if border.any():
            lo, hi = np.minimum(a[border], b[border]), np.maximum(a[border], b[border])
            keys.append(lo * count + hi)
            values.append(np.minimum(smooth[here][border], smooth[there][border]))
    if not keys:
        return []
    key, value = np.concatenate(keys), np.concatenate(values)
    unique, inverse = np.unique(key, return_inverse=True)
    saddles = np.full(unique.size, -np.inf)
    np.maximum.at(saddles, inverse, value)
    order = np.argsort(-saddles)
    return [(int(unique[i] // count), int(unique[i] % count), float(saddles[i])) for i in order]


def _rejoin_large(pieces: np.ndarray, smooth: np.ndarray, max_voxels: int) -> np.ndarray:
    """Pieces larger than `max_voxels`, other than the organ's own (the largest uptake), joined back to it."""
    count = int(pieces.max())
    if count <= 1:
        return pieces
    sizes = np.bincount(pieces.ravel(), minlength=count + 1)
    uptake = np.bincount(pieces.ravel(), weights=smooth.ravel(), minlength=count + 1)
    main = int(np.argmax(uptake[1:]) + 1)
    large = np.flatnonzero(sizes > max_voxels)
    joined = np.where(np.isin(pieces, large[large > 0]) & (pieces != main), main, pieces)
    return _relabel(joined)


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 1..n in order of first appearance (0 stays 0)."""
    values = np.unique(labels)
    values = values[values > 0]
    lookup = np.zeros(int(labels.max()) + 1, dtype=np.int32)
    lookup[values] = np.arange(1, values.size + 1)
    return lookup[labels]
