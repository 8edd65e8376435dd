from __future__ import annotations

import numpy as np
import pytest

from petseg.data.study import CT_FILL_HU, load_study, make_study
from petseg.errors import PetsegError, PetsegWarning
from petseg.io.images import Volume, write_volume


def pet_volume(shape=(20, 30, 40), spacing=(4.0, 4.0, 5.0), origin=(-80.0, -60.0, 0.0)) -> Volume:
    rng = np.random.default_rng(0)
    return Volume(rng.uniform(0.5, 3.0, shape).astype(np.float32), spacing, origin)


def test_ct_point_lands_on_the_pet_voxel_holding_it():
    pet = pet_volume()
    ct = Volume(np.full((60, 90, 120), -100.0, np.float32), spacing=(1.5, 1.5, 2.0), origin=(-85.0, -64.0, -6.0))
    point = np.array([12.0, 20.0, 47.0])  # physical x, y, z (mm)
    ct_index = np.rint(ct.physical_to_index(point)).astype(int)
    # Make a bright cube of 5 CT voxels around the point so linear resampling keeps it bright.
    sl = tuple(slice(i - 2, i + 3) for i in ct_index)
    ct.array[sl] = 1000.0
    study = make_study(pet, ct)
    assert study.ct is not None and study.ct.same_grid(pet)
    expected = np.rint(pet.physical_to_index(ct.index_to_physical(ct_index))).astype(int)
    found = np.unravel_index(np.argmax(study.ct.array), study.ct.shape)
    assert tuple(found) == tuple(expected)
    assert study.ct.array[tuple(expected)] > 900


def test_ct_on_the_same_grid_is_kept_as_is():
    pet = pet_volume()
    ct = pet.with_array(np.full(pet.shape, 40.0, np.float32))
    study = make_study(pet, ct)
    np.testing.assert_array_equal(study.ct.array, ct.array)


def test_partial_ct_coverage_is_filled_and_reported():
    pet = pet_volume()
    ct = Volume(np.zeros((10, 30, 40), np.float32), spacing=pet.spacing, origin=pet.origin)  # lower half only
    with pytest.warns(PetsegWarning, match=r"CT covers 50\.0% .* uncovered 50\.0%"):
        study = make_study(pet, ct)
    assert np.all(study.ct.array[10:] == CT_FILL_HU)
    assert np.all(study.ct.array[:10] == 0)
    assert np.all(study.ct_coverage.array[:10] == 1) and not study.ct_coverage.array[10:].any()
    assert study.ct_covered_fraction == pytest.approx(0.5)


def test_padding_slices_of_a_converted_ct_count_as_missing():
    pet = pet_volume()
    ct = pet.with_array(np.full(pet.shape, 30.0, np.float32))
    ct.array[15:] = CT_FILL_HU  # a CT on the PET grid, padded where the scan ended
    with pytest.warns(PetsegWarning, match=r"CT covers 75\.0%"):
        study = make_study(pet, ct)
    assert study.ct_coverage.array[:15].all() and not study.ct_coverage.array[15:].any()
    assert make_study(pet).ct_covered_fraction == 0.0


def test_disjoint_ct_and_pet_are_refused():
    pet = pet_volume()
    ct = Volume(np.zeros((5, 5, 5), np.float32), spacing=(1, 1, 1), origin=(5000.0, 0.0, 0.0))
    with pytest.raises(PetsegError, match="do not overlap"):
        make_study(pet, ct)


def test_non_finite_voxels_are_replaced_with_a_count():
    pet = pet_volume()
    pet.array[0, 0, :3] = np.nan
    pet.array[1, 1, 1] = np.inf
    ct = pet.with_array(np.zeros(pet.shape, np.float32))
    ct.array[2, 2, 2] = np.nan
    with pytest.warns(PetsegWarning) as record:
        study = make_study(pet, ct)
    messages = [str(w.message) for w in record]
    assert any("PET: 4 NaN/Inf" in m for m in messages)
    assert any("CT: 1 NaN/Inf" in m for m in messages)
    assert np.isfinite(study.suv.array).all() and study.suv.array[0, 0, 0] == 0
    assert study.ct.array[2, 2, 2] == CT_FILL_HU


def test_pet_in_bq_per_ml_is_refused_with_a_fix():
    pet = pet_volume()
    bqml = pet.with_array(pet.array * 5000.0)
    with pytest.raises(PetsegError, match=r"Bq/ml.*petseg convert"):
        make_study(bqml)


def test_cropped_hot_suv_is_accepted():
    pet = pet_volume()
    study = make_study(pet.with_array(pet.array * 8.0))  # a crop around a hot lesion stays below the Bq/ml test
    assert study.suv.array.max() == 8.0 * pet.array.max() and study.suv.array.dtype == np.float32


def test_label_is_binarised_and_moved_with_nearest_neighbour():
    pet = pet_volume()
    label = Volume(np.zeros((40, 60, 80), np.uint8), spacing=(2.0, 2.0, 2.5), origin=pet.origin)
    label.array[10:14, 20:24, 30:34] = 2
    with pytest.warns(PetsegWarning, match="values other than 0/1"):
        study = make_study(pet, None, label)
    assert study.label.same_grid(pet)
    assert set(np.unique(study.label.array)) == {0, 1}
    assert study.label.array.sum() == 2 * 2 * 2
    assert not study.has_ct


def test_load_study_from_files(tmp_path):
    pet = pet_volume()
    write_volume(pet, tmp_path / "suv.nii.gz")
    study = load_study(tmp_path / "suv.nii.gz", meta={"case": "x"})
    assert study.meta["case"] == "x" and study.ct is None
    assert study.suv.array.dtype == np.float32
