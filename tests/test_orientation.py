from __future__ import annotations

import numpy as np

from petseg.io.images import Volume
from petseg.orientation import oriented, oriented_index, projections


def test_display_orientation_for_lps_and_flipped_grids():
    array = np.zeros((4, 5, 6), np.float32)
    array[3, 1, 0] = 1.0  # superior (z index 3 of 4), anterior (y 1), patient right (x 0)
    lps = Volume(array, (1, 1, 1))
    shown = oriented(lps, array)
    assert tuple(np.argwhere(shown)[0]) == (0, 1, 0)  # top row, anterior, viewer's left = patient right
    assert tuple(oriented_index(lps, np.array([3, 1, 0]))) == (0, 1, 0)
    flipped = Volume(array[::-1, :, ::-1].copy(), (1, 1, 1), direction=(-1, 0, 0, 0, 1, 0, 0, 0, -1))
    assert tuple(np.argwhere(oriented(flipped, flipped.array))[0]) == (0, 1, 0)
    coronal, sagittal = projections(lps, array)
    assert coronal.shape == (4, 6) and sagittal.shape == (4, 5)
    assert coronal[0, 0] == 1 and sagittal[0, 1] == 1
