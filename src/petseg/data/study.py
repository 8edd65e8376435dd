"""A `Study`: one PET/CT exam on one grid, the PET in SUV being the reference.

Everything downstream (methods, networks, metrics) receives a `Study` whose arrays are finite,
whose CT (if any) and label (if any) lie on the PET grid, and whose PET is in SUV.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import SimpleITK as sitk

from petseg.errors import ImportantWarning, PetsegError, PetsegWarning
from petseg.io.images import Volume, read_volume
from petseg.io.resampling import resample_linear, shares_axes
from petseg.io.suv import SuvOverrides
from petseg.metrics.components import as_binary
from petseg.tracers import DEFAULT_TRACER, TRACERS, Tracer, decide_tracer

if TYPE_CHECKING:
    from petseg.io.dicom import SeriesVolume

CT_FILL_HU = -1024.0
# Median "body" value above which a PET is taken to be in Bq/ml (or counts), not SUV. Real SUV
# images have body medians of about 0.3-5 even when cropped to a hot region; Bq/ml ones, thousands.
MAX_PLAUSIBLE_BODY_SUV = 50.0
NOT_SUV = "relative to the image's background (not SUV)"  # study.meta["values"] of a PET read with --units none
BODY_SUV = 0.1  # SUV above which a PET voxel is inside the body (the SUV method's landmarks, the foreground crop)


@dataclass
class Study:
    """One exam: `suv` (reference grid), `ct` in HU on that grid or None, optional binary `label`.

    `ct_coverage` (uint8 on the PET grid) marks the voxels the CT really covers: outside it the CT holds
    the fill value, which is *missing*, not air (a CT shorter than the PET, a converted CT padded with
    -1024). `tracer` holds the tracer's constants (FDG or PSMA), decided once when the study is made and read
    there by everything downstream. `dicom` keeps the source PET series when the study was read from
    DICOM, so that results can be written back as DICOM-SEG referencing it.
    """

    suv: Volume
    ct: Volume | None = None
    label: Volume | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    dicom: SeriesVolume | None = None
    ct_coverage: Volume | None = None
    tracer: Tracer = TRACERS[DEFAULT_TRACER]

    @property
    def has_ct(self) -> bool:
        """True unless this is a PET-only study."""
        return self.ct is not None

    @property
    def ct_covered_fraction(self) -> float:
        """Fraction of the PET grid the CT covers (0 for a PET-only study)."""
        if self.ct is None:
            return 0.0
        return 1.0 if self.ct_coverage is None else float(self.ct_coverage.array.mean())


def load_study(pet: str | Path, ct: str | Path | None = None, label: str | Path | None = None,
               meta: dict[str, Any] | None = None, ct_optional: bool = False, tracer: str | None = None,
               overrides: SuvOverrides | None = None) -> Study:
    """Read a study from image files: PET already in SUV (or made so by `overrides`: `--suv-factor`, or `--units
    none` for values relative to the image's background), optional CT (HU) and lesion label; `tracer` as in
    `make_study`.

    With `ct_optional` (cohorts: training, predict), a CT that cannot be used (unreadable, off the PET's
    field of view, only padding) is left out with a warning and the study goes on PET-only."""
    suv, values = pet_values(read_volume(pet, np.float32), overrides)
    label_volume = read_volume(label) if label is not None else None
    info = {"pet_path": str(pet), "ct_path": str(ct) if ct else None, "label_path": str(label) if label else None,
            **values}
    info.update(meta or {})
    study = make_study(suv, None, label_volume, info, tracer)
    if ct is None:
        return study
    try:
        return with_ct(study, read_volume(ct, np.float32))
    except PetsegError as error:
        if not ct_optional:
            raise
        warnings.warn(f"CT {ct} not used ({error}); the study goes on PET-only", PetsegWarning, stacklevel=2)
        study.meta.update(ct_path=None, ct_unusable=str(error))
        return study


def pet_values(suv: Volume, overrides: SuvOverrides | None) -> tuple[Volume, dict[str, str]]:
    """An image file's PET as the method reads it, and what its values are (`suv_source`, `values`): SUV as given,
    times `--suv-factor`, or relative to its own background (`--units none`)."""
    if overrides is None or not (overrides.units or overrides.suv_factor):
        return suv, {"suv_source": "input file (values taken as SUV)", "values": "SUV"}
    if overrides.suv_factor:
        scaled = suv.with_array((suv.array * overrides.suv_factor).astype(np.float32))
        return scaled, {"suv_source": f"input file x --suv-factor {overrides.suv_factor:g}", "values": "SUV"}
    if overrides.units == "NONE":
        relative, background = relative_to_background(suv)
        return relative, {"suv_source": f"input file relative to its background ({background:.4g} = 1)",
                          "values": NOT_SUV}
    if overrides.units == "GML":
        return suv, {"suv_source": "input file (--units GML: SUV)", "values": "SUV"}
    raise PetsegError(f"--units {overrides.units} converts DICOM only (an image file has no weight, dose or times); "
                      "give the factor to SUV with --suv-factor F, or --units none")


def make_study(suv: Volume, ct: Volume | None = None, label: Volume | None = None,
               meta: dict[str, Any] | None = None, tracer: str | Tracer | None = None) -> Study:
    """Build a sanitised `Study`: finite SUV checked for units, CT and label moved onto the PET grid.

    The tracer is decided here, once (`petseg.tracers.decide_tracer`): `tracer`, else the radiopharmaceutical
    `meta["acquisition"]` names (DICOM), else FDG."""
    suv = replace_non_finite(suv.with_array(suv.array.astype(np.float32, copy=False)), 0.0, "PET")
    check_suv_units(suv)
    if label is not None:
        label = label_on_pet_grid(label, suv)
    meta = dict(meta or {})
    if not isinstance(tracer, Tracer):
        tracer = decide_tracer(tracer, (meta.get("acquisition") or {}).get("radiopharmaceutical"))
    study = Study(suv=suv, label=label, meta=meta, tracer=tracer)
    return with_ct(study, ct) if ct is not None else study


def with_label(study: Study, label: Volume) -> Study:
    """`study` with a ground truth (any grid) on its PET grid."""
    return replace(study, label=label_on_pet_grid(label, study.suv))


def with_ct(study: Study, ct: Volume) -> Study:
    """`study` with a CT (HU, any grid) sanitised and resampled onto its PET grid, with the CT's coverage."""
    ct = replace_non_finite(ct.with_array(ct.array.astype(np.float32, copy=False)), CT_FILL_HU, "CT")
    on_grid, coverage = ct_on_pet_grid(ct, study.suv)
    return replace(study, ct=on_grid, ct_coverage=coverage)


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


def body_median(array: np.ndarray) -> float | None:
    """The median value of the body (or a phantom's fill): of the voxels above 10 % of the 99.5th percentile of the
    positive ones (air, the cold outside and a cold insert left out; None when nothing is positive)."""
    positive = array[array > 0]
    if positive.size == 0:
        return None
    return float(np.median(positive[positive > 0.1 * np.percentile(positive, 99.5)]))


def check_suv_units(suv: Volume) -> None:
    """Refuse a PET whose values look like Bq/ml or counts rather than SUV."""
    median = body_median(suv.array)
    if median is None:
        warnings.warn("PET has no positive voxel: nothing can be segmented", ImportantWarning, stacklevel=3)
        return
    if median > MAX_PLAUSIBLE_BODY_SUV:
        raise PetsegError(
            f"PET values look like Bq/ml or counts, not SUV (median body value {median:.4g}); convert it to "
            "SUV first (`petseg convert --pet DICOM_DIR` for DICOM), give the factor with --suv-factor F "
            "(body weight in g / decay-corrected injected dose in Bq for Bq/ml), or read the values relative to "
            "the image's own background with --units none (a phantom: not SUV)")


def relative_to_background(suv: Volume) -> tuple[Volume, float]:
    """Values divided by the image's own background (`body_median`: it becomes 1), with that background; for
    images without SUV (a phantom). The result is NOT SUV and is recorded as such."""
    background = body_median(suv.array)
    if background is None:
        raise PetsegError("cannot read the PET relative to its background: it has no positive voxel")
    warnings.warn(f"values are NOT SUV: activity relative to the image's own background (its median, "
                  f"{background:.4g} stored units, is 1); thresholds, SUVmax and TLG are in multiples of it",
                  ImportantWarning, stacklevel=3)
    return suv.with_array((suv.array / background).astype(np.float32)), background


def resample_onto(volume: Volume, reference: Volume, interpolator: int, fill: float,
                  dtype: int = sitk.sitkFloat32) -> Volume:
    """`volume` resampled onto `reference`'s grid (identity transform, physical space): SimpleITK's `Resample`,
    or for linear interpolation to float32 between grids of one orientation the same values one axis at a time
    (`petseg.io.resampling`, 3-5x faster)."""
    if interpolator == sitk.sitkLinear and dtype == sitk.sitkFloat32 and shares_axes(volume, reference):
        return resample_linear(volume, reference, fill)
    resampled = sitk.Resample(volume.to_sitk(), reference.to_sitk(), sitk.Transform(), interpolator, fill, dtype)
    return Volume.from_sitk(resampled)


def field_of_view(volume: Volume, reference: Volume) -> np.ndarray:
    """uint8 on `reference`'s grid: 1 where the voxel centre falls inside `volume`'s field of view."""
    ones = volume.with_array(np.ones(volume.shape, dtype=np.uint8))
    return resample_onto(ones, reference, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8).array


def ct_on_pet_grid(ct: Volume, suv: Volume) -> tuple[Volume, Volume]:
    """The CT linearly resampled onto the PET grid and its coverage (uint8, PET grid).

    Uncovered voxels are filled with -1024 HU; the coverage says which they are, so that they count as
    missing, not as air. Axial slices that hold nothing but the fill value (a CT padded by a converter)
    count as uncovered too. Partial coverage is warned about with its fraction.
    """
    if ct.same_grid(suv):
        on_grid = Volume(ct.array, suv.spacing, suv.origin, suv.direction)
        covered = np.ones(suv.shape, np.uint8)
    else:
        covered = field_of_view(ct, suv)
        if not covered.any():
            raise PetsegError(f"CT and PET do not overlap in space: PET {suv.describe_grid()}; "
                              f"CT {ct.describe_grid()}")
        on_grid = resample_onto(ct, suv, sitk.sitkLinear, CT_FILL_HU)
    padded = (on_grid.array <= CT_FILL_HU).all(axis=(1, 2))
    covered[padded] = 0
    fraction = float(covered.mean())
    if fraction == 0.0:
        raise PetsegError("the CT holds no image data on the PET's field of view (every slice is padding): "
                          "check the CT file, or leave it out for a PET-only study")
    if fraction < 0.999:
        warnings.warn(f"CT covers {fraction:.1%} of the PET field of view; the uncovered {1 - fraction:.1%} "
                      "is treated as missing CT", PetsegWarning, stacklevel=3)
    return on_grid, suv.with_array(covered)


def label_on_pet_grid(label: Volume, suv: Volume) -> Volume:
    """A binary uint8 lesion label on the PET grid (nearest-neighbour resampling where needed)."""
    binary = label.with_array(as_binary(np.nan_to_num(label.array), "label").astype(np.uint8))
    if binary.same_grid(suv):
        return Volume(binary.array, suv.spacing, suv.origin, suv.direction)
    return resample_onto(binary, suv, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
