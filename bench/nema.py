"""Benchmark: delineation of the six hot spheres of the real NEMA/IEC image-quality phantom (shared data), by the
SUV method's threshold modes and, where one is given, a trained model.

The phantom's DICOM has no units or SUV tags, so it is read as `petseg segment --units none` reads it: relative to
its own background (median 1; not SUV). The spheres are found from the image, not from voxel positions: the
largest hot spheres (at half the way from the background to the maximum of the smoothed image) fix the ring's
plane, centre and radius (NEMA NU 2 / IEC 61675: six spheres on a circle of 114.4 mm diameter, in one transverse
plane, in the order 10, 13, 17, 22, 28, 37 mm around it); the known order places the others, each refined to the
local maximum. A sphere is found when the mask holds a voxel within its radius of its centre; its volume recovered
is the volume of the mask's lesions that do, within 10 mm beyond the sphere's wall (each sphere hangs from a
filled stem that is no part of it), against the known volume.

Run: flock /work/proto/heavy.lock .venv/bin/python bench/nema.py [--phantom DIR] [--model RUN ...]
"""

from __future__ import annotations

import argparse
import os
import platform
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from petseg.api import segment
from petseg.data.dicom_study import load_dicom_study
from petseg.data.study import Study
from petseg.io.suv import SuvOverrides
from petseg.metrics.components import label_components

PHANTOM = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real" / "nema_iq_phantom" / "pet"
DIAMETERS_MM = (10.0, 13.0, 17.0, 22.0, 28.0, 37.0)  # inner diameters, in their order around the ring
VOLUMES_ML = (0.52, 1.15, 2.57, 5.58, 11.49, 26.52)  # as the phantom's documentation gives them
RING_RADIUS_MM = 57.2
VOI_MARGIN_MM = 10.0  # a sphere's outline is counted within this beyond its wall (its filled stem left out)
MODES = {  # name -> SUV-method parameters (values here are multiples of the background, not SUV)
    "fixed 3 x background": {"outline.adaptive": "null", "outline.fill_enclosed": "false"},
    "relative 41 % of SUVmax": {"threshold.mode": "relative", "threshold.relative_fraction": "0.41"},
    "relative 50 % of SUVmax": {"threshold.mode": "relative", "threshold.relative_fraction": "0.5"},
    "background-adapted (Nestle, every lesion)": {"outline.adaptive.min_volume_ml": "0"},
    "petseg default (fixed 3, adapted from 20 ml, filled)": {},
}


@dataclass(frozen=True)
class Sphere:
    diameter_mm: float
    volume_ml: float
    centre_mm: np.ndarray


def find_spheres(study: Study) -> list[Sphere]:
    """The six spheres from the image: the largest hot ones fix the ring, the known order places the rest."""
    suv = study.suv
    smooth = ndimage.gaussian_filter(suv.array, 2.0 / np.asarray(suv.spacing_zyx))
    background = float(np.median(smooth[smooth > 0.5]))
    labels, count = label_components(smooth > background + 0.5 * (smooth.max() - background))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:] * suv.voxel_ml
    big = [k + 1 for k in np.argsort(-sizes)[:4] if sizes[k] >= 1.0]
    if len(big) < 3:
        raise SystemExit("fewer than three large hot spheres in the image: is this a NEMA image-quality phantom?")
    centres = np.array([suv.index_to_physical(np.argwhere(labels == k).mean(axis=0)) for k in big])
    plane_z = float(np.median(centres[:, 2]))
    centre, radius = _circle(centres[:, :2])
    if abs(radius - RING_RADIUS_MM) > 0.15 * RING_RADIUS_MM:
        raise SystemExit(f"the hot spheres lie on a circle of radius {radius:.1f} mm, not NEMA's {RING_RADIUS_MM}")
    angles = np.arctan2(centres[:, 1] - centre[1], centres[:, 0] - centre[0])
    largest, second = angles[0], angles[1]  # the 37 and 28 mm spheres, neighbours on the ring
    turn = np.sign(np.angle(np.exp(1j * (second - largest)))) or 1.0
    spheres = []
    for position, (diameter, volume) in enumerate(reversed(list(zip(DIAMETERS_MM, VOLUMES_ML, strict=True)))):
        angle = largest + turn * position * np.pi / 3
        guess = np.array([centre[0] + radius * np.cos(angle), centre[1] + radius * np.sin(angle), plane_z])
        spheres.append(Sphere(diameter, volume, _local_maximum(study, smooth, guess, 6.0)))
    return sorted(spheres, key=lambda s: s.diameter_mm)


def _circle(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares circle through 2D points (Kasa fit)."""
    a = np.column_stack([2 * points, np.ones(len(points))])
    b = (points**2).sum(axis=1)
    cx, cy, c = np.linalg.lstsq(a, b, rcond=None)[0]
    return np.array([cx, cy]), float(np.sqrt(c + cx**2 + cy**2))


def _local_maximum(study: Study, smooth: np.ndarray, guess_mm: np.ndarray, reach_mm: float) -> np.ndarray:
    """The physical position of the smoothed image's maximum within `reach_mm` of `guess_mm`."""
    suv = study.suv
    index = np.indices(suv.shape).reshape(3, -1).T
    centre = suv.physical_to_index(guess_mm)
    near = index[np.linalg.norm((index - centre) * np.asarray(suv.spacing_zyx), axis=1) <= reach_mm]
    best = near[np.argmax(smooth[tuple(near.T)])]
    return suv.index_to_physical(best.astype(float))


def inside_sphere(study: Study, sphere: Sphere, statistic) -> float:
    """`statistic` (max, mean) of the values within the sphere's radius of its centre (the partial-volume
    effect lowers both on small spheres)."""
    suv = study.suv
    index = np.indices(suv.shape).reshape(3, -1).T
    inside = np.linalg.norm((index - suv.physical_to_index(sphere.centre_mm)) * np.asarray(suv.spacing_zyx), axis=1)
    return float(statistic(suv.array[tuple(index[inside <= sphere.diameter_mm / 2].T)]))


def recovered(study: Study, mask: np.ndarray, spheres: list[Sphere]) -> list[float | None]:
    """Per sphere, the volume (ml) of the mask's lesions that reach within its radius of its centre, counted within
    `VOI_MARGIN_MM` beyond its wall (the filled stem each sphere hangs from is no part of it); None: not found."""
    suv = study.suv
    labels, _ = label_components(mask)
    index = np.indices(suv.shape).reshape(3, -1).T
    volumes: list[float | None] = []
    for sphere in spheres:
        distance = np.linalg.norm((index - suv.physical_to_index(sphere.centre_mm)) * np.asarray(suv.spacing_zyx),
                                  axis=1)
        touched = set(np.unique(labels[tuple(index[distance <= sphere.diameter_mm / 2].T)]).tolist()) - {0}
        voi = index[distance <= sphere.diameter_mm / 2 + VOI_MARGIN_MM]
        counted = np.isin(labels[tuple(voi.T)], list(touched)).sum() * suv.voxel_ml
        volumes.append(float(counted) if touched else None)
    return volumes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phantom", type=Path, default=PHANTOM)
    parser.add_argument("--model", type=Path, action="append", default=[], help="a trained model folder (ensemble)")
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = load_dicom_study(args.phantom.resolve(), overrides=SuvOverrides(units="NONE"))
    spheres = find_spheres(study)
    print(f"# NEMA phantom delineation ({platform.machine()}, {os.cpu_count()} CPUs); values relative to the "
          "background (median 1), not SUV")
    print("\nspheres found in the image (centre mm): " + "; ".join(
        f"{s.diameter_mm:g} mm at ({', '.join(f'{v:.0f}' for v in s.centre_mm)})" for s in spheres))
    header = " | ".join(f"{d:g} mm ({v} ml)" for d, v in zip(DIAMETERS_MM, VOLUMES_ML, strict=True))
    print(f"\n| method | {header} | found |\n|---|" + "---|" * (len(spheres) + 1))
    for statistic, name in ((np.max, "maximum"), (np.mean, "mean over its true volume")):
        values = [inside_sphere(study, s, statistic) for s in spheres]
        print(f"| sphere {name}, x background (% of the 37 mm sphere's) | " + " | ".join(
            f"{v:.1f} ({100 * v / values[-1]:.0f} %)" for v in values) + " | |")
    runs = {name: {"params": params} for name, params in MODES.items()}
    if args.model:
        runs[f"trained model ({', '.join(p.name for p in args.model)})"] = {"model": [str(p) for p in args.model]}
    for name, run in runs.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mask = segment(study, **run).mask.array > 0
        volumes = recovered(study, mask, spheres)
        cells = ["missed" if got is None else f"{got:.2f} ({100 * (got - s.volume_ml) / s.volume_ml:+.0f} %)"
                 for got, s in zip(volumes, spheres, strict=True)]
        print(f"| {name} | {' | '.join(cells)} | {sum(v is not None for v in volumes)} of 6 |", flush=True)


if __name__ == "__main__":
    main()
