"""Synthetic whole-body FDG/PSMA PET/CT studies: anatomy, physiological uptake, lesions, PSF and noise.

The point of the phantom is the real difficulty of the task: lesions have to be told apart from
physiological uptake (brain, myocardium, kidneys and ureters, bladder, bowel, brown fat, inflammation,
injection sites, salivary glands for PSMA), some of which is hotter than many lesions.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy import ndimage

from petseg.data.datalist import CaseFiles, build_datalist, write_datalist
from petseg.data.phantom.anatomy import CODE, SOFT, TISSUES, Anatomy, build_anatomy
from petseg.data.phantom.grid import SIZES, Box, Grid
from petseg.data.phantom.lesions import LesionShape, place_lesions
from petseg.data.study import Study, make_study
from petseg.errors import PetsegError, PetsegWarning
from petseg.io.atomic import write_json_atomic
from petseg.io.images import Volume, write_volume
from petseg.tracers import DEFAULT_TRACER

# Noise level after blurring: standard deviation = NOISE_COEFF * sqrt(SUV), i.e. ~12 % in a liver of SUV 2.5.
NOISE_COEFF = 0.19
CT_NOISE_HU = 12.0
MAX_LESIONS = 15


@dataclass
class PlacedLesion:
    """A lesion of the phantom as placed (its true extent is the label's component)."""

    id: int
    site: str
    center_mm: list[float]
    diameter_mm: float
    volume_ml: float
    suv_intrinsic: float
    suvmax: float


@dataclass
class PhantomStudy:
    """A generated study with its ground truth: lesions, organ volumes and uptake, hot spots."""

    case: str
    patient: str
    tracer: str
    study: Study
    lesions: list[PlacedLesion]
    organs: dict[str, dict[str, float]]
    hot_spots: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (written as phantom.json beside the images)."""
        return {"case": self.case, "patient": self.patient, "tracer": self.tracer,
                "shape_zyx": list(self.study.suv.shape), "spacing_xyz": list(self.study.suv.spacing),
                "lesions": [asdict(lesion) for lesion in self.lesions], "organs": self.organs,
                "hot_spots": self.hot_spots}


@cache
def tracer_table() -> dict[str, Any]:
    """The tissue HU and per-tracer SUV ranges (tracers.yaml)."""
    text = resources.files("petseg.data.phantom").joinpath("tracers.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def make_phantom_study(seed: int = 0, patient: int = 0, visit: int = 0, tracer: str = DEFAULT_TRACER,
                       size: str = "small", n_lesions: int | None = None, min_lesion_mm: float = 0.0) -> PhantomStudy:
    """One synthetic study. The anatomy depends on (seed, patient); uptake, lesions and noise also on visit.

    `n_lesions` None draws 1-15 lesions; 0 gives a lesion-free (negative) study. `min_lesion_mm` keeps
    lesions at least that wide (where their site allows), e.g. above the resolution of a coarse grid.
    """
    table = tracer_table()
    if tracer not in table["tracers"]:
        raise PetsegError(f"unknown tracer {tracer!r}: choose one of {', '.join(table['tracers'])}")
    if size not in SIZES:
        raise PetsegError(f"unknown phantom size {size!r}: choose one of {', '.join(SIZES)}")
    params = table["tracers"][tracer]
    grid = Grid.of_size(size)
    anatomy = build_anatomy(grid, np.random.default_rng([seed, patient]))
    rng = np.random.default_rng([seed, patient, visit, 1])
    uptake = {name: float(rng.uniform(*params["suv"].get(name, (0.0, 0.0)))) for name in TISSUES}
    activity = np.array([uptake[name] for name in TISSUES], dtype=np.float32)[anatomy.tissue]
    ct = np.array([table["ct_hu"].get(name, 40.0) for name in TISSUES], dtype=np.float32)[anatomy.tissue]
    _segment_uptake(anatomy, activity, uptake, params, rng)
    hot_spots = _hot_spots(anatomy, activity, ct, params, rng, table["ct_hu"])
    organs = _organ_summary(anatomy, uptake)
    if n_lesions is None:
        n_lesions = int(min(MAX_LESIONS, rng.geometric(0.22)))
    shapes = place_lesions(anatomy, rng, n_lesions, params["lesion_sites"],
                           min_diameter_mm=min_lesion_mm) if n_lesions else []
    label = np.zeros(grid.shape, dtype=np.uint8)
    intrinsic = [_paint_lesion(anatomy, activity, ct, label, shape, params["lesion_suv"], rng) for shape in shapes]
    pet = _scanner_image(activity, grid, rng)
    ct += rng.standard_normal(ct.shape, dtype=np.float32) * CT_NOISE_HU
    np.clip(np.rint(ct), -1024, 3071, out=ct)
    volumes = [Volume(a, grid.spacing, grid.origin) for a in (pet, ct, label)]
    case = f"{tracer}_{patient:04d}_{visit}"
    study = make_study(*volumes, meta={"case": case, "patient": f"{tracer}_{patient:04d}",
                                       "suv_source": "synthetic phantom"}, tracer=tracer)
    lesions = [_describe(i + 1, shape, suv, study, grid) for i, (shape, suv) in enumerate(zip(shapes, intrinsic,
                                                                                           strict=True))]
    return PhantomStudy(case, study.meta["patient"], tracer, study, lesions, organs, hot_spots)


def _segment_uptake(anatomy: Anatomy, activity: np.ndarray, uptake: dict[str, float], params: dict[str, Any],
                    rng: np.random.Generator) -> None:
    """Patchy uptake along bowel and ureters: each wall segment gets its own SUV."""
    for box, mask in anatomy.segments.get("bowel", []):
        hot = rng.random() < 0.2
        value = rng.uniform(*params["bowel_hot"]) if hot else rng.uniform(*params["suv"]["bowel"])
        region = mask & (anatomy.tissue[box] == CODE["bowel"])
        activity[box][region] = value
    for box, mask in anatomy.segments.get("ureter", []):
        value = rng.uniform(*params["suv"]["ureter"]) if rng.random() < 0.6 else uptake["fat"]
        activity[box][mask & (anatomy.tissue[box] == CODE["ureter"])] = value


def _hot_spots(anatomy: Anatomy, activity: np.ndarray, ct: np.ndarray, params: dict[str, Any],
               rng: np.random.Generator, hu: dict[str, float]) -> list[str]:
    """Physiological or benign uptake that is not a lesion; returns the kinds placed."""
    a, placed = anatomy, []
    chance = params["hot_spots"]
    blobs: list[tuple[str, np.ndarray, float, float]] = []  # tissue, centre, radius, SUV
    if rng.random() < chance["brown_fat"]:
        placed.append("brown_fat")
        for _ in range(rng.integers(4, 10)):
            side = rng.choice([-1, 1])
            if rng.random() < 0.6:
                centre = a.point(side * rng.uniform(40, 110), rng.uniform(-20, 60), rng.uniform(270, 330))
            else:
                centre = a.point(side * rng.uniform(25, 45), rng.uniform(60, 100), rng.uniform(330, 480))
            blobs.append(("brown_fat", centre, rng.uniform(5, 9), rng.uniform(*params["suv"]["brown_fat"])))
    if rng.random() < chance["inflammation"]:
        placed.append("inflammation")
        x, y, d = [(150, 10, 300), (120, 10, 860), (88, -40, 950)][rng.integers(3)]
        centre = a.point(rng.choice([-1, 1]) * x, y, d)
        blobs.append(("inflammation", centre, rng.uniform(10, 22), rng.uniform(*params["suv"]["inflammation"])))
    if rng.random() < chance["injection_site"]:
        placed.append("injection_site")
        centre = a.point(rng.choice([-1, 1]) * (190 + a.fat_mm), rng.uniform(-10, 10), rng.uniform(680, 780))
        blobs.append(("inflammation", centre, rng.uniform(5, 10), rng.uniform(5.0, 30.0)))
    if rng.random() < chance["ganglia"]:
        placed.append("ganglia")
        for x, y, d in [(-35, 50, 330), (35, 50, 330), (-12, 25, 640), (12, 25, 640)]:
            blobs.append(("ganglion", a.point(x, y, d), rng.uniform(4, 6), rng.uniform(*params["suv"]["ganglion"])))
    for tissue, centre, radius, suv in blobs:
        painted = a.paint(a.grid.ellipsoid(centre, np.full(3, radius)), tissue, allowed=SOFT)
        if painted is not None:
            box, mask = painted
            activity[box][mask] = suv
            ct[box][mask] = hu[tissue]
    return placed


def _paint_lesion(anatomy: Anatomy, activity: np.ndarray, ct: np.ndarray, label: np.ndarray, shape: LesionShape,
                  suv_range: list[float], rng: np.random.Generator) -> float:
    """Write a lesion into the tissue map, activity, CT and label; returns its intrinsic SUV."""
    background = float(np.median(activity[shape.box][shape.mask]))
    if rng.random() < 0.2:  # low contrast
        suv = max(suv_range[0], background * rng.uniform(1.5, 2.2))
    else:
        suv = float(np.exp(rng.uniform(np.log(suv_range[0]), np.log(suv_range[1]))))
    if shape.diameter_mm < 10:
        suv = max(suv, 4.0)  # tiny lesions below this vanish in the PSF
    anatomy.tissue[shape.box][shape.mask] = CODE["lesion"]
    activity[shape.box][shape.mask] = suv
    ct[shape.box][shape.mask] = shape.hu
    label[shape.box][shape.mask] = 1
    if shape.necrotic is not None:
        core_box, core = shape.necrotic
        activity[core_box][core & (label[core_box] == 1)] = suv * rng.uniform(0.25, 0.5)
    return suv


def psf_noise_gain(sigma_voxels: tuple[float, float, float]) -> float:
    """Factor by which blurring with `sigma_voxels` shrinks the standard deviation of white noise."""
    impulse = np.zeros((15, 15, 15), dtype=np.float64)
    impulse[7, 7, 7] = 1.0
    return float(np.sqrt(np.sum(ndimage.gaussian_filter(impulse, sigma_voxels) ** 2)))


def _scanner_image(activity: np.ndarray, grid: Grid, rng: np.random.Generator) -> np.ndarray:
    """Activity seen by a PET scanner: Poisson-like noise, then a Gaussian PSF of 6-7 mm FWHM."""
    fwhm = rng.uniform(6.0, 7.0)
    sigma = tuple(fwhm / 2.3548 / s for s in grid.spacing[::-1])
    amplitude = NOISE_COEFF / psf_noise_gain(sigma)
    noisy = rng.standard_normal(activity.shape, dtype=np.float32)
    noisy *= np.sqrt(activity) * np.float32(amplitude)
    noisy += activity
    pet = ndimage.gaussian_filter(noisy, sigma, mode="constant")
    return np.maximum(pet, 0.0, out=pet)


def _organ_summary(anatomy: Anatomy, uptake: dict[str, float]) -> dict[str, dict[str, float]]:
    counts = np.bincount(anatomy.tissue.ravel(), minlength=len(TISSUES))
    return {name: {"volume_ml": round(float(counts[code]) * anatomy.grid.voxel_ml, 1),
                   "suv": round(uptake[name], 2)}
            for code, name in enumerate(TISSUES) if counts[code] and name not in ("air", "lesion")}


def _describe(lesion_id: int, shape: LesionShape, suv: float, study: Study, grid: Grid) -> PlacedLesion:
    box: Box = shape.box
    return PlacedLesion(
        id=lesion_id, site=shape.site, center_mm=[round(float(v), 2) for v in shape.center_mm],
        diameter_mm=round(shape.diameter_mm, 1), volume_ml=round(float(shape.mask.sum()) * grid.voxel_ml, 3),
        suv_intrinsic=round(suv, 2), suvmax=round(float(study.suv.array[box][shape.mask].max()), 2))


def write_phantom_case(phantom: PhantomStudy, case_dir: Path) -> CaseFiles:
    """Write `ct.nii.gz` (int16 HU), `suv.nii.gz`, `label.nii.gz` and `phantom.json` into `case_dir`."""
    study = phantom.study
    assert study.ct is not None and study.label is not None
    ct16 = study.ct.with_array(study.ct.array.astype(np.int16))
    files = CaseFiles(case=phantom.case, patient=phantom.patient, pet=case_dir / "suv.nii.gz",
                      ct=case_dir / "ct.nii.gz", label=case_dir / "label.nii.gz")
    write_volume(ct16, files.ct)  # type: ignore[arg-type]
    write_volume(study.suv, files.pet)
    write_volume(study.label, files.label)  # type: ignore[arg-type]
    write_json_atomic(case_dir / "phantom.json", phantom.summary())
    return files


def plan_cohort(n: int, seed: int, negatives: float) -> list[tuple[int, int, bool]]:
    """(patient, visit, negative) for n studies: a quarter of patients have a follow-up visit."""
    if n < 1:
        raise PetsegError("the cohort needs at least one study (-n 1 or more)")
    if not 0.0 <= negatives <= 1.0:
        raise PetsegError(f"--negatives is a fraction between 0 and 1, got {negatives}")
    rng = np.random.default_rng([seed, 999])
    plan: list[tuple[int, int]] = []
    patient = 0
    while len(plan) < n:
        visits = 2 if rng.random() < 0.25 else 1
        plan += [(patient, visit) for visit in range(visits)]
        patient += 1
    plan = plan[:n]
    negative = set(rng.permutation(n)[: round(n * negatives)].tolist())
    return [(p, v, i in negative) for i, (p, v) in enumerate(plan)]


def write_phantom_cohort(out_dir: str | Path, n: int, seed: int = 0, tracer: str = DEFAULT_TRACER, size: str = "small",
                         negatives: float = 0.2, folds: int = 5, progress=None, min_lesion_mm: float = 0.0) -> Path:
    """Write n studies as `out_dir/<case>/...` plus `out_dir/datalist.json`; returns the datalist path.

    `progress` wraps the iteration (e.g. a progress bar); folds are grouped by patient.
    """
    out_dir = Path(out_dir)
    plan = plan_cohort(n, seed, negatives)
    cases, positive = [], []
    for patient, visit, negative in (progress or iter)(plan):
        phantom = make_phantom_study(seed, patient, visit, tracer, size, 0 if negative else None, min_lesion_mm)
        cases.append(write_phantom_case(phantom, out_dir / phantom.case))
        positive.append(bool(phantom.lesions))
    patients = len({c.patient for c in cases})
    n_folds = min(folds, patients)  # folds are grouped by patient: never an empty fold
    if n_folds < folds:
        warnings.warn(f"{n} studies of {patients} patient(s) make {n_folds} fold(s), not {folds} (a patient's "
                      f"studies share a fold); use --folds {n_folds} or more studies", PetsegWarning, stacklevel=2)
    datalist = build_datalist(cases, out_dir, n_folds, seed, positive)
    path = out_dir / "datalist.json"
    write_datalist(datalist, path)
    return path

