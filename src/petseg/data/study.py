"""A `Study`: one PET/CT exam on one grid, the PET in SUV being the reference.

Everything downstream (methods, networks, metrics) receives a `Study` whose arrays are finite,
whose CT (if any) and label (if any) lie on the PET grid, and whose PET is in SUV.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from petseg.errors import PetsegError, PetsegWarning
from petseg.io.images import Volume, read_volume
from petseg.metrics.components import as_binary

CT_FILL_HU = -1024.0
# Median "body" value above which a PET is taken to be in Bq/ml (or counts), not SUV. Real SUV
# images have body medians of about 0.3-5 even when cropped to a hot region; Bq/ml ones, thousands.
MAX_PLAUSIBLE_BODY_SUV = 50.0


@dataclass
class Study:
    """One exam: `suv` (reference grid), `ct` in HU on that grid or None, optional binary `label`.

    `dicom` keeps the source PET series (a `petseg.io.dicom.SeriesVolume`) when the study was read from
    DICOM, so that results can be written back as DICOM-SEG referencing it.
    """

    suv: Volume
    ct: Volume | None = None
    label: Volume | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    dicom: Any = None

    @property
    def has_ct(self) -> bool:
        """True unless this is a PET-only study."""
        return self.ct is not None


def load_study(pet: str | Path, ct: str | Path | None = None, label: str | Path | None = None,
               meta: dict[str, Any] | None = None) -> Study:
    """Read a study from image files: PET already in SUV, optional CT (HU) and lesion label."""
    suv = read_volume(pet, np.float32)
    ct_volume = read_volume(ct, np.float32) if ct is not None else None
    label_volume = read_volume(label) if label is not None else None
    info = {"pet_path": str(pet), "ct_path": str(ct) if ct else None, "label_path": str(label) if label else None,
            "suv_source": "input file (values taken as SUV)"}
    info.update(meta or {})
    return make_study(suv, ct_volume, label_volume, info)


def make_study(suv: Volume, ct: Volume | None = None, label: Volume | None = None,
               meta: dict[str, Any] | None = None) -> Study:
    """Build a sanitised `Study`: finite SUV checked for units, CT and label moved onto the PET grid."""
    suv = replace_non_finite(suv.with_array(suv.array.astype(np.float32, copy=False)), 0.0, "PET")
    check_suv_units(suv)
    if ct is not None:
        ct = replace_non_finite(ct.with_array(ct.array.astype(np.float32, copy=False)), CT_FILL_HU, "CT")
        ct = ct_on_pet_grid(ct, suv)
    if label is not None:
        label = label_on_pet_grid(label, suv)
    return Study(suv=suv, ct=ct, label=label, meta=dict(meta or {}))


def replace_non_finite(volume: Volume, fill: float, name: str) -> Volume:
    """Replace NaN/Inf voxels by `fill`, warning with their count; returns `volume` if there are none."""
    bad = ~np.isfinite(volume.array)
    count = int(bad.sum())
    if count == 0:
        return volume
    warnings.warn(f"{name}: {count} NaN/Inf voxel(s) replaced by {fill:g}", PetsegWarning, stacklevel=3)
    array = volume.array.copy()
    array[bad] = fill
    return volume.with_array(array)


def check_suv_units(suv: Volume) -> None:
    """Refuse a PET whose values look like Bq/ml or counts rather than SUV."""
    array = suv.array
    positive = array[array > 0]
    if positive.size == 0:
        warnings.warn("PET has no positive voxel: nothing can be segmented", PetsegWarning, stacklevel=3)
        return
    body = positive[positive > 0.1 * np.percentile(positive, 99.5)]
    median = float(np.median(body))
    if median > MAX_PLAUSIBLE_BODY_SUV:
        raise PetsegError(
            f"PET values look like Bq/ml or counts, not SUV (median body value {median:.4g}); convert it to "
            "SUV first: `petseg convert --pet DICOM_DIR` for DICOM, or multiply Bq/ml by body weight (g) / "
            "decay-corrected injected dose (Bq)")


def resample_onto(volume: Volume, reference: Volume, interpolator: int, fill: float,
                  dtype: int = sitk.sitkFloat32) -> Volume:
    """`volume` resampled onto `reference`'s grid (identity transform, physical space)."""
    resampled = sitk.Resample(volume.to_sitk(), reference.to_sitk(), sitk.Transform(), interpolator, fill, dtype)
    return Volume.from_sitk(resampled)


def covered_fraction(volume: Volume, reference: Volume) -> float:
    """Fraction of `reference` voxel centres that fall inside `volume`'s field of view."""
    ones = volume.with_array(np.ones(volume.shape, dtype=np.uint8))
    inside = resample_onto(ones, reference, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    return float(inside.array.mean())


def ct_on_pet_grid(ct: Volume, suv: Volume) -> Volume:
    """The CT linearly resampled onto the PET grid; uncovered voxels become -1024 HU (with a warning)."""
    if ct.same_grid(suv):
        return Volume(ct.array, suv.spacing, suv.origin, suv.direction)
    covered = covered_fraction(ct, suv)
    if covered == 0.0:
        raise PetsegError(f"CT and PET do not overlap in space: PET {suv.describe_grid()}; "
                          f"CT {ct.describe_grid()}")
    if covered < 0.999:
        warnings.warn(f"CT covers {covered:.1%} of the PET field of view; the uncovered {1 - covered:.1%} is "
                      f"filled with {CT_FILL_HU:g} HU", PetsegWarning, stacklevel=3)
    return resample_onto(ct, suv, sitk.sitkLinear, CT_FILL_HU)


def label_on_pet_grid(label: Volume, suv: Volume) -> Volume:
    """A binary uint8 lesion label on the PET grid (nearest-neighbour resampling where needed)."""
    binary = label.with_array(as_binary(np.nan_to_num(label.array), "label").astype(np.uint8))
    if binary.same_grid(suv):
        return Volume(binary.array, suv.spacing, suv.origin, suv.direction)
    return resample_onto(binary, suv, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
