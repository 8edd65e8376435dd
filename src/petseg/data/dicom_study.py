"""A `Study` from DICOM: PET series to SUV, the CT of the same study, an optional SEG/RTSTRUCT mask."""

from __future__ import annotations

import warnings
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from petseg.data.study import NOT_SUV, Study, make_study, relative_to_background
from petseg.errors import PetsegError, PetsegWarning
from petseg.io.dicom import SeriesVolume, choose_ct, choose_pet, discover, read_pet_suv, read_series
from petseg.io.dicom_seg import read_dicom_mask
from petseg.io.suv import SuvConversion, SuvOverrides


def is_dicom_input(path: str | Path | None) -> bool:
    """True for a folder or a zip archive (DICOM input), False for image files."""
    if path is None:
        return False
    path = Path(path)
    return path.is_dir() or (path.is_file() and zipfile.is_zipfile(path))


def load_dicom_study(pet: str | Path, ct: str | Path | None = None, *, mask: str | Path | None = None,
                     roi: str | None = None, overrides: SuvOverrides | None = None, pet_series: str | None = None,
                     ct_series: str | None = None, tracer: str | None = None) -> Study:
    """Read a PET (converted to SUV), the CT of the same study (from `ct`, else from the PET's folder if it
    holds one) and an optional mask, all on the PET grid. `meta` records the conversion. The tracer is `tracer`,
    else the one the radiopharmaceutical names (`petseg.tracers.decide_tracer`)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PetsegWarning)
        found = discover(pet)
        pet_choice = choose_pet(found, pet, pet_series)
        pet_volume, conversion = read_pet_suv(pet_choice, overrides)
        if conversion.relative:  # --units none: the values relative to the image's own background, not SUV
            relative, background = relative_to_background(pet_volume.volume)
            pet_volume = replace(pet_volume, volume=relative)
            conversion.factor = 1.0 / background
            conversion.tags_used["background_stored_units"] = background
        ct_found = discover(ct) if ct is not None else found
        ct_choice = choose_ct(ct_found, pet_choice, ct or pet, ct_series, same_study_only=ct is None)
        if ct is not None and ct_choice is None:
            raise PetsegError(f"no CT series in {ct}")
        ct_volume = read_series(ct_choice).volume if ct_choice is not None else None
        label = read_dicom_mask(mask, pet_volume, roi) if mask is not None else None
    messages = [str(w.message) for w in caught if issubclass(w.category, PetsegWarning)]
    for w in caught:  # pass every warning on to the caller (the CLI prints them)
        warnings.warn(w.message, w.category, stacklevel=2)
    meta: dict[str, Any] = {
        "pet_path": str(pet), "ct_path": str(ct or pet) if ct_choice is not None else None,
        "label_path": str(mask) if mask is not None else None,
        "case": str(pet_choice.headers[0].get("PatientID", "") or Path(pet).name),
        "acquisition": acquisition_facts(pet_choice.headers[0]),
        "suv_source": _source(conversion), "values": NOT_SUV if conversion.relative else "SUV",
        "conversion": {**conversion.as_dict(), "warnings": messages,
                       "pet_series": {"uid": pet_choice.uid, "description": pet_choice.description,
                                      "files": len(pet_choice.sources), "source": str(Path(pet).resolve()),
                                      "resampled_to_uniform_slices": pet_volume.resampled},
                       "ct_series": None if ct_choice is None else {
                           "uid": ct_choice.uid, "description": ct_choice.description,
                           "files": len(ct_choice.sources), "source": str(Path(ct or pet).resolve())}}}
    study = make_study(pet_volume.volume, ct_volume, label, meta, tracer)
    study.dicom = pet_volume
    if label is not None and not np.any(label.array):
        warnings.warn("the DICOM mask is empty on the PET grid", PetsegWarning, stacklevel=2)
    return study


def _source(conversion: SuvConversion) -> str:
    """Where the PET's values came from, in one line."""
    if conversion.relative:
        return (f"DICOM Units {conversion.tags_used.get('Units') or 'missing'}: relative to the image's background "
                f"({conversion.tags_used['background_stored_units']:.4g} = 1), NOT SUV")
    how = conversion.tags_used.get("scan_time_from") or conversion.tags_used.get("factor_from") or "vendor scale factor"
    return f"DICOM {conversion.units}, factor {conversion.factor:.6g} ({how})"


def acquisition_facts(header: Dataset) -> dict[str, str]:
    """What a reader asks of a PET acquisition first and the SUV conversion does not record: the scanner,
    the scan date and the radiopharmaceutical (only those present)."""
    scanner = " ".join(str(header.get(key, "") or "").strip() for key in ("Manufacturer", "ManufacturerModelName"))
    date = str(header.get("AcquisitionDate") or header.get("SeriesDate") or header.get("StudyDate") or "").strip()
    items = header.get("RadiopharmaceuticalInformationSequence") or [Dataset()]
    codes = items[0].get("RadiopharmaceuticalCodeSequence") or [Dataset()]
    drug = str(items[0].get("Radiopharmaceutical", "") or codes[0].get("CodeMeaning", "") or "").strip()
    facts = {"scanner": scanner.strip(), "scan_date": f"{date[:4]}-{date[4:6]}-{date[6:8]}" if len(date) >= 8 else "",
             "radiopharmaceutical": drug}
    return {key: value for key, value in facts.items() if value}


def recorded_pet_source(pet_file: str | Path) -> SeriesVolume:
    """The source PET series of a `suv.nii.gz` written by `petseg convert` (named in its conversion.json)."""
    from petseg.data.datalist import read_json
    from petseg.io.dicom import find_series

    record = Path(pet_file).parent / "conversion.json"
    hint = ("DICOM-SEG needs the source PET DICOM: give --pet as a DICOM folder, or a suv.nii.gz written by "
            "`petseg convert` (its conversion.json names the source series)")
    if not record.is_file():
        raise PetsegError(hint)
    series = read_json(record).get("pet_series") or {}
    source = series.get("source")
    if not source or not Path(source).exists():
        raise PetsegError(f"{hint}; the recorded source {source!r} is not available")
    return read_series(find_series(discover(source), series["uid"]))
