"""DICOM-SEG out: labelled for viewers (series description and number, segments numbered as in the report,
algorithm and version), readable by highdicom, and every UID it references resolves to a PET file."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.uid import UID

from petseg import __version__
from petseg.io.dicom import choose_pet, discover, read_pet_suv
from petseg.io.dicom_seg import SEG_SERIES_NUMBER, seg_description, write_dicom_seg
from petseg.io.images import Volume
from petseg.quantify import quantify
from tests.dicom_writer import write_study_dicom


@pytest.fixture(scope="module")
def pet(tmp_path_factory):
    from petseg.data.phantom import make_phantom_study

    phantom = make_phantom_study(seed=3, size="small", n_lesions=4).study
    crop = (slice(40, 64), slice(None), slice(None))
    folder = tmp_path_factory.mktemp("dicom")
    write_study_dicom(Volume(phantom.suv.array[crop].copy(), phantom.suv.spacing,
                             phantom.suv.index_to_physical([40, 0, 0])), None, folder)
    return read_pet_suv(choose_pet(discover(folder), folder))[0], folder


def _referenced_uids(seg: hd.seg.Segmentation) -> set[str]:
    uids = {str(item.ReferencedSOPInstanceUID) for item in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    for frame in seg.PerFrameFunctionalGroupsSequence:
        for derivation in frame.DerivationImageSequence:
            uids |= {str(source.ReferencedSOPInstanceUID) for source in derivation.SourceImageSequence}
    return uids


def test_seg_is_labelled_as_in_the_report_and_references_the_pet(tmp_path, pet):
    series, folder = pet
    mask = np.zeros(series.volume.shape, np.uint8)
    mask[3:6, 40:45, 40:45] = 1
    mask[15, 10:12, 10:12] = 1
    mask[18:20, 60:64, 30:33] = 1
    labels = quantify(series.volume, series.volume.with_array(mask)).labels.array
    method = {"name": "suv"}
    path = write_dicom_seg(labels, series, tmp_path / "seg.dcm", per_lesion=True, description=seg_description(method))
    seg = hd.seg.segread(str(path))
    assert seg.SeriesDescription == "petseg lesions (suv method)" and seg.SeriesNumber == SEG_SERIES_NUMBER
    assert [item.SegmentLabel for item in seg.SegmentSequence] == ["lesion 1", "lesion 2", "lesion 3"]
    algorithm = seg.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    assert algorithm.AlgorithmName == "petseg" and algorithm.AlgorithmVersion == __version__
    for number in (1, 2, 3):
        pixels = seg.get_pixels_by_source_instance([str(ds.SOPInstanceUID) for ds in series.datasets],
                                                   segment_numbers=[number])[..., 0]
        np.testing.assert_array_equal(pixels > 0, labels == number)
    read_back = {str(pydicom.dcmread(str(f)).SOPInstanceUID): f for f in (folder / "pet").iterdir()}
    referenced = _referenced_uids(seg)
    assert referenced and referenced <= set(read_back)  # pydicom reads a PET file for every referenced UID
    for uid in (*referenced, seg.SOPInstanceUID, seg.SeriesInstanceUID, seg.StudyInstanceUID,
                seg.ReferencedSeriesSequence[0].SeriesInstanceUID):
        assert UID(str(uid)).is_valid
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == series.datasets[0].SeriesInstanceUID
    assert seg.StudyInstanceUID == series.datasets[0].StudyInstanceUID


def test_seg_description_names_the_method():
    assert seg_description({"name": "model", "recipes": ["tiny_unet"]}) == "petseg lesions (trained models: tiny_unet)"
    assert len(seg_description({"name": "model", "recipes": ["a" * 80]})) == 64
    nnunet = {"name": "nnunet", "description": "nnU-Net v2 Dataset221_AutoPETII_2023 3d_fullres folds 0-4"}
    assert seg_description(nnunet) == nnunet["description"]  # "petseg: " would pass 64 characters
    short = {"name": "nnunet", "description": "nnU-Net v2 Dataset221_AutoPETII 3d_fullres folds 0-4"}
    assert seg_description(short) == "petseg: nnU-Net v2 Dataset221_AutoPETII 3d_fullres folds 0-4"
    long = {"name": "nnunet", "description": "nnU-Net v2 Dataset999_" + "x" * 60 + " 3d_fullres folds 0-4"}
    assert seg_description(long).startswith("nnU-Net v2 Dataset999_") and len(seg_description(long)) == 64
