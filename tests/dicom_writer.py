"""Test helper: write a `Study` as DICOM PET (Bq/ml, int16, a rescale slope per slice) and CT series."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from petseg.io.images import Volume

PET_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
WEIGHT_KG, DOSE_BQ, HALF_LIFE_S, UPTAKE_S = 75.0, 350e6, 6586.2, 3600.0


def suv_to_bqml_factor() -> float:
    """Bq/ml per SUV for the header values this helper writes (scan one hour after injection)."""
    return DOSE_BQ * 2 ** (-UPTAKE_S / HALF_LIFE_S) / (WEIGHT_KG * 1000)


def _base(volume: Volume, modality: str, sop_class: str, series_uid: str, study_uid: str, frame_uid: str,
          k: int, scan: dt.datetime) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesInstanceUID, ds.StudyInstanceUID = modality, series_uid, study_uid
    ds.FrameOfReferenceUID = frame_uid
    ds.PatientID, ds.PatientName, ds.PatientSex = "PHANTOM01", "Phantom^Test", "M"
    ds.PatientWeight, ds.PatientSize = WEIGHT_KG, 1.78
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = scan.strftime("%Y%m%d")
    ds.SeriesTime = ds.AcquisitionTime = scan.strftime("%H%M%S")
    ds.StudyTime = ds.SeriesTime
    ds.SeriesNumber, ds.InstanceNumber = 2 if modality == "PT" else 1, k + 1
    ds.SeriesDescription = "PET AC" if modality == "PT" else "CT"
    ds.Manufacturer, ds.AccessionNumber, ds.ReferringPhysicianName, ds.StudyID = "petseg-test", "1", "", "1"
    direction = volume.direction_matrix
    position = volume.index_to_physical(np.array([k, 0, 0]))
    ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
    ds.ImageOrientationPatient = [f"{v:.6f}" for v in (*direction[:, 0], *direction[:, 1])]
    ds.PixelSpacing = [f"{volume.spacing[1]:.6f}", f"{volume.spacing[0]:.6f}"]
    ds.SliceThickness = f"{volume.spacing[2]:.6f}"
    ds.Rows, ds.Columns = volume.shape[1], volume.shape[2]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    return ds


def write_study_dicom(suv: Volume, ct: Volume | None, folder: Path, slice_positions: np.ndarray | None = None,
                      radiopharmaceutical: str = "Fluorodeoxyglucose") -> dict[str, str]:
    """PET (and CT, both on the PET grid) as DICOM files under `folder/pet` and `folder/ct`; returns UIDs.

    `slice_positions` (mm along the normal) can place the PET slices irregularly."""
    study_uid, frame_uid = generate_uid(), generate_uid()
    uids = {"pet": generate_uid(), "ct": generate_uid()}
    scan = dt.datetime(2024, 3, 5, 11, 0, 0)
    injection = scan - dt.timedelta(seconds=UPTAKE_S)
    factor = suv_to_bqml_factor()
    (folder / "pet").mkdir(parents=True, exist_ok=True)
    for k in range(suv.shape[0]):
        ds = _base(suv, "PT", PET_STORAGE, uids["pet"], study_uid, frame_uid, k, scan)
        if slice_positions is not None:
            origin = np.asarray(suv.origin) + suv.direction_matrix[:, 2] * (slice_positions[k] - slice_positions[0])
            ds.ImagePositionPatient = [f"{v:.6f}" for v in origin]
        activity = suv.array[k].astype(np.float64) * factor
        slope = max(float(activity.max()), 1.0) / 32000.0
        ds.RescaleSlope, ds.RescaleIntercept = f"{slope:.8g}", "0"
        ds.PixelData = np.rint(activity / float(ds.RescaleSlope)).astype(np.int16).tobytes()
        ds.Units, ds.DecayCorrection = "BQML", "START"
        ds.CorrectedImage = ["ATTN", "DECY", "SCAT"]
        item = Dataset()
        item.RadionuclideTotalDose, item.RadionuclideHalfLife = f"{DOSE_BQ:.6g}", f"{HALF_LIFE_S}"
        item.RadiopharmaceuticalStartTime = injection.strftime("%H%M%S")
        item.Radiopharmaceutical = radiopharmaceutical
        ds.RadiopharmaceuticalInformationSequence = Sequence([item])
        ds.save_as(folder / "pet" / f"pet_{k:04d}.dcm", enforce_file_format=True)
    if ct is not None:
        (folder / "ct").mkdir(parents=True, exist_ok=True)
        for k in range(ct.shape[0]):
            ds = _base(ct, "CT", CT_STORAGE, uids["ct"], study_uid, frame_uid, k, scan)
            ds.RescaleSlope, ds.RescaleIntercept = "1", "-1024"
            ds.PixelData = np.rint(ct.array[k] + 1024).astype(np.int16).tobytes()
            ds.save_as(folder / "ct" / f"ct_{k:04d}.dcm", enforce_file_format=True)
    return uids
