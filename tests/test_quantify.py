from __future__ import annotations

import numpy as np
import pytest

from petseg.io.images import Volume
from petseg.quantify import PEAK_SPHERE_RADIUS_MM, peak_kernel, quantify


def grid(shape=(30, 30, 30), spacing=(2.0, 2.0, 3.0), fill=1.0):
    return Volume(np.full(shape, fill, np.float32), spacing, origin=(-10.0, 5.0, 100.0))


def test_volumes_means_and_tlg_by_hand():
    suv = grid()
    mask = np.zeros(suv.shape, np.uint8)
    mask[2:4, 2:4, 2:4] = 1  # 8 voxels
    suv.array[2:4, 2:4, 2:4] = [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]
    result = quantify(suv, suv.with_array(mask))
    (lesion,) = result.lesions
    assert lesion.voxels == 8
    assert lesion.volume_ml == pytest.approx(8 * 2 * 2 * 3 / 1000)
    assert lesion.suvmax == 8.0 and lesion.suvmean == pytest.approx(4.5)
    assert lesion.tlg == pytest.approx(lesion.volume_ml * 4.5)
    # centroid voxel (2.5, 2.5, 2.5) -> mm: origin + index * spacing (x, y, z)
    assert lesion.centroid_mm == pytest.approx([-10 + 2.5 * 2, 5 + 2.5 * 2, 100 + 2.5 * 3])
    assert lesion.bbox_zyx == [[2, 4], [2, 4], [2, 4]]


def test_lesions_are_18_connected_and_numbered_by_suvmax():
    suv = grid()
    mask = np.zeros(suv.shape, np.uint8)
    mask[5, 5, 5] = mask[5, 6, 6] = 1  # edge contact: one lesion
    mask[10, 10, 10] = mask[11, 11, 11] = 1  # corner contact: two lesions
    suv.array[11, 11, 11] = 9.0
    suv.array[5, 6, 6] = 3.0
    result = quantify(suv, suv.with_array(mask))
    assert [lesion.suvmax for lesion in result.lesions] == [9.0, 3.0, 1.0]
    assert [lesion.voxels for lesion in result.lesions] == [1, 2, 1]
    labels = result.labels.array
    assert labels[11, 11, 11] == 1 and labels[5, 5, 5] == labels[5, 6, 6] == 2 and labels[10, 10, 10] == 3
    totals = result.totals
    assert totals["lesion_count"] == 3 and totals["suvmax"] == 9.0
    assert totals["tmtv_ml"] == pytest.approx(4 * 0.012)


def test_suvpeak_is_the_mean_of_a_1ml_sphere():
    spacing = (1.0, 1.0, 1.0)
    kernel = peak_kernel(spacing)
    assert kernel.sum() * 1e-3 == pytest.approx(1.0, rel=0.05)  # ~1 ml of 1 mm voxels
    assert kernel.shape == (13, 13, 13) and pytest.approx(12.407, abs=1e-3) == 2 * PEAK_SPHERE_RADIUS_MM
    suv = Volume(np.ones((40, 40, 40), np.float32), spacing)
    suv.array[20, 20, 20] = 1000.0  # one hot voxel: the peak sphere averages it away
    mask = np.zeros(suv.shape, np.uint8)
    mask[15:26, 15:26, 15:26] = 1
    (lesion,) = quantify(suv, suv.with_array(mask)).lesions
    assert lesion.suvmax == 1000.0
    assert lesion.suvpeak == pytest.approx((kernel.sum() - 1 + 1000) / kernel.sum())


def test_suvpeak_near_the_image_edge_uses_voxels_inside_only():
    suv = Volume(np.full((10, 10, 10), 2.0, np.float32), (2.0, 2.0, 2.0))
    mask = np.zeros(suv.shape, np.uint8)
    mask[0, 0, 0] = 1
    (lesion,) = quantify(suv, suv.with_array(mask)).lesions
    assert lesion.suvpeak == pytest.approx(2.0)


def test_empty_mask_and_multivalued_mask():
    suv = grid()
    empty = quantify(suv, suv.with_array(np.zeros(suv.shape, np.uint8)))
    assert empty.lesions == [] and empty.totals == {"lesion_count": 0, "tmtv_ml": 0.0, "tlg": 0.0, "suvmax": None}
    mask = np.zeros(suv.shape, np.uint8)
    mask[1, 1, 1] = 2
    with pytest.warns(UserWarning, match="values other than 0/1"):
        assert len(quantify(suv, suv.with_array(mask)).lesions) == 1
    with pytest.raises(ValueError, match="grids differ"):
        quantify(suv, Volume(mask, (1.0, 1.0, 1.0)))


def test_float_suv_is_never_truncated():
    suv = grid(fill=0.3)
    mask = np.zeros(suv.shape, np.uint8)
    mask[3:5, 3:5, 3:5] = 1
    (lesion,) = quantify(suv, suv.with_array(mask)).lesions
    assert lesion.suvmean == pytest.approx(0.3) and lesion.suvmax == pytest.approx(0.3)


def test_real_sarcoma_mask(real_data):
    from petseg.io.images import read_volume

    folder = real_data / "sts_cropped_petct_masks" / "STS_001" / "PET" / "nifti"
    suv = read_volume(folder / "image" / "image.nii.gz", np.float32)
    mask = read_volume(folder / "mask" / "mask.nii.gz")
    result = quantify(suv, mask)
    (lesion,) = result.lesions
    assert lesion.voxels == 5095
    assert lesion.suvmax == pytest.approx(7.91, abs=0.005)
    assert lesion.volume_ml == pytest.approx(5095 * 4.6875 * 4.6875 * 3.27 / 1000, rel=1e-6)
    assert lesion.volume_ml == pytest.approx(366.1, abs=0.1)
