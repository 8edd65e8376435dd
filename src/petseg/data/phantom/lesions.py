"""Placement of synthetic lesions at the sites where cancers spread, without touching each other."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from petseg.data.phantom.anatomy import BONE, CODE, SOFT, Anatomy
from petseg.data.phantom.grid import Box


@dataclass(frozen=True)
class Site:
    """Where a kind of lesion may sit: boxes (x0, x1, y0, y1, d0, d1), host tissues, size range."""

    boxes: tuple[tuple[float, float, float, float, float, float], ...]
    host: tuple[int, ...]
    min_host_fraction: float
    diameter_mm: tuple[float, float]
    hu: tuple[float, ...]  # CT value(s) of the lesion; one is drawn


def _mirror(box: tuple[float, float, float, float, float, float]) -> tuple[tuple[float, ...], ...]:
    x0, x1, y0, y1, d0, d1 = box
    return (box, (-x1, -x0, y0, y1, d0, d1))


SITES: dict[str, Site] = {
    "lymph_node": Site(
        boxes=(*_mirror((25, 50, -15, 25, 200, 270)),    # cervical
               *_mirror((40, 90, -20, 30, 280, 310)),    # supraclavicular
               *_mirror((110, 150, -20, 40, 320, 380)),  # axillary
               (-20, 30, -40, 40, 360, 450),             # mediastinal
               *_mirror((15, 45, 10, 50, 640, 770)),     # retroperitoneal
               (-60, 60, -60, 0, 680, 780),              # mesenteric
               *_mirror((40, 80, -10, 40, 790, 860)),    # iliac
               *_mirror((60, 110, -80, -40, 860, 910))),  # inguinal
        host=SOFT, min_host_fraction=0.85, diameter_mm=(6.0, 45.0), hu=(35.0,)),
    "lung": Site(boxes=((-150, 150, -70, 100, 300, 580),), host=(CODE["lung"],), min_host_fraction=0.85,
                 diameter_mm=(5.0, 50.0), hu=(40.0,)),
    "liver": Site(boxes=((-150, 30, -80, 90, 540, 690),), host=(CODE["liver"],), min_host_fraction=0.9,
                  diameter_mm=(8.0, 60.0), hu=(32.0,)),
    "bone": Site(boxes=((-30, 30, 0, 110, 280, 850), *_mirror((45, 150, 10, 70, 740, 840)),
                        *_mirror((70, 115, -20, 30, 845, 1000))),
                 host=BONE, min_host_fraction=0.5, diameter_mm=(8.0, 35.0), hu=(120.0, 650.0)),
    "prostate_bed": Site(boxes=((-18, 18, -15, 25, 880, 915),), host=(*SOFT, CODE["prostate"]),
                         min_host_fraction=0.8, diameter_mm=(6.0, 30.0), hu=(40.0,)),
}


@dataclass
class LesionShape:
    """A lesion rasterised on the grid: its box and mask, centre and size."""

    site: str
    center_mm: np.ndarray
    diameter_mm: float
    reach_mm: float
    box: Box
    mask: np.ndarray
    hu: float
    necrotic: tuple[Box, np.ndarray] | None


def place_lesions(anatomy: Anatomy, rng: np.random.Generator, count: int, site_weights: dict[str, float],
                  attempts: int = 40, min_diameter_mm: float = 0.0) -> list[LesionShape]:
    """Up to `count` non-touching lesions at sites drawn by `site_weights`, each inside its host tissue
    (diameters drawn from each site's range, cut below at `min_diameter_mm` up to the site's largest)."""
    names = list(site_weights)
    weights = np.array([site_weights[n] for n in names], dtype=float)
    placed: list[LesionShape] = []
    for _ in range(count):
        site = names[rng.choice(len(names), p=weights / weights.sum())]
        for _ in range(attempts):
            lesion = _try_lesion(anatomy, rng, site, placed, min_diameter_mm)
            if lesion is not None:
                placed.append(lesion)
                break
    return placed


def _try_lesion(anatomy: Anatomy, rng: np.random.Generator, site_name: str, placed: list[LesionShape],
                min_diameter_mm: float = 0.0) -> LesionShape | None:
    site = SITES[site_name]
    grid = anatomy.grid
    x0, x1, y0, y1, d0, d1 = site.boxes[rng.integers(len(site.boxes))]
    box = grid.box(np.array([x0, y0, anatomy.z(d1)]), np.array([x1, y1, anatomy.z(d0)]))
    if box is None:
        return None
    candidates = np.argwhere(np.isin(anatomy.tissue[box], site.host))
    if len(candidates) == 0:
        return None
    index = candidates[rng.integers(len(candidates))] + [s.start for s in box]
    center = np.array([grid.coords(2)[index[2]], grid.coords(1)[index[1]], grid.coords(0)[index[0]]])
    smallest, largest = site.diameter_mm
    lo, hi = np.log(min(max(smallest, min_diameter_mm), largest)), np.log(largest)
    diameter = float(np.exp(rng.uniform(lo, hi)))
    semi = diameter / 2 * rng.uniform(0.8, 1.2, 3)
    semi = np.maximum(semi, 0.55 * np.asarray(grid.spacing))  # the centre voxel is always inside
    reach = float(semi.max()) * (1.45 if diameter > 25 else 1.0)
    margin = 2.5 * max(grid.spacing)
    if any(np.linalg.norm(center - p.center_mm) < reach + p.reach_mm + margin for p in placed):
        return None
    shape = _lobulated(grid, center, semi, diameter, rng)
    if shape is None:
        return None
    lesion_box, mask = shape
    tissue = anatomy.tissue[lesion_box][mask]
    if np.any(tissue == CODE["air"]) or np.any(tissue == CODE["lesion"]):
        return None
    if np.isin(tissue, site.host).mean() < site.min_host_fraction or np.any(tissue == CODE["bladder"]):
        return None
    necrotic = grid.ellipsoid(center, semi * 0.5) if diameter > 30 and rng.random() < 0.3 else None
    return LesionShape(site_name, center, diameter, reach, lesion_box, mask, float(rng.choice(site.hu)), necrotic)


def _lobulated(grid, center: np.ndarray, semi: np.ndarray, diameter: float,
               rng: np.random.Generator) -> tuple[Box, np.ndarray] | None:
    """An ellipsoid, with one or two overlapping lobes for lesions over 25 mm (still one component)."""
    parts = [(center, semi)]
    if diameter > 25:
        for _ in range(rng.integers(1, 3)):
            direction = rng.standard_normal(3)
            direction /= np.linalg.norm(direction)
            parts.append((center + direction * semi * 0.7, semi * rng.uniform(0.45, 0.65)))
    lo = np.min([c - s for c, s in parts], axis=0)
    hi = np.max([c + s for c, s in parts], axis=0)
    box = grid.box(lo, hi)
    if box is None:
        return None
    mask = None
    for part_center, part_semi in parts:
        mask = grid.embed(box, grid.ellipsoid(part_center, part_semi), mask)
    return box, mask
