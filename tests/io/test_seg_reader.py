"""DICOM SEG read by frame position: SEGs without SpatialLocationsPreserved, SEGs of another series of the same
scan, SEGs of another scan (issue 14, items 5-6)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from petseg.data.phantom import make_phantom_study
from petseg.errors import PetsegError
from petseg.io.dicom import choose_ct, choose_pet, discover, read_pet_suv, read_series
from petseg.io.dicom_seg import read_dicom_mask, write_dicom_seg
from petseg.io.images import Volume
from tests.dicom_writer import write_study_dicom


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    """A PET series and a CT series at twice the in-plane resolution, one frame of reference; lesion labels."""
    study = make_phantom_study(seed=3, size="small", n_lesions=4).study
    suv = Volume(study.suv.array[40:64].copy(), study.suv.spacing, study.suv.index_to_physical([40, 0, 0]))
    ct_spacing = (suv.spacing[0] / 2, suv.spacing[1] / 2, suv.spacing[2])
    ct_origin = suv.index_to_physical(np.array([0, -0.25, -0.25]))  # voxel centres of a 2x finer grid
    ct = Volume(np.zeros((24, 192, 192), np.float32), ct_spacing, tuple(ct_origin))
    folder = tmp_path_factory.mktemp("scan")
    write_study_dicom(suv, ct, folder)
    series = discover(folder)
    pet = read_pet_suv(choose_pet(series, folder))[0]
    labels = np.zeros(pet.volume.shape, np.uint8)
    labels[3:7, 40:46, 50:57] = 1
    labels[15, 10:13, 80:83] = 1
    return folder, pet, read_series(choose_ct(series, choose_pet(series, folder), folder)), labels


def without_spatial_locations(path, out):
    dataset = pydicom.dcmread(path)
    for item in dataset.PerFrameFunctionalGroupsSequence:
        for derivation in item.get("DerivationImageSequence", []):
            for source in derivation.SourceImageSequence:
                del source.SpatialLocationsPreserved
    dataset.save_as(out)
    return out


def test_seg_without_spatial_locations_preserved(tmp_path, scan):
    _, pet, _, labels = scan
    seg = write_dicom_seg(labels, pet, tmp_path / "seg.dcm")
    other = without_spatial_locations(seg, tmp_path / "other_tool.dcm")
    np.testing.assert_array_equal(read_dicom_mask(other, pet).array, labels)


def cropped_series(pet, rows: slice, columns: slice, slices: slice, folder):
    """Another PET series of the same scan: a crop, with new series and instance UIDs."""
    folder.mkdir()
    series_uid = generate_uid()
    for dataset in pet.datasets[slices]:
        crop = pydicom.dcmread(dataset.filename) if hasattr(dataset, "filename") else dataset
        pixels = crop.pixel_array[rows, columns]
        position = np.array([float(v) for v in crop.ImagePositionPatient])
        position = position + rows.start * float(crop.PixelSpacing[0]) * np.array([0, 1, 0]) \
            + columns.start * float(crop.PixelSpacing[1]) * np.array([1, 0, 0])
        crop.ImagePositionPatient = [f"{v:.6f}" for v in position]
        crop.Rows, crop.Columns = pixels.shape
        crop.PixelData = np.ascontiguousarray(pixels).tobytes()
        crop.SeriesInstanceUID = series_uid
        crop.SOPInstanceUID = crop.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        crop.save_as(folder / f"{crop.SOPInstanceUID}.dcm")
    return read_pet_suv(choose_pet(discover(folder), folder))[0]


def test_whole_body_seg_on_a_cropped_pet(tmp_path, scan):
    _, pet, _, labels = scan
    seg = write_dicom_seg(labels, pet, tmp_path / "seg.dcm")
    cropped = cropped_series(pet, slice(30, 70), slice(45, 90), slice(2, 20), tmp_path / "crop")
    np.testing.assert_array_equal(read_dicom_mask(seg, cropped).array, labels[2:20, 30:70, 45:90])


def test_seg_made_on_the_ct_grid(tmp_path, scan):
    _, pet, ct, labels = scan
    fine = np.repeat(np.repeat(labels, 2, axis=1), 2, axis=2)  # the same lesions on the 2x finer CT grid
    seg = write_dicom_seg(fine, ct, tmp_path / "ct_seg.dcm")
    np.testing.assert_array_equal(read_dicom_mask(seg, pet).array, labels)


def test_seg_of_another_scan_is_one_clear_line(tmp_path, scan):
    _, pet, _, labels = scan
    seg = pydicom.dcmread(write_dicom_seg(labels, pet, tmp_path / "seg.dcm"))
    seg.FrameOfReferenceUID = generate_uid()
    seg.save_as(tmp_path / "foreign.dcm")
    with pytest.raises(PetsegError, match=r"the SEG belongs to another scan: its frame of reference"):
        read_dicom_mask(tmp_path / "foreign.dcm", pet)


def test_convert_mask_from_another_tool(tmp_path, scan, capsys):
    from petseg.cli.main import run
    from petseg.io.images import read_volume

    folder, pet, _, labels = scan
    other = without_spatial_locations(write_dicom_seg(labels, pet, tmp_path / "seg.dcm"), tmp_path / "other.dcm")
    assert run(["--quiet", "convert", "--pet", str(folder / "pet"), "--mask", str(other), "-o",
                str(tmp_path / "out")]) == 0
    np.testing.assert_array_equal(read_volume(tmp_path / "out" / "label.nii.gz").array, labels)
