"""A truncated transaxial field of view: the body reaching the edge of the reconstructed PET image.

Most scanners reconstruct a disc (zero outside it) inside the square image; where the image holds such
a disc its rim is the edge, otherwise the square's border is. Uptake on the edge on a few slices
means part of the body (arms, a large patient) lies outside what was imaged. Whether that matters (the trunk
cut, not a raised arm; a whole-body study, not a crop around a tumour) is decided with the body model
(`methods.coverage`).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage

from petseg.errors import PetsegWarning
from petseg.io.images import Volume
from petseg.orientation import display_flips, oriented

EDGE_SUV = 0.3  # uptake above this on the edge is body, not noise
MIN_EDGE_VOXELS = 3  # per slice
DISC_IOU = 0.95  # the image support counts as a reconstruction disc when it is this close to one


def truncated_slices(suv: Volume) -> np.ndarray:
    """Display rows (head first) on which the body reaches the edge of the field of view."""
    data = oriented(suv, suv.array)
    edge = _edge(data)
    hits = (data[:, edge] > EDGE_SUV).sum(axis=1)
    return np.flatnonzero(hits >= MIN_EDGE_VOXELS)


def edge_voxels(suv: Volume, rows: np.ndarray) -> np.ndarray:
    """Array indices (z, y, x) of the uptake on the edge of the field of view on display `rows`."""
    data = oriented(suv, suv.array)
    edge = _edge(data)
    found = [np.column_stack([np.full(int(hits.sum()), row), np.argwhere(hits)])
             for row in rows for hits in [edge & (data[row] > EDGE_SUV)]]
    display = np.concatenate(found) if found else np.zeros((0, 3), dtype=int)
    flips = display_flips(suv)
    for axis, flipped in enumerate(flips):
        if flipped:
            display[:, axis] = suv.shape[axis] - 1 - display[:, axis]
    return display


def warn_if_truncated(suv: Volume, rows: np.ndarray | None = None, what: str = "the body",
                      category: type[Warning] = PetsegWarning) -> None:
    """Warn when `what` reaches the edge of the transaxial field of view (on display `rows`, default: wherever
    the body does)."""
    rows = truncated_slices(suv) if rows is None else rows
    if rows.size == 0:
        return
    n = suv.shape[0]
    heights = [float(suv.index_to_physical(np.array([n - 1 - r if display_flips(suv)[0] else r, 0, 0]))[2])
               for r in (rows[0], rows[-1])]
    warnings.warn(f"truncated field of view: {what} reaches the edge of the PET image on {rows.size} slice(s) "
                  f"(z {max(heights):.0f} to {min(heights):.0f} mm); uptake beyond it was not imaged",
                  category, stacklevel=2)


def _edge(data: np.ndarray) -> np.ndarray:
    """In-plane mask of the field of view's edge: the rim of the reconstruction disc, or the image border."""
    support = (data != 0).any(axis=0)
    rows, columns = np.indices(support.shape)
    if support.any():
        cy, cx = rows[support].mean(), columns[support].mean()
        disc = (rows - cy) ** 2 + (columns - cx) ** 2 <= support.sum() / np.pi
        if (disc & support).sum() >= DISC_IOU * (disc | support).sum():
            return support & ~ndimage.binary_erosion(support, iterations=2, border_value=0)
    border = np.zeros(support.shape, dtype=bool)
    border[[0, -1], :] = border[:, [0, -1]] = True
    return border
