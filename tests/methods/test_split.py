"""Watershed split of a region that merges an organ with a lesion touching it at the threshold."""

from __future__ import annotations

import numpy as np

from petseg.methods.split import split_region
from petseg.metrics.components import label_components

PARAMS = {"smooth_mm": 4.0, "saddle_ratio": 0.6, "min_piece_ml": 0.5, "max_piece_ml": 40.0}
SPACING = (4.0, 4.0, 4.0)


def blobs(separation_mm: float, peaks=(20.0, 8.0), radii=(20.0, 8.0), noise: float = 0.0) -> np.ndarray:
    """Two blurred balls along x on a 4 mm grid (an organ and a node), optional multiplicative noise."""
    from scipy import ndimage

    z, y, x = np.mgrid[0:30, 0:30, 0:40] * 4.0
    activity = np.zeros(z.shape, np.float32)
    centres = [(60.0, 60.0, 50.0), (60.0, 60.0, 50.0 + separation_mm)]
    for (cz, cy, cx), peak, radius in zip(centres, peaks, radii, strict=True):
        activity[(z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= radius**2] = peak
    if noise:
        activity *= 1 + noise * np.random.default_rng(0).standard_normal(activity.shape).astype(np.float32)
    return ndimage.gaussian_filter(activity, 7.0 / 2.3548 / 4.0)


def test_a_node_touching_an_organ_at_the_threshold_is_its_own_piece():
    suv = blobs(34.0)
    mask = suv >= 3.0
    assert label_components(mask)[1] == 1  # one region at the threshold
    pieces = split_region(suv, mask, SPACING, PARAMS)
    assert pieces.max() == 2
    node = pieces[15, 15, int((50 + 34) / 4)]
    assert node > 0 and node != pieces[15, 15, 12]


def test_a_node_merged_deep_into_the_organ_is_not_split():
    suv = blobs(26.0)
    assert split_region(suv, suv >= 3.0, SPACING, PARAMS).max() == 1


def test_an_organ_with_noisy_texture_stays_in_one_piece():
    suv = blobs(200.0, peaks=(12.0, 0.0), radii=(40.0, 1.0), noise=0.3)
    assert split_region(suv, suv >= 3.0, SPACING, PARAMS).max() == 1


def test_large_pieces_stay_with_the_organ():
    suv = blobs(62.0, peaks=(20.0, 10.0), radii=(20.0, 20.0))  # a second organ-sized region (34 ml)
    params = dict(PARAMS, max_piece_ml=20.0)
    assert split_region(suv, suv >= 3.0, SPACING, PARAMS).max() == 2
    assert split_region(suv, suv >= 3.0, SPACING, params).max() == 1


def test_a_fine_grid_keeps_the_narrow_valley():
    from scipy import ndimage

    z, y, x = np.mgrid[0:60, 0:60, 0:80] * 2.0
    activity = np.zeros(z.shape, np.float32)
    activity[(z - 60) ** 2 + (y - 60) ** 2 + (x - 50) ** 2 <= 20.0**2] = 20.0
    activity[(z - 60) ** 2 + (y - 60) ** 2 + (x - 82) ** 2 <= 8.0**2] = 8.0  # a valley one voxel wide
    suv = ndimage.gaussian_filter(activity, 7.0 / 2.3548 / 2.0)
    mask = suv >= 3.0
    assert label_components(mask)[1] == 1
    pieces = split_region(suv, mask, (2.0, 2.0, 2.0), PARAMS)
    assert pieces.shape == mask.shape and pieces.max() == 2
    assert np.all((pieces > 0) == mask)
    assert pieces[30, 30, 41] != pieces[30, 30, 25]
