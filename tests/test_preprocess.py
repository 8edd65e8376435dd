from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from petseg.data.study import make_study, resample_onto
from petseg.errors import PetsegWarning
from petseg.io.images import Volume
from petseg.preprocess import CROP_MARGIN_MM, preprocess_study
from petseg.recipe import load_recipe


def body_study(with_ct: bool = True):
    """A 40 x 50 x 60 PET (3 mm voxels, rotated axes) whose body fills a box, a lesion inside it."""
    shape = (40, 50, 60)
    suv = np.zeros(shape, np.float32)
    suv[10:30, 15:40, 20:50] = 1.0  # the body
    label = np.zeros(shape, np.uint8)
    label[18:22, 25:29, 30:36] = 1
    suv[label > 0] = 8.0
    direction = (0, -1, 0, 1, 0, 0, 0, 0, 1)  # array x runs along -y, array y along +x
    pet = Volume(suv, (3.0, 3.0, 3.0), (100.0, -50.0, 20.0), direction)
    ct = pet.with_array(np.where(suv > 0, 40.0, -1000.0).astype(np.float32)) if with_ct else None
    return make_study(pet, ct, pet.with_array(label))


@pytest.mark.parametrize("source", ["ct", "pet"])
def test_the_foreground_crop_round_trips_to_the_pet_grid(source):
    study = body_study()
    recipe = load_recipe("tiny_unet", {"preprocess.crop_foreground": source, "preprocess.spacing_mm": "null"})
    prepared = preprocess_study(study, recipe)
    margin = int(np.ceil(CROP_MARGIN_MM / 3.0))
    assert prepared.image.shape[1:] == (20 + 2 * margin, 25 + 2 * margin, 30 + 2 * margin)
    assert prepared.label.sum() == study.label.array.sum()
    back = resample_onto(prepared.grid.with_array(prepared.label.astype(np.float32)), study.suv,
                         sitk.sitkLinear, 0.0).array
    np.testing.assert_array_equal(back > 0.5, study.label.array > 0)  # the mask lands where the lesion is


def test_missing_ct_is_zero_with_a_presence_channel():
    recipe = load_recipe("tiny_unet", {"preprocess.spacing_mm": "null"})
    full = preprocess_study(body_study(), recipe)
    alone = preprocess_study(body_study(with_ct=False), recipe)
    ct, present, pet = (recipe.inputs.index(n) for n in ("ct", "ct_present", "pet"))
    assert full.image[present].min() == 1.0 and full.image[ct].max() > 0
    assert not alone.image[ct].any() and not alone.image[present].any()
    np.testing.assert_array_equal(full.image[pet], alone.image[pet])
    study = body_study()
    partial = Volume(study.ct.array[:20].copy(), study.suv.spacing, study.suv.origin, study.suv.direction)
    with pytest.warns(PetsegWarning, match="CT covers 50"):
        cut = make_study(study.suv, partial)
    prepared = preprocess_study(cut, recipe)
    assert prepared.image[present][:20].all() and not prepared.image[present][20:].any()
    assert not prepared.image[ct][20:].any()  # outside the CT's coverage: missing, not air


def test_the_percentile_scaling_is_monais():
    from monai.transforms import ScaleIntensityRangePercentiles

    from petseg.preprocess import scale_percentiles

    rng = np.random.default_rng(1)
    for shape in ((9, 8, 7), (110, 100, 100)):  # MONAI takes torch's quantile under 1 M voxels, numpy's above
        array = rng.gamma(1.5, 2.0, shape).astype(np.float32)
        before = array.copy()
        expected = np.asarray(ScaleIntensityRangePercentiles(0.05, 99.95, 0.0, 1.0, clip=True)(array))
        np.testing.assert_allclose(scale_percentiles(array, 0.05, 99.95, 0.0, 1.0), expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(array, before)
    constant = np.full((4, 4, 4), 3.0, np.float32)  # MONAI: shifted by the (equal) percentiles, not scaled
    with pytest.warns(Warning):
        expected = np.asarray(ScaleIntensityRangePercentiles(5, 95, 0.5, 1.0, clip=True)(constant))
    np.testing.assert_array_equal(scale_percentiles(constant, 5, 95, 0.5, 1.0), expected)


def test_the_range_scaling_is_monais_and_leaves_the_input_alone():
    from monai.transforms import ScaleIntensityRange

    from petseg.preprocess import scale_range

    array = np.random.default_rng(0).normal(0, 300, (9, 8, 7)).astype(np.float32)
    before = array.copy()
    for a_min, a_max, b_min, b_max in ((-250.0, 250.0, 0.0, 1.0), (0.0, 10.0, -1.0, 1.0)):
        expected = np.asarray(ScaleIntensityRange(a_min, a_max, b_min, b_max, clip=True)(array))
        np.testing.assert_allclose(scale_range(array, a_min, a_max, b_min, b_max), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(array, before)
    assert scale_range(array.astype(np.int16), -250.0, 250.0, 0.0, 1.0).dtype == np.float32
