"""Coarse anatomical regions of lesions, PET-only on a real whole-body study and with a CT on a phantom."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

from petseg.data.study import Study
from petseg.io.images import Volume
from petseg.regions import lesion_regions


@pytest.fixture(scope="module")
def phantom():
    from petseg.data.phantom import make_phantom_study

    return make_phantom_study(seed=0, size="small", n_lesions=12)


def _pet_only(study: Study) -> Study:
    bare = copy.copy(study)
    bare.ct, bare.ct_coverage = None, None
    return bare


@pytest.mark.slow
def test_real_whole_body_pet_only(real_data):
    from petseg.data.dicom_study import load_dicom_study

    folder = real_data / "sts_001_wb_pet_rtstruct"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = load_dicom_study(folder / "pet", mask=folder / "rtstruct" / "1-1.dcm", roi="GTV_Mass")
    sarcoma = study.suv.index_to_physical(np.argwhere(study.label.array > 0).mean(axis=0))
    points = {"head-neck": [22.2, -90.8, -99.7],  # FDG nodes of the neck (lesions 4-6 of the SUV method)
              "thorax": [59.0, -18.8, -303.8],  # the myocardium
              "abdomen": [-57.7, 58.6, -475.4],  # the right kidney
              "pelvis": [12.5, 36.4, -677.5],  # the bladder
              "extremity": list(sarcoma)}  # the soft-tissue sarcoma of the left thigh (GTV_Mass)
    assert lesion_regions(study, list(points.values())) == list(points)


def test_phantom_with_ct_lungs_and_liver(phantom):
    sites = [(lesion.site, lesion.center_mm) for lesion in phantom.lesions if lesion.site in ("lung", "liver")]
    assert {site for site, _ in sites} == {"lung", "liver"}
    regions = lesion_regions(phantom.study, [centre for _, centre in sites])
    assert regions == [{"lung": "thorax", "liver": "abdomen"}[site] for site, _ in sites]
    top = phantom.study.suv.index_to_physical(np.array([phantom.study.suv.shape[0] - 1, 0, 0]))
    assert lesion_regions(phantom.study, [[0.0, 0.0, float(top[2]) - 100.0]]) == ["head-neck"]  # in the brain


def test_regions_do_not_depend_on_how_the_array_is_stored(phantom):
    study = _pet_only(phantom.study)
    centres = [lesion.center_mm for lesion in phantom.lesions]
    expected = lesion_regions(study, centres)
    suv = study.suv
    corner = suv.index_to_physical(np.array([suv.shape[0] - 1, 0, suv.shape[2] - 1]))
    flipped = Volume(suv.array[::-1, :, ::-1].copy(), suv.spacing, tuple(corner),  # feet first, x mirrored
                     (-1.0, 0, 0, 0, 1.0, 0, 0, 0, -1.0))
    z, y, x = 5, 7, 9
    assert np.allclose(flipped.index_to_physical(np.array([suv.shape[0] - 1 - z, y, suv.shape[2] - 1 - x])),
                       suv.index_to_physical(np.array([z, y, x])))  # the same body in the same place
    assert lesion_regions(Study(suv=flipped), centres) == expected
    assert {"thorax", "abdomen"} <= set(expected)


def test_a_field_of_view_without_landmarks_says_so(phantom):
    study = _pet_only(phantom.study)
    suv = study.suv
    rows = slice(suv.shape[0] // 3, suv.shape[0] // 2)  # a band of the trunk: no neck, no legs
    band = Volume(suv.array[rows].copy(), suv.spacing, tuple(suv.index_to_physical(np.array([rows.start, 0, 0]))))
    centre = band.index_to_physical(np.array(band.shape) / 2)
    assert lesion_regions(Study(suv=band), [list(centre)]) == [None]


@pytest.mark.parametrize("arms_up", [False, True])
@pytest.mark.parametrize("ct", ["none", "head and neck", "whole body"])
def test_a_bulky_neck_node_is_in_the_neck_whatever_the_arms_and_the_ct(arms_up, ct):
    """The real case: a 109 ml neck mass below the jaw on a whole-body PET whose CT covers the head and neck only
    was called thorax (the vertex touching the top of the grid was taken for a neck)."""
    from tests.methods.bodies import standard_body

    neck, chest = (45.0, -20.0, -240.0), (-40.0, 0.0, -380.0)
    body = standard_body(31, arms_up=arms_up)
    body.node(neck, 109, 13.6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = body.study(ct=ct != "none", ct_above_mm=-330.0 if ct == "head and neck" else None)
    assert lesion_regions(study, [list(neck), list(chest)]) == ["head-neck", "thorax"]
