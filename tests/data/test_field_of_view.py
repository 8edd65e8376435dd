"""A body reaching the edge of the transaxial field of view is warned about (reconstruction disc or square)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from petseg.data.field_of_view import truncated_slices, warn_if_truncated
from petseg.errors import PetsegWarning
from petseg.io.images import Volume


def _disc_pet(arm_column: int) -> Volume:
    """A PET reconstructed in a disc (zero outside) with a body, and an arm reaching `arm_column` on slices 6-9."""
    rng = np.random.default_rng(0)
    rows, columns = np.indices((64, 64))
    disc = (rows - 31.5) ** 2 + (columns - 31.5) ** 2 <= 30.0**2
    array = np.where(disc, rng.uniform(0.0, 0.05, (12, 64, 64)), 0.0).astype(np.float32)  # noise in the disc
    array[:, 22:42, 16:48] = 1.0
    array[6:10, 30:34, 40:arm_column] = 1.2
    return Volume(array, (4.0, 4.0, 3.0))


def test_body_on_the_disc_rim_is_truncated():
    assert truncated_slices(_disc_pet(arm_column=50)).size == 0
    cut = _disc_pet(arm_column=64)
    assert list(truncated_slices(cut)) == [2, 3, 4, 5]  # display rows: head first
    with pytest.warns(PetsegWarning, match=r"truncated field of view: .* on 4 slice\(s\) \(z 27 to 18 mm\)"):
        warn_if_truncated(cut)


def test_body_on_the_square_border_is_truncated():
    array = np.zeros((5, 40, 40), np.float32)
    array[:, 10:30, 5:35] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_truncated(Volume(array, (4.0, 4.0, 4.0)))
    array[:, 10:30, 0:5] = 1.0
    assert truncated_slices(Volume(array, (4.0, 4.0, 4.0))).size == 5
