from __future__ import annotations

import shutil
import zipfile

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from petseg.data.dicom_study import load_dicom_study
from petseg.errors import PetsegError, PetsegWarning
from petseg.io.dicom import choose_pet, discover, read_pet_suv
from petseg.io.dicom_seg import rasterise_rtstruct, read_dicom_mask, write_dicom_seg
from petseg.io.images import Volume
from tests.dicom_writer import suv_to_bqml_factor, write_study_dicom


@pytest.fixture(scope="module")
def small_study():
    from petseg.data.phantom import make_phantom_study

    phantom = make_phantom_study(seed=3, size="small", n_lesions=4)
    crop = (slice(40, 70), slice(None), slice(None))  # 30 slices keep the DICOM tests quick
    study = phantom.study
    return (Volume(study.suv.array[crop].copy(), study.suv.spacing, study.suv.index_to_physical([40, 0, 0])),
            Volume(study.ct.array[crop].copy(), study.ct.spacing, study.ct.index_to_physical([40, 0, 0])))


@pytest.fixture(scope="module")
def dicom_folder(tmp_path_factory, small_study):
    folder = tmp_path_factory.mktemp("dicom")
    write_study_dicom(*small_study, folder)
    return folder


def test_phantom_round_trip_through_dicom(dicom_folder, small_study):
    suv, ct = small_study
    study = load_dicom_study(dicom_folder)  # PET and CT found in one folder
    assert study.suv.same_grid(suv)
    # int16 storage with a slope per slice: error under half a quantisation step of the hottest slice
    np.testing.assert_allclose(study.suv.array, suv.array, atol=suv.array.max() / 32000 + 1e-4)
    np.testing.assert_allclose(study.ct.array, ct.array, atol=0.5)
    conversion = study.meta["conversion"]
    assert conversion["suv_factor"] == pytest.approx(1 / suv_to_bqml_factor(), rel=1e-9)
    assert conversion["tags_used"]["uptake_min"] == 60.0


def test_zip_input_and_separate_ct_folder(tmp_path, dicom_folder, small_study):
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in (dicom_folder / "pet").iterdir():
            handle.write(path, f"pet/{path.name}")
    study = load_dicom_study(archive, dicom_folder / "ct")
    assert study.suv.same_grid(small_study[0]) and study.ct is not None


def test_missing_slice_is_refused(tmp_path, dicom_folder):
    folder = tmp_path / "gap"
    shutil.copytree(dicom_folder / "pet", folder)
    (folder / "pet_0010.dcm").unlink()
    with pytest.raises(PetsegError, match=r"gap.*slices are missing"):
        read_pet_suv(choose_pet(discover(folder), folder))


def test_non_uniform_slices_are_resampled(tmp_path, small_study):
    suv, _ = small_study
    positions = np.arange(suv.shape[0]) * suv.spacing[2]
    positions[10:] += 0.6  # one slice step 7.5 % longer
    write_study_dicom(suv, None, tmp_path, slice_positions=positions)
    with pytest.warns(PetsegWarning, match=r"not uniform.*spread 0\.600 mm"):
        volume, _ = read_pet_suv(choose_pet(discover(tmp_path), tmp_path))
    assert volume.resampled
    assert volume.volume.spacing[2] == pytest.approx(positions[-1] / (len(positions) - 1))


def test_two_pet_series_ask_for_a_choice(tmp_path, small_study):
    write_study_dicom(small_study[0], None, tmp_path / "a")
    uids = write_study_dicom(small_study[0], None, tmp_path / "b")
    found = discover(tmp_path)
    with pytest.raises(PetsegError, match=r"2 attenuation-corrected PET series.*--pet-series"):
        choose_pet(found, tmp_path)
    assert choose_pet(found, tmp_path, uids["pet"]).uid == uids["pet"]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not DICOM")
    with pytest.raises(PetsegError, match=r"no DICOM series"):
        discover(empty)


def test_rtstruct_holes_by_even_odd(dicom_folder):
    pet, _ = read_pet_suv(choose_pet(discover(dicom_folder), dicom_folder))
    grid = pet.volume
    k = 5
    def square(half: float) -> list[float]:
        centre = grid.index_to_physical(np.array([k, 48, 48]))
        corners = [(-half, -half), (half, -half), (half, half), (-half, half)]
        return [float(v) for dx, dy in corners for v in (centre[0] + dx, centre[1] + dy, centre[2])]
    rt = Dataset()
    rt.Modality = "RTSTRUCT"
    roi = Dataset()
    roi.ROINumber, roi.ROIName = 1, "ring"
    rt.StructureSetROISequence = Sequence([roi])
    contours = []
    for half in (27.0, 9.0):  # 6 mm voxels: outer 9x9 voxel centres inside, inner 3x3 hole
        item = Dataset()
        item.ContourGeometricType = "CLOSED_PLANAR"
        item.ContourData = square(half)
        item.NumberOfContourPoints = 4
        contours.append(item)
    roi_contour = Dataset()
    roi_contour.ReferencedROINumber = 1
    roi_contour.ContourSequence = Sequence(contours)
    rt.ROIContourSequence = Sequence([roi_contour])
    mask = rasterise_rtstruct(rt, grid).array
    assert mask[k].sum() == 9 * 9 - 3 * 3 and mask.sum() == mask[k].sum()
    assert mask[k, 48, 48] == 0 and mask[k, 48, 45] == 1
    with pytest.raises(PetsegError, match=r"no ROI named 'GTV'"):
        rasterise_rtstruct(rt, grid, "GTV")


def test_dicom_seg_round_trip(tmp_path, dicom_folder):
    pet, _ = read_pet_suv(choose_pet(discover(dicom_folder), dicom_folder))
    labels = np.zeros(pet.volume.shape, np.uint8)
    labels[3:6, 40:45, 40:45] = 1
    labels[20, 10:12, 10:12] = 2
    for per_lesion in (False, True):
        path = write_dicom_seg(labels, pet, tmp_path / f"seg_{per_lesion}.dcm", per_lesion=per_lesion)
        seg = hd.seg.segread(str(path))
        assert len(seg.SegmentSequence) == (2 if per_lesion else 1)
        assert seg.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodeMeaning == "Lesion"
        assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == pet.datasets[0].SeriesInstanceUID
        back = read_dicom_mask(path, pet)
        np.testing.assert_array_equal(back.array, (labels > 0).astype(np.uint8))


@pytest.mark.slow
def test_real_sts_series(real_data):
    folder = real_data / "sts_001_wb_pet_rtstruct"
    with pytest.warns(PetsegWarning, match=r"not uniform"):
        study = load_dicom_study(folder / "pet", mask=folder / "rtstruct" / "1-1.dcm", roi="GTV_Mass")
    assert study.meta["conversion"]["suv_factor"] == pytest.approx(2.42903e-4, rel=1e-4)
    assert int(study.label.array.sum()) == 5095
    assert float(study.suv.array[study.label.array > 0].max()) == pytest.approx(7.91, abs=0.005)
    assert study.label.array.sum() * study.suv.voxel_ml == pytest.approx(366.1, abs=0.1)
    assert float(study.suv.array.max()) == pytest.approx(66.5, abs=0.05)  # per-slice slopes, no overflow
    edema = read_dicom_mask(folder / "rtstruct" / "1-1.dcm", study.dicom, "GTV_Edema")
    assert int(edema.array.sum()) == 8058
    with pytest.raises(PetsegError, match=r"2 ROIs .*--roi"):
        read_dicom_mask(folder / "rtstruct" / "1-1.dcm", study.dicom)
    assert pydicom.dcmread(str(folder / "rtstruct" / "1-1.dcm")).Modality == "RTSTRUCT"


@pytest.mark.parametrize("kept", [0.6, 0.05, 0.01])  # cut in the pixel data, at its start, in the header
def test_truncated_slice_is_one_line_naming_the_file(tmp_path, dicom_folder, kept):
    folder = tmp_path / "pet"
    shutil.copytree(dicom_folder / "pet", folder)
    victim = sorted(folder.iterdir())[0]  # the first slice: dropping it would go unnoticed
    data = victim.read_bytes()
    victim.write_bytes(data[: int(len(data) * kept)])
    with pytest.raises(PetsegError, match=rf"cannot read DICOM file .*{victim.name}: .*truncated or damaged"):
        load_dicom_study(folder)
