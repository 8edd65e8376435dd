"""Fixtures of the report tests: a DICOM study with something to say (acquisition facts, warnings, a CT)."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pytest

from petseg.api import segment, write_results
from petseg.errors import PetsegWarning
from petseg.io.images import Volume
from petseg.io.suv import SuvOverrides
from tests.dicom_writer import write_study_dicom


@pytest.fixture(scope="session")
def dicom_result(tmp_path_factory, small_phantom):
    """A DICOM phantom: irregular PET slices, a CT over the lower half only, the weight and injection time
    overridden (five minutes before the scan: implausible)."""
    study = small_phantom.study
    folder = tmp_path_factory.mktemp("dicom")
    n = study.suv.shape[0]
    positions = np.arange(n) * study.suv.spacing[2] + np.where(np.arange(n) % 2, 0.3, 0.0)
    half = slice(0, n // 2)
    ct = Volume(study.ct.array[half].copy(), study.ct.spacing, study.ct.origin)
    write_study_dicom(study.suv, ct, folder, slice_positions=positions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PetsegWarning)
        result = segment(folder / "pet", folder / "ct", suv_overrides=SuvOverrides(
            weight_kg=80.0, injection_time=dt.time(10, 55)))
    out = tmp_path_factory.mktemp("out")
    write_results(result, out, per_lesion=True)
    return result, out
