from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from petseg.data.study import resample_onto
from petseg.io.images import Volume
from petseg.io.resampling import resample_linear, shares_axes

OBLIQUE = tuple(np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]]).ravel())  # rotated, flipped z


def itk(volume: Volume, reference: Volume, fill: float) -> np.ndarray:
    """SimpleITK's own linear resampling, the reference."""
    return sitk.GetArrayFromImage(sitk.Resample(volume.to_sitk(), reference.to_sitk(), sitk.Transform(),
                                                sitk.sitkLinear, fill, sitk.sitkFloat32))


@pytest.mark.parametrize("direction", [Volume.direction, OBLIQUE])
def test_it_is_itks_linear_resampling_fill_included(direction):
    rng = np.random.default_rng(0)
    for _ in range(6):  # grids finer, coarser and shifted past the source's edges on each axis
        source = Volume(rng.normal(size=(20, 17, 23)).astype(np.float32), tuple(rng.uniform(0.7, 2.5, 3)),
                        tuple(rng.normal(0, 3, 3)), direction)
        start = source.index_to_physical(rng.uniform(-4, 6, 3))  # near the source's first voxel, either side
        target = Volume(np.zeros(tuple(rng.integers(8, 40, 3)), np.uint8), tuple(rng.uniform(0.5, 3.0, 3)),
                        tuple(start), direction)
        ours, reference = resample_linear(source, target, -7.0).array, itk(source, target, -7.0)
        assert ours.dtype == np.float32 and ours.shape == target.shape
        np.testing.assert_array_equal(ours == -7.0, reference == -7.0)  # the same voxels outside the source
        np.testing.assert_allclose(ours, reference, atol=1e-5)
        assert (reference != -7.0).sum() > 100  # the grids overlap: interpolated values were compared


def test_an_integer_ct_is_interpolated_in_float_and_whole_grids_round_trip():
    ct = Volume(np.arange(6 * 7 * 8, dtype=np.int16).reshape(6, 7, 8) - 100, (2.0, 2.0, 3.0), (5.0, -4.0, 1.0))
    finer = Volume(np.zeros((12, 14, 16), np.uint8), (1.0, 1.0, 1.5), (4.5, -4.5, 0.25))
    np.testing.assert_allclose(resample_linear(ct, finer, -1024.0).array, itk(ct, finer, -1024.0), atol=1e-4)
    np.testing.assert_array_equal(resample_linear(ct, ct, 0.0).array, ct.array.astype(np.float32))


def test_resample_onto_takes_this_path_only_between_grids_of_one_orientation(monkeypatch):
    calls = []
    monkeypatch.setattr("petseg.data.study.resample_linear", lambda *a: calls.append(a) or a[1])
    volume = Volume(np.ones((4, 5, 6), np.float32), (2.0, 2.0, 2.0))
    rotated = Volume(np.zeros((4, 5, 6), np.uint8), (2.0, 2.0, 2.0), direction=OBLIQUE)
    assert shares_axes(volume, volume.with_array(volume.array)) and not shares_axes(volume, rotated)
    resample_onto(volume, rotated, sitk.sitkLinear, 0.0)
    resample_onto(volume, volume, sitk.sitkNearestNeighbor, 0.0)
    assert calls == []
    resample_onto(volume, volume, sitk.sitkLinear, 0.0)
    assert len(calls) == 1
