"""The report's pictures: MIPs with sides, colour bar and readable numbers; axial panels of the largest lesions."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.text import Annotation

from petseg.data.study import make_study
from petseg.io.images import Volume
from petseg.quantify import quantify
from petseg.report.axial import draw_axial, largest_lesions
from petseg.report.colours import TRUTH_COLOUR, lesion_colour
from petseg.report.mip import draw_mip
from petseg.results import SegmentResult

FLIP_X = (-1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0)


def _result(direction=None, with_ct=False, ct_slices=slice(None)) -> SegmentResult:
    """A box-shaped body with a cluster of eight small lesions, a lesion on the patient's right and a big one."""
    suv = np.full((40, 64, 64), 0.0, np.float32)
    suv[2:38, 12:52, 8:56] = 1.0
    mask = np.zeros(suv.shape, np.uint8)
    for k in range(8):  # eight lesions two voxels apart: their numbers would pile up on one spot
        mask[20 + 2 * (k % 2), 30, 30 + 2 * (k // 2)] = 1
    mask[10, 30, 12:14] = 1  # the patient's right (LPS: low x)
    mask[28:34, 24:30, 40:46] = 1
    suv[mask > 0] = 6.0
    if direction is not None:  # the same body stored with the x axis reversed
        suv, mask = suv[:, :, ::-1].copy(), mask[:, :, ::-1].copy()
    grid = {"spacing": (4.0, 4.0, 4.0), **({"direction": direction} if direction else {})}
    pet = Volume(suv, **grid)
    ct_array = np.where(suv > 0, 40.0, -1000.0).astype(np.float32)[ct_slices]
    ct = Volume(ct_array, grid["spacing"], (0.0, 0.0, 4.0 * (ct_slices.start or 0))) if with_ct else None
    study = make_study(pet, ct, Volume(mask, **grid), {"case": "box"})
    return SegmentResult(study, study.suv.with_array(mask), quantify(study.suv, study.suv.with_array(mask)), {})


def _numbers(ax) -> list[Annotation]:
    return [t for t in ax.texts if isinstance(t, Annotation) and t.get_text().isdigit()]


def test_mip_numbers_never_overlap_and_sides_are_labelled():
    result = _result()
    fig = draw_mip(result)
    renderer = fig.canvas.get_renderer()
    coronal, sagittal, bar = fig.axes[:3]
    for ax in (coronal, sagittal):
        numbers = _numbers(ax)
        assert sorted(int(t.get_text()) for t in numbers) == list(range(1, 11))
        extents = [t.get_window_extent(renderer) for t in numbers]
        for a, b in itertools.combinations(extents, 2):
            assert not a.overlaps(b), "two lesion numbers overlap"
    sides = {ax: {t.get_text(): t.get_position()[0] for t in ax.texts if t.get_text() in "RLAP"}
             for ax in (coronal, sagittal)}
    assert sides[coronal]["R"] < 0.5 < sides[coronal]["L"]
    assert sides[sagittal]["A"] < 0.5 < sides[sagittal]["P"]
    assert "SUV" in bar.get_ylabel() and bar.get_ylim() == pytest.approx((0.0, 8.0))
    contour_colours = {to_hex(c) for collection in coronal.collections for c in collection.get_edgecolor()}
    assert TRUTH_COLOUR in contour_colours
    plt.close(fig)


@pytest.mark.parametrize("direction", [None, FLIP_X])
def test_patient_right_is_on_the_viewer_left_for_any_axis_sign(direction):
    result = _result(direction)
    fig = draw_mip(result)
    coronal = fig.axes[0]
    right = next(lesion for lesion in result.quantification.lesions if lesion.voxels == 2)
    label = next(t for t in _numbers(coronal) if t.get_text() == str(right.id))
    columns = coronal.images[0].get_array().shape[1]
    assert label.xy[0] < columns / 3
    plt.close(fig)


@pytest.mark.filterwarnings("ignore:CT covers:petseg.errors.PetsegWarning")
def test_axial_panels_show_the_largest_lesions_outlined():
    pet_only, fused = _result(), _result(with_ct=True)
    biggest = largest_lesions(pet_only)
    volumes = [lesion.volume_ml for lesion in pet_only.quantification.lesions]
    assert len(biggest) == 5 and biggest[0].volume_ml == max(volumes)
    for result, layers in ((pet_only, 1), (fused, 2)):
        fig = draw_axial(result)
        assert len(fig.axes) == 5
        for ax, lesion in zip(fig.axes, largest_lesions(result), strict=True):
            assert len(ax.images) == layers  # PET alone, or CT with the PET over it
            assert ax.get_title().startswith(f"lesion {lesion.id}:")
            outline = {to_hex(c) for collection in ax.collections for c in collection.get_edgecolor()}
            assert lesion_colour(lesion.id) in outline
        plt.close(fig)
    partial = _result(with_ct=True, ct_slices=slice(0, 20))  # the CT covers the lower half (z index < 20)
    fig = draw_axial(partial)
    for ax, lesion in zip(fig.axes, largest_lesions(partial), strict=True):
        below = lesion.centroid_mm[2] < 4.0 * 19.5
        assert len(ax.images) == (2 if below else 1) and ("no CT here" in ax.get_title()) != below
    plt.close(fig)
    empty = _result()
    empty.quantification = quantify(empty.study.suv, empty.study.suv.with_array(np.zeros(empty.study.suv.shape,
                                                                                        np.uint8)))
    assert draw_axial(empty) is None
