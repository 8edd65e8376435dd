"""Lesions outlined as a reader draws them: the necrotic core filled, a large tumour's rim of moderate uptake
taken in at its own background-adapted level, and never an organ or the liver's normal tissue."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from petseg.data.study import Study, make_study
from petseg.io.images import Volume
from petseg.methods.outline import fill_enclosed
from petseg.methods.suv import segment_suv
from tests.methods.bodies import ORIGIN, SPACING, Body, standard_body

TUMOUR = (0.0, 10.0, -780.0)
SEMI = (40.0, 40.0, 60.0)  # about 400 ml


def limb_crop(body: Body, ct: bool = False) -> Study:
    """A crop around a tumour in a thigh (250 mm long): no trunk, no organ to place."""
    study = body.study(ct=ct)
    first, last = (int((z - ORIGIN[2]) / SPACING) for z in (-905.0, -655.0))
    origin = (ORIGIN[0], ORIGIN[1], ORIGIN[2] + first * SPACING)

    def cut(volume: Volume | None) -> Volume | None:
        return None if volume is None else Volume(volume.array[first:last].copy(), (SPACING,) * 3, origin)

    return make_study(cut(study.suv), cut(study.ct), cut(study.label), {"case": "crop"}, tracer="fdg")


def thigh(seed: int) -> Body:
    body = Body(seed)
    body.paint(body.cylinder((0, 10), (95, 95), (-1000, -600)), 0.35, -100.0)  # subcutaneous fat
    body.paint(body.cylinder((0, 10), (85, 85), (-1000, -600)), 0.7, 45.0)  # muscle
    body.paint(body.cylinder((-20, 20), (14, 14), (-1000, -600)), 0.3, 900.0)  # femur
    return body


def dice(study: Study, mask: np.ndarray) -> float:
    truth = study.label.array > 0
    return 2.0 * float((truth & mask).sum()) / float(truth.sum() + mask.sum())


def test_a_necrotic_sarcoma_keeps_its_core():
    body = thigh(1)
    body.paint(body.ellipsoid(TUMOUR, SEMI), 7.0, 40.0, lesion=True)  # viable rim ...
    body.paint(body.ellipsoid(TUMOUR, (26, 26, 44)), 0.5, 20.0)  # ... around a cold necrotic core
    study = limb_crop(body)
    outlined = segment_suv(study).mask.array > 0
    unfilled = segment_suv(study, {"outline.fill_enclosed": "false", "outline.adaptive": "null"}).mask.array > 0
    core = body.ellipsoid(TUMOUR, (20, 20, 36))[int((-905 - ORIGIN[2]) / SPACING):][:outlined.shape[0]]
    assert not unfilled[core].any() and outlined[core].all()
    assert dice(study, outlined) > 0.85 and dice(study, outlined) > dice(study, unfilled) + 0.05


def test_a_large_heterogeneous_tumour_is_outlined_at_its_own_level_not_the_threshold():
    body = thigh(2)
    tumour = body.ellipsoid(TUMOUR, SEMI)
    texture = ndimage.gaussian_filter(np.random.default_rng(2).standard_normal(tumour.shape), 2.0)
    texture = 3.0 + 1.0 * texture / texture[tumour].std()  # patchy uptake, SUV 3 +- 1, half of it under SUV 3
    body.paint(tumour, 0.0, 40.0, lesion=True)
    body.activity[tumour] = np.clip(texture[tumour], 1.2, None)
    study = limb_crop(body)
    outlined = segment_suv(study).mask.array > 0
    at_threshold = segment_suv(study, {"outline.adaptive": "null"}).mask.array > 0
    assert dice(study, at_threshold) < 0.75  # SUV 3 keeps the hotter patches
    assert dice(study, outlined) > 0.85


def test_an_outline_never_takes_the_liver_in():
    body = standard_body(3)
    body.node((-60.0, 5.0, -525.0), 40, 8.0)  # on the dome of the liver
    study = body.study()
    result = segment_suv(study)
    outside = (result.mask.array > 0) & (study.label.array == 0)
    assert result.liver is not None
    assert outside.sum() * study.suv.voxel_ml < 15.0


def test_a_water_dense_tumour_in_a_crop_is_not_urine_but_the_bladder_is():
    body = thigh(4)
    body.paint(body.ellipsoid(TUMOUR, (30, 30, 40)), 6.0, 25.0, lesion=True)  # myxoid: near water on CT
    body.paint(body.ellipsoid((40.0, -30.0, -700.0), (38, 38, 33)), 0.35, -100.0)  # perivesical fat ...
    body.paint(body.ellipsoid((40.0, -30.0, -700.0), (25, 25, 20)), 30.0, 5.0)  # ... around urine: a bladder
    rng = np.random.default_rng(4)
    body.ct += rng.normal(0.0, 20.0, body.ct.shape).astype(np.float32)  # the CT's noise on the PET grid
    study = limb_crop(body, ct=True)
    result = segment_suv(study)
    assert dice(study, result.mask.array > 0) > 0.7
    assert any(item["reason"] == "bladder" for item in result.suppressed)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_a_core_open_on_one_side_is_filled_in_the_planes_through_it(axis):
    shell = np.zeros((20, 20, 20), dtype=bool)
    shell[4:16, 4:16, 4:16] = True
    shell[6:14, 6:14, 6:14] = False
    opening = [slice(7, 13)] * 3
    opening[axis] = slice(14, 16)  # a gap in one wall: the core is not enclosed in 3D
    shell[tuple(opening)] = False
    filled = fill_enclosed(shell)
    assert filled[8:12, 8:12, 8:12].all()
    assert not filled[:4].any() and filled.sum() <= 12**3


def test_a_faint_tumour_whose_hot_parts_are_scattered_is_outlined_as_one_mass():
    """A large low-grade sarcoma: uptake SUV 2.4 +- 0.5 throughout, only scattered patches above SUV 3, none a mass
    on its own; joined above half the threshold they are one."""
    body = thigh(7)
    tumour = body.ellipsoid(TUMOUR, (55, 55, 80))  # about a litre
    texture = ndimage.gaussian_filter(np.random.default_rng(0).standard_normal(tumour.shape), 2.0)
    body.paint(tumour, 0.0, 40.0, lesion=True)
    body.activity[tumour] = np.clip(2.4 + 0.5 * texture[tumour] / texture[tumour].std(), 1.0, None)
    study = limb_crop(body)
    pieces = segment_suv(study, {"outline.adaptive": "null"}).mask.array > 0
    assert dice(study, pieces) < 0.3
    assert dice(study, segment_suv(study).mask.array > 0) > 0.9
