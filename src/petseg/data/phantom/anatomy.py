"""A synthetic adult body from skull vertex to mid-thigh, as a map of tissue codes.

Positions are given as depth `d` below the vertex on a 1000 mm scale (mid-thigh = 1000) and mapped
onto the grid's axial field of view, so the same body fills the 'full' and 'small' grids. x is the
patient's left, y posterior. Everything is analytic (ellipsoids, extruded ellipses, tubes), evaluated
inside bounding boxes, so a full-size body takes a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from petseg.data.phantom.grid import Box, Grid

TISSUES = (
    "air", "lung", "fat", "muscle", "cortical", "marrow", "brain", "myocardium", "blood", "liver", "spleen",
    "kidney", "kidney_urine", "bladder", "bowel", "bowel_gas", "salivary", "lacrimal", "tonsil", "prostate",
    "brown_fat", "inflammation", "ganglion", "ureter", "lesion",
)
CODE = {name: code for code, name in enumerate(TISSUES)}
SOFT = (CODE["fat"], CODE["muscle"])
BONE = (CODE["cortical"], CODE["marrow"])

# Trunk outline below the fat layer: depth, semi-axis x (a), semi-axis y (b), all mm.
_TRUNK = np.array([
    (265, 45, 45), (300, 135, 80), (340, 152, 97), (560, 150, 95), (650, 133, 93), (790, 152, 93),
    (870, 145, 85), (910, 95, 62), (935, 50, 40),
], dtype=float)
# Spine: depth, centre y, vertebral body radius.
_SPINE = np.array([(190, 25, 11), (280, 35, 12), (350, 70, 15), (500, 75, 17), (650, 55, 20), (760, 60, 20),
                   (850, 80, 18)], dtype=float)
TRUNK_CY = 10.0


@dataclass
class Anatomy:
    """The tissue map of one body plus what later stages need to place uptake and lesions."""

    grid: Grid
    tissue: np.ndarray
    fat_mm: float
    male: bool
    segments: dict[str, list[tuple[Box, np.ndarray]]] = field(default_factory=dict)

    def z(self, depth: float) -> float:
        """Physical z (mm) of a depth below the vertex (1000 = bottom of the field of view)."""
        top = self.grid.height_mm * 0.99
        return top - depth * top / 1000.0

    def dz(self, length: float) -> float:
        """Axial length in mm of a length on the depth scale."""
        return length * self.grid.height_mm * 0.99 / 1000.0

    def point(self, x: float, y: float, depth: float) -> np.ndarray:
        """Physical (x, y, z) of a point given by depth."""
        return np.array([x, y, self.z(depth)])

    def spine_y(self, depth: float) -> float:
        """Centre y of the vertebral bodies at a depth."""
        return float(np.interp(depth, _SPINE[:, 0], _SPINE[:, 1]))

    def trunk_semi_axes(self, depth: float) -> tuple[float, float]:
        """Semi-axes (x, y) of the trunk below the fat layer at a depth."""
        return float(np.interp(depth, _TRUNK[:, 0], _TRUNK[:, 1])), float(np.interp(depth, _TRUNK[:, 0], _TRUNK[:, 2]))

    def paint(self, shape: tuple[Box, np.ndarray] | None, tissue: str,
              allowed: tuple[int, ...] | None = None) -> tuple[Box, np.ndarray] | None:
        """Set the voxels of `shape` (restricted to `allowed` codes) to `tissue`; returns what was painted."""
        if shape is None:
            return None
        box, mask = shape
        region = self.tissue[box]
        if allowed is not None:
            mask = mask & np.isin(region, allowed)
        region[mask] = CODE[tissue]
        return box, mask

    def ellipsoid(self, x: float, y: float, depth: float, semi: tuple[float, float, float]):
        """An ellipsoid at a depth; the z semi-axis is on the depth scale."""
        return self.grid.ellipsoid(self.point(x, y, depth), np.array([semi[0], semi[1], self.dz(semi[2])]))

    def cylinder(self, d_top: float, d_bottom: float, rows: list[tuple[float, float, float, float, float]]):
        """An extruded ellipse between two depths; rows are (depth, cx, cy, a, b)."""
        profile = np.array([(self.z(d), cx, cy, a, b) for d, cx, cy, a, b in rows])[::-1]
        return self.grid.elliptic_cylinder(self.z(d_bottom), self.z(d_top), profile)

    def tube(self, waypoints: list[tuple[float, float, float]], radius: float, step: float | None = None):
        """A tube of `radius` through waypoints (x, y, depth), sampled every `step` mm."""
        points = np.array([self.point(*w) for w in waypoints])
        return self.grid.tube(resample_path(points, step or radius * 0.6), radius)


def resample_path(points: np.ndarray, step: float) -> np.ndarray:
    """Points every `step` mm along the polyline through `points`."""
    lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
    cumulative = np.concatenate([[0.0], np.cumsum(lengths)])
    samples = np.linspace(0.0, cumulative[-1], max(int(cumulative[-1] / step), 1) + 1)
    return np.stack([np.interp(samples, cumulative, points[:, k]) for k in range(3)], axis=1)


def build_anatomy(grid: Grid, rng: np.random.Generator) -> Anatomy:
    """A body with a random habitus (fat layer, bladder filling, sex, bowel course) on `grid`."""
    anatomy = Anatomy(grid=grid, tissue=np.zeros(grid.shape, dtype=np.uint8),
                      fat_mm=float(rng.uniform(8.0, 35.0)), male=bool(rng.random() < 0.5))
    _body_outline(anatomy)
    _visceral_fat(anatomy, rng)
    _thorax(anatomy)
    _abdomen(anatomy, rng)
    _skeleton(anatomy)
    _head_and_neck(anatomy)
    return anatomy


def _body_outline(a: Anatomy) -> None:
    fat = a.fat_mm
    for grow, tissue in ((fat, "fat"), (0.0, "muscle")):
        trunk_rows = [(d, 0.0, TRUNK_CY, sx + grow, sy + grow) for d, sx, sy in _TRUNK]
        a.paint(a.cylinder(265, 935, trunk_rows), tissue)
        neck_rows = [(d, 0.0, 10.0, 50 + grow / 2, 52 + grow / 2) for d in (185, 300)]
        a.paint(a.cylinder(185, 300, neck_rows), tissue)
        for side in (-1, 1):
            arm = [(300, side * (190 + fat), 10.0, 38 + grow * 0.6, 38 + grow * 0.6),
                   (820, side * (185 + fat), 10.0, 30 + grow * 0.6, 30 + grow * 0.6)]
            a.paint(a.cylinder(300, 820, arm), tissue)
            thigh = [(d, side * 88.0, 5.0, 72 + grow, 72 + grow) for d in (845, 1010)]
            a.paint(a.cylinder(845, 1010, thigh), tissue)
    a.paint(a.ellipsoid(0, 0, 105, (78, 96, 110)), "muscle")


def _visceral_fat(a: Anatomy, rng: np.random.Generator) -> None:
    """Patchy intra-abdominal fat from a smooth random field (coarse noise, linearly upsampled)."""
    sx, sy = a.trunk_semi_axes(750)
    shape = a.cylinder(640, 870, [(d, 0.0, TRUNK_CY, sx - 25, sy - 25) for d in (640, 870)])
    if shape is None:
        return
    box, mask = shape
    box_shape = mask.shape
    coarse_shape = tuple(max(int(n * s / 20.0), 2) for n, s in zip(box_shape, a.grid.spacing[::-1], strict=True))
    noise = ndimage.zoom(rng.standard_normal(coarse_shape).astype(np.float32),
                         [n / c for n, c in zip(box_shape, coarse_shape, strict=True)], order=1)
    noise = noise[tuple(slice(0, n) for n in box_shape)]
    patch = np.zeros(box_shape, dtype=bool)
    patch[tuple(slice(0, n) for n in noise.shape)] = noise > 0.2
    a.paint((box, mask & patch), "fat", allowed=(CODE["muscle"],))


def _thorax(a: Anatomy) -> None:
    a.paint(a.ellipsoid(0, -5, 420, (30, 50, 80)), "fat")  # mediastinal fat
    a.paint(a.ellipsoid(-80, 15, 430, (62, 80, 130)), "lung", allowed=SOFT)
    a.paint(a.ellipsoid(80, 15, 440, (60, 80, 135)), "lung", allowed=SOFT)
    a.paint(a.ellipsoid(25, -25, 480, (58, 50, 55)), "myocardium")
    a.paint(a.ellipsoid(25, -25, 480, (46, 38, 43)), "blood")
    arch = [(25, -30, 450), (20, -15, 395), (15, 15, 385), (18, 40, 410)]
    descending = [(18, a.spine_y(d) - 35, d) for d in range(420, 745, 20)]
    a.paint(a.tube(arch + descending, 12.0), "blood", allowed=(*SOFT, CODE["lung"]))


def _abdomen(a: Anatomy, rng: np.random.Generator) -> None:
    free = (*SOFT, CODE["lung"])
    a.paint(a.ellipsoid(-60, 5, 615, (88, 85, 75)), "liver", allowed=free)
    a.paint(a.ellipsoid(92, 50, 600, (32, 42, 55)), "spleen", allowed=free)
    for side in (-1, 1):
        a.paint(a.ellipsoid(side * 72, 62, 680, (30, 28, 55)), "kidney", allowed=free)
        a.paint(a.ellipsoid(side * 62, 55, 680, (10, 9, 18)), "kidney_urine")
    _bowel(a, rng)
    fill = float(rng.uniform(0.6, 1.3))
    a.paint(a.ellipsoid(0, -35, 862, (45 * fill, 40 * fill, 32 * fill)), "bladder", allowed=(*SOFT, CODE["bowel"]))
    if a.male:
        a.paint(a.ellipsoid(0, 5, 900, (20, 16, 18)), "prostate", allowed=SOFT)
    ureters = []
    for side in (-1, 1):
        path = [(side * 60, 50, 700), (side * 55, 40, 750), (side * 45, 20, 800), (side * 20, -20, 850)]
        points = np.array([a.point(*w) for w in path])
        for chunk in np.array_split(resample_path(points, 2.0), 4):
            painted = a.paint(a.grid.tube(chunk, 3.5), "ureter", allowed=SOFT)
            if painted is not None:
                ureters.append(painted)
    a.segments["ureter"] = ureters


def _bowel(a: Anatomy, rng: np.random.Generator) -> None:
    """Colon frame and small-bowel loops; wall segments kept for per-segment uptake."""
    jitter = rng.uniform(-8, 8, size=(9, 2))
    colon = [(-100, -20, 830), (-105, -10, 760), (-100, -30, 700), (-40, -70, 720), (40, -70, 725),
             (100, -10, 690), (102, -5, 760), (95, -10, 815), (40, 0, 850)]
    colon = [(x + j[0], y + j[1], d) for (x, y, d), j in zip(colon, jitter, strict=True)]
    colon += [(10, 45, 870), (0, 50, 900)]  # rectum, behind the bladder
    paths = [(colon, 15.0)]
    for _ in range(3):
        t = np.linspace(0, 1, 24)
        centre = rng.uniform([-50, -50, 730], [50, -15, 800])
        amp, freq, phase = rng.uniform(15, 35, 3), rng.uniform(1.0, 2.5, 3), rng.uniform(0, 2 * np.pi, 3)
        loop = centre + amp * np.sin(2 * np.pi * freq * t[:, None] + phase)
        paths.append(([tuple(p) for p in loop], 10.0))
    segments = []
    for waypoints, radius in paths:
        points = resample_path(np.array([a.point(*w) for w in waypoints]), radius * 0.6)
        for chunk in np.array_split(points, max(len(points) // 8, 1)):
            painted = a.paint(a.grid.tube(chunk, radius), "bowel", allowed=SOFT)
            if painted is None:
                continue
            segments.append(painted)
            if radius > 12 and rng.random() < 0.5:
                a.paint(a.grid.tube(chunk, radius - 6), "bowel_gas", allowed=(CODE["bowel"],))
    a.segments["bowel"] = segments


def _skeleton(a: Anatomy) -> None:
    for top in np.arange(190.0, 850.0, 28.0):
        bottom = min(top + 23.0, 850.0)
        mid = (top + bottom) / 2
        y, r = a.spine_y(mid), float(np.interp(mid, _SPINE[:, 0], _SPINE[:, 2]))
        a.paint(a.cylinder(top, bottom, [(d, 0.0, y, r, r * 0.85) for d in (top, bottom)]), "cortical")
        a.paint(a.cylinder(top, bottom, [(d, 0.0, y, r - 3, r * 0.85 - 3) for d in (top, bottom)]), "marrow")
        a.paint(a.cylinder(top, bottom, [(d, 0.0, y + r + 12, 14, 9) for d in (top, bottom)]), "cortical")
    for depth in np.arange(320.0, 575.0, 24.0):
        sx, sy = a.trunk_semi_axes(depth)
        outer = a.cylinder(depth - 5, depth + 5, [(d, 0.0, TRUNK_CY, sx - 4, sy - 4) for d in (depth - 5, depth + 5)])
        inner = a.cylinder(depth - 5, depth + 5, [(d, 0.0, TRUNK_CY, sx - 13, sy - 13) for d in (depth - 5, depth + 5)])
        if outer is not None:
            box, mask = outer
            y, x = a.grid.coords(1, box[1]), a.grid.coords(2, box[2])
            sternal_gap = (np.abs(x)[None, None, :] < 30) & (y[None, :, None] < TRUNK_CY)
            a.paint((box, mask & ~a.grid.embed(box, inner) & ~sternal_gap), "cortical", allowed=SOFT)
    sternum_y = TRUNK_CY - a.trunk_semi_axes(420)[1] + 12
    a.paint(a.cylinder(330, 520, [(d, 0.0, sternum_y, 15, 6) for d in (330, 520)]), "marrow")
    for side in (-1, 1):
        a.paint(a.tube([(side * 20, -60, 290), (side * 140, -20, 285)], 8.0), "cortical")  # clavicle
        a.paint(a.ellipsoid(side * 110, 95, 360, (45, 8, 70)), "cortical", allowed=SOFT)  # scapula
        a.paint(a.ellipsoid(side * 95, 40, 790, (50, 28, 50)), "cortical")  # iliac wing
        a.paint(a.ellipsoid(side * 95, 40, 790, (44, 22, 44)), "marrow")
        a.paint(a.ellipsoid(side * 92, 5, 852, (24, 24, 24)), "cortical")  # femoral head
        a.paint(a.ellipsoid(side * 92, 5, 852, (18, 18, 18)), "marrow")
        femur = [(d, side * 92.0, 5.0, 14, 14) for d in (852, 1010)]
        a.paint(a.cylinder(852, 1010, femur), "cortical")
        a.paint(a.cylinder(860, 1010, [(d, side * 92.0, 5.0, 8, 8) for d in (860, 1010)]), "marrow")
        arm_x = side * (190 + a.fat_mm)
        a.paint(a.cylinder(310, 560, [(d, arm_x, 10.0, 11, 11) for d in (310, 560)]), "cortical")  # humerus
        a.paint(a.cylinder(575, 800, [(d, arm_x, 10.0, 9, 7) for d in (575, 800)]), "cortical")  # forearm


def _head_and_neck(a: Anatomy) -> None:
    a.paint(a.ellipsoid(0, 0, 105, (73, 91, 104)), "cortical")  # skull
    a.paint(a.ellipsoid(0, 0, 100, (64, 82, 92)), "brain")
    for side in (-1, 1):
        a.paint(a.ellipsoid(side * 55, 15, 175, (14, 20, 22)), "salivary")  # parotid
        a.paint(a.ellipsoid(side * 30, -20, 205, (11, 11, 11)), "salivary")  # submandibular
        a.paint(a.ellipsoid(side * 15, 0, 195, (8, 8, 12)), "tonsil")
        a.paint(a.ellipsoid(side * 30, -75, 75, (8, 5, 5)), "lacrimal")
