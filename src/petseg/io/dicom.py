"""DICOM series in: discovery in folders or zips, volumes from slices, PET to SUV, CT in HU.

Slices are sorted by ImagePositionPatient along the slice normal; RescaleSlope/Intercept are applied
per slice in float (series readers that keep the first slice's integer type overflow on real PET,
where every slice has its own slope); missing slices are refused; non-uniform slice spacing is
resampled onto a uniform grid with a warning; files without a Part-10 header are read.
"""

from __future__ import annotations

import io
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ImplicitVRLittleEndian

from petseg.errors import ImportantWarning, PetsegError, PetsegWarning
from petseg.io.images import Volume
from petseg.io.suv import SuvConversion, SuvOverrides, suv_conversion

GAP_FACTOR = 1.5  # a step this much larger than the typical slice spacing means slices are missing
IMAGE_MODALITIES = ("PT", "CT")  # what petseg reads as volumes
MEDIA_DIRECTORY = "1.2.840.10008.1.3.10"  # DICOMDIR: a Part-10 file without series
UNIFORM_TOLERANCE = 0.01  # relative spread of slice steps tolerated without resampling


@dataclass(frozen=True)
class Source:
    """Where one DICOM file lives: a path, or a member of a zip archive."""

    path: Path
    member: str | None = None

    def read(self, pixels: bool) -> Dataset:
        """The dataset (headers only unless `pixels`); files without a Part-10 header are accepted. An image
        whose file ends before its pixel data is refused."""
        with self._open() as handle, warnings.catch_warnings():  # pydicom's notes on odd encodings: not ours
            warnings.filterwarnings("ignore", category=UserWarning, module="pydicom")
            dataset = pydicom.dcmread(handle, stop_before_pixels=not pixels, force=True)
            if not pixels and str(dataset.get("Modality", "")) in IMAGE_MODALITIES and not handle.read(1):
                raise damaged_slice(self, EOFError("it ends before its pixel data"))
        if "TransferSyntaxUID" not in dataset.file_meta:
            dataset.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        return dataset

    def _open(self) -> BinaryIO:
        if self.member is None:
            return self.path.open("rb")
        with zipfile.ZipFile(self.path) as archive:
            return io.BytesIO(archive.read(self.member))

    def has_part10_preamble(self) -> bool:
        """True when the file starts like a DICOM Part-10 file ('DICM' after the 128-byte preamble)."""
        with self._open() as handle:
            return handle.read(132)[128:132] == b"DICM"

    def __str__(self) -> str:
        return f"{self.path}:{self.member}" if self.member else str(self.path)


def damaged_slice(source: Source, exc: Exception) -> PetsegError:
    """The one line for a DICOM file that cannot be read through."""
    reason = str(exc).split(" - ")[0].strip() or type(exc).__name__
    return PetsegError(f"cannot read DICOM file {source}: {reason}; the file is truncated or damaged: copy or "
                       "export the series again")


@dataclass
class Series:
    """The files of one SeriesInstanceUID and their headers (without pixels)."""

    uid: str
    modality: str
    description: str
    study_uid: str
    frame_of_reference: str
    sources: list[Source] = field(default_factory=list)
    headers: list[Dataset] = field(default_factory=list)

    def summary(self) -> str:
        """One line for messages: modality, description, size, UID."""
        return f"{self.modality} '{self.description}' ({len(self.sources)} files, SeriesInstanceUID {self.uid})"

    @property
    def attenuation_corrected(self) -> bool:
        """True unless the headers or description say the PET is not attenuation corrected."""
        corrected = [str(c).upper() for c in self.headers[0].get("CorrectedImage", [])]
        text = self.description.upper()
        return ("ATTN" in corrected if corrected else True) and not any(k in text for k in ("NAC", "NOAC", "NON AC"))


def discover(path: str | Path) -> list[Series]:
    """Every image series under a folder (recursively) or in a zip archive, grouped by SeriesInstanceUID."""
    path = Path(path)
    if not path.exists():
        raise PetsegError(f"not found: {path}")
    if path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            sources = [Source(path, name) for name in archive.namelist() if not name.endswith("/")]
    elif path.is_dir():
        sources = [Source(p) for p in sorted(path.rglob("*")) if p.is_file()]
    else:
        sources = [Source(path)]
    found: dict[str, Series] = {}
    for source in sources:
        try:
            header = source.read(pixels=False)
        except (InvalidDicomError, OSError, ValueError, EOFError, AttributeError, KeyError) as exc:
            if source.has_part10_preamble():  # a DICOM file, damaged: never drop a slice silently
                raise damaged_slice(source, exc) from None
            continue
        uid, modality = header.get("SeriesInstanceUID"), header.get("Modality")
        if not uid or not modality:
            if _damaged_part10(source, header):
                raise damaged_slice(source, ValueError("it ends before its SeriesInstanceUID and Modality"))
            continue
        series = found.setdefault(str(uid), Series(str(uid), str(modality), str(header.get("SeriesDescription", "")),
                                                   str(header.get("StudyInstanceUID", "")),
                                                   str(header.get("FrameOfReferenceUID", ""))))
        series.sources.append(source)
        series.headers.append(header)
    if not found:
        raise PetsegError(f"no DICOM series found in {path}")
    return list(found.values())


def _damaged_part10(source: Source, header: Dataset) -> bool:
    """A Part-10 file that is no DICOMDIR yet lacks what every composite object has: cut short."""
    sop_class = str(header.file_meta.get("MediaStorageSOPClassUID", ""))
    return sop_class != MEDIA_DIRECTORY and source.has_part10_preamble()


def _pick(candidates: list[Series], kind: str, where: Path | str, option: str) -> Series:
    if len(candidates) == 1:
        return candidates[0]
    listing = "; ".join(s.summary() for s in candidates)
    raise PetsegError(f"{len(candidates)} {kind} series in {where}: {listing}; choose one with {option} UID")


def find_series(series: list[Series], uid: str) -> Series:
    """The series with this SeriesInstanceUID."""
    for item in series:
        if item.uid == uid:
            return item
    raise PetsegError(f"no series with SeriesInstanceUID {uid}; found: {'; '.join(s.summary() for s in series)}")


def choose_pet(series: list[Series], where: Path | str, uid: str | None = None) -> Series:
    """The PET series: the one named by `uid`, else the attenuation-corrected PT series."""
    if uid:
        return find_series(series, uid)
    pets = [s for s in series if s.modality == "PT"]
    if not pets:
        raise PetsegError(f"no PET (Modality PT) series in {where}; found: {'; '.join(s.summary() for s in series)}")
    corrected = [s for s in pets if s.attenuation_corrected] or pets
    return _pick(corrected, "attenuation-corrected PET", where, "--pet-series")


def choose_ct(series: list[Series], pet: Series, where: Path | str, uid: str | None = None,
              same_study_only: bool = True) -> Series | None:
    """The CT of the PET's study (same frame of reference, else same study), None when there is none.

    With `same_study_only` False (a CT folder the user named), any CT series qualifies.
    """
    if uid:
        return find_series(series, uid)
    cts = [s for s in series if s.modality == "CT"]
    same = [s for s in cts if s.frame_of_reference == pet.frame_of_reference] or \
           [s for s in cts if s.study_uid == pet.study_uid] or ([] if same_study_only else cts)
    if not same:
        return None
    if len(same) > 1:  # e.g. a low-dose attenuation CT and a diagnostic CT: take the one with most slices
        most = max(len(s.sources) for s in same)
        same = [s for s in same if len(s.sources) == most]
    return _pick(same, "CT", where, "--ct-series")


@dataclass
class SeriesVolume:
    """A series read into a volume, with its datasets in slice order (for DICOM-SEG references)."""

    volume: Volume
    datasets: list[Dataset]
    positions: np.ndarray  # slice positions along the normal (mm), as acquired
    resampled: bool


def read_series(series: Series, value_scale: float = 1.0) -> SeriesVolume:
    """Pixels of a single-frame series as a float32 volume: rescaled per slice, times `value_scale`."""
    datasets = [source.read(pixels=True) for source in series.sources]
    if any(int(ds.get("NumberOfFrames", 1) or 1) > 1 for ds in datasets):
        raise PetsegError(f"{series.summary()} is a multi-frame object; petseg reads single-frame slices")
    pixels = {id(ds): _rescaled(ds, source) for ds, source in zip(datasets, series.sources, strict=True)}
    orientation = np.array([float(v) for v in datasets[0].ImageOrientationPatient])
    row, column = orientation[:3], orientation[3:]
    normal = np.cross(row, column)
    positions = np.array([np.dot(np.array([float(v) for v in ds.ImagePositionPatient]), normal) for ds in datasets])
    order = np.argsort(positions, kind="stable")
    datasets = [datasets[i] for i in order]
    positions = positions[order]
    slices = np.stack([pixels[id(ds)] * value_scale for ds in datasets]).astype(np.float32)
    spacing_z = _check_spacing(positions, series)
    resampled = False
    if len(positions) > 1:
        steps = np.diff(positions)
        if steps.max() - steps.min() > UNIFORM_TOLERANCE * spacing_z:
            warnings.warn(f"{series.modality} slice spacing is not uniform ({steps.min():.3f}-{steps.max():.3f} mm, "
                          f"spread {steps.max() - steps.min():.3f} mm); resampled onto a uniform {spacing_z:.4f} mm "
                          "grid", PetsegWarning, stacklevel=2)
            slices = _uniform(slices, positions, spacing_z)
            resampled = True
    pixel_spacing = [float(v) for v in datasets[0].PixelSpacing]  # (between rows, between columns)
    direction = np.stack([row, column, normal], axis=1)
    volume = Volume(slices, (pixel_spacing[1], pixel_spacing[0], spacing_z),
                    tuple(float(v) for v in datasets[0].ImagePositionPatient), tuple(direction.ravel()))
    return SeriesVolume(volume, datasets, positions, resampled)


def _rescaled(dataset: Dataset, source: Source) -> np.ndarray:
    """Stored pixels times this slice's RescaleSlope plus its RescaleIntercept, in float64."""
    slope = float(dataset.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(dataset.get("RescaleIntercept", 0.0) or 0.0)
    try:
        stored = dataset.pixel_array
    except Exception as exc:  # pydicom raises several kinds for short or missing pixel data
        raise damaged_slice(source, exc) from None
    return stored.astype(np.float64) * slope + intercept


def _check_spacing(positions: np.ndarray, series: Series) -> float:
    """The typical slice step; refuses duplicate positions and gaps (missing slices)."""
    if len(positions) < 2:
        return float(series.headers[0].get("SliceThickness", 1.0) or 1.0)
    steps = np.diff(positions)
    if steps.min() < 1e-3:
        raise PetsegError(f"{series.summary()}: two slices share a position; the folder mixes series or frames")
    typical = float(np.median(steps))
    gaps = np.flatnonzero(steps > GAP_FACTOR * typical)
    if gaps.size:
        k = gaps[0]
        raise PetsegError(f"{series.summary()}: {gaps.size} gap(s) in the slices, e.g. {steps[k]:.2f} mm between "
                          f"positions {positions[k]:.2f} and {positions[k + 1]:.2f} (typical step {typical:.2f} mm): "
                          "slices are missing")
    return float((positions[-1] - positions[0]) / (len(positions) - 1))


def _uniform(slices: np.ndarray, positions: np.ndarray, step: float) -> np.ndarray:
    """Slices linearly interpolated at uniformly spaced positions from the first to the last."""
    targets = positions[0] + step * np.arange(len(positions))
    upper = np.clip(np.searchsorted(positions, targets), 1, len(positions) - 1)
    weight = ((targets - positions[upper - 1]) / (positions[upper] - positions[upper - 1])).astype(np.float32)
    return slices[upper - 1] * (1 - weight)[:, None, None] + slices[upper] * weight[:, None, None]


def suv_header(dataset: Dataset) -> dict[str, Any]:
    """The SUV-relevant values of one PET instance as a plain mapping (the input of `suv_conversion`)."""
    keys = ("SeriesDate", "SeriesTime", "AcquisitionDate", "AcquisitionTime", "PatientWeight", "PatientSize",
            "PatientSex", "Units", "DecayCorrection", "CorrectedImage")
    header = {key: _plain(dataset.get(key)) for key in keys if dataset.get(key) not in (None, "")}
    if "RadiopharmaceuticalInformationSequence" in dataset and dataset.RadiopharmaceuticalInformationSequence:
        item = dataset.RadiopharmaceuticalInformationSequence[0]
        for key in ("RadionuclideTotalDose", "RadionuclideHalfLife", "RadiopharmaceuticalStartTime",
                    "RadiopharmaceuticalStartDateTime"):
            if item.get(key) not in (None, ""):
                header[key] = _plain(item.get(key))
    philips = {}
    for tag, name in (((0x7053, 0x1000), "SUVScaleFactor"), ((0x7053, 0x1009), "ActivityConcentrationScaleFactor")):
        if tag in dataset:
            philips[name] = _plain(dataset[tag].value)
    header["PhilipsPETPrivateGroup"] = philips
    if (0x0009, 0x100D) in dataset:
        header["GEPrivatePostInjectionDateTime"] = _plain(dataset[0x0009, 0x100D].value)
    return header


def _plain(value: Any) -> Any:
    """pydicom values as plain Python (numbers, strings, lists)."""
    if isinstance(value, bytes):
        return value.decode("ascii", "ignore").strip("\x00 ")
    if isinstance(value, pydicom.multival.MultiValue | list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, pydicom.valuerep.DSfloat | pydicom.valuerep.IS | float | int):
        return float(value) if isinstance(value, pydicom.valuerep.DSfloat | float) else int(value)
    return str(value).strip() if value is not None else None


def read_pet_suv(series: Series, overrides: SuvOverrides | None = None) -> tuple[SeriesVolume, SuvConversion]:
    """The PET series in SUVbw, and how the factor was found."""
    conversion = suv_conversion([suv_header(h) for h in series.headers], overrides)
    for message in conversion.warnings:  # implausible uptake time, weight or dose: the SUV may be wrong
        warnings.warn(message, ImportantWarning, stacklevel=2)
    return read_series(series, conversion.factor), conversion
