"""Display orientation of volumes and their maximum-intensity projections, read from the direction matrix.

Arrays are (z, y, x) with any axis sign (ITK/LPS direction cosines). Display orientation is the radiological
one: axis 0 runs superior -> inferior (head at the top), axis 1 anterior -> posterior, axis 2 the patient's
right -> left (the patient's right on the viewer's left in a coronal view). Near-axial acquisitions are
assumed (each array axis close to one patient axis, any sign). The report's pictures and the MIP classifier
both project through here, so a study stored feet-first or mirrored looks the same to both.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from petseg.io.images import Volume


def display_flips(volume: Volume) -> tuple[bool, bool, bool]:
    """Which array axes (z, y, x) to reverse so they run superior->inferior, anterior->posterior, right->left."""
    direction = volume.direction_matrix  # columns: physical directions of array axes x, y, z
    return bool(direction[2, 2] > 0), bool(direction[1, 1] < 0), bool(direction[0, 0] < 0)


def oriented(volume: Volume, array: np.ndarray) -> np.ndarray:
    """`array` (on `volume`'s grid, or a resampled copy of the same orientation) in display orientation."""
    flips = display_flips(volume)
    return array[tuple(slice(None, None, -1) if flip else slice(None) for flip in flips)]


def oriented_index(volume: Volume, index_zyx: np.ndarray) -> np.ndarray:
    """A voxel index of `volume` in the coordinates of `oriented` arrays."""
    return np.array([n - 1 - i if flip else i
                     for i, n, flip in zip(index_zyx, volume.shape, display_flips(volume), strict=True)])


def projections(volume: Volume, array: np.ndarray, reduce: Callable = np.max) -> tuple[np.ndarray, np.ndarray]:
    """Coronal (over y) and sagittal (over x) projections of an array on `volume`'s grid, head up."""
    data = oriented(volume, array)
    return reduce(data, axis=1), reduce(data, axis=2)
