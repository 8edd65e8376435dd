"""Synthetic whole-body FDG PET (and CT) on a realistic 4 mm grid, built organ by organ, for the SUV method's tests.

Physical LPS millimetres: x towards the patient's left, y posterior, z up; the vertex is at z = 0, the
crotch at z = -890, the grid runs from the feet (array index 0) to just above the vertex, as converted
DICOM does. The scanner is a Gaussian PSF (7 mm FWHM) over Poisson-like noise, so real-looking noise specks
appear at liver-level uptake.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
from scipy import ndimage

from petseg.data.study import Study, make_study
from petseg.io.images import Volume

SPACING = 4.0
SHAPE = (252, 120, 120)  # z, y, x
ORIGIN = (-(SHAPE[2] - 1) * SPACING / 2, -(SHAPE[1] - 1) * SPACING / 2, -1000.0)
NOISE = 0.19  # SD = NOISE x sqrt(SUV) after the PSF, as in the phantom generator
FWHM_MM = 7.0


@dataclass
class Body:
    """Activity (SUV), CT (HU) and lesion label maps being painted."""

    seed: int = 0
    noise: float = NOISE
    activity: np.ndarray = field(default_factory=lambda: np.zeros(SHAPE, np.float32))
    ct: np.ndarray = field(default_factory=lambda: np.full(SHAPE, -1000.0, np.float32))
    label: np.ndarray = field(default_factory=lambda: np.zeros(SHAPE, np.uint8))

    def coords(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Physical z, y, x of the grid (broadcastable)."""
        z = ORIGIN[2] + SPACING * np.arange(SHAPE[0])[:, None, None]
        y = ORIGIN[1] + SPACING * np.arange(SHAPE[1])[None, :, None]
        x = ORIGIN[0] + SPACING * np.arange(SHAPE[2])[None, None, :]
        return z, y, x

    def ellipsoid(self, centre: tuple[float, float, float], semi: tuple[float, float, float]) -> np.ndarray:
        """Mask of an ellipsoid (centre and semi-axes in x, y, z mm)."""
        z, y, x = self.coords()
        return ((x - centre[0]) / semi[0]) ** 2 + ((y - centre[1]) / semi[1]) ** 2 \
            + ((z - centre[2]) / semi[2]) ** 2 <= 1.0

    def cylinder(self, centre_xy: tuple[float, float], semi_xy: tuple[float, float], z_range: tuple[float, float]):
        """Mask of an elliptic cylinder along z."""
        z, y, x = self.coords()
        return (((x - centre_xy[0]) / semi_xy[0]) ** 2 + ((y - centre_xy[1]) / semi_xy[1]) ** 2 <= 1.0) \
            & (z >= z_range[0]) & (z <= z_range[1])

    def tube(self, points: list[tuple[float, float, float]], radius: float) -> np.ndarray:
        """Mask of a tube of `radius` along a polyline."""
        mask = np.zeros(SHAPE, bool)
        for a, b in pairwise(points):
            for t in np.linspace(0.0, 1.0, max(int(np.linalg.norm(np.subtract(b, a)) / 2), 2)):
                point = tuple(np.add(a, t * np.subtract(b, a)))
                mask |= self.ellipsoid(point, (radius, radius, radius))
        return mask

    def paint(self, mask: np.ndarray, suv: float, hu: float = 40.0, lesion: bool = False) -> None:
        self.activity[mask] = suv
        self.ct[mask] = hu
        if lesion:
            self.label[mask] = 1

    def node(self, centre: tuple[float, float, float], volume_ml: float, suv: float) -> None:
        """A spherical lesion of `volume_ml`."""
        radius = (3 * volume_ml * 1000 / (4 * np.pi)) ** (1 / 3)
        self.paint(self.ellipsoid(centre, (radius, radius, radius)), suv, 35.0, lesion=True)

    def study(self, ct: bool = False, ct_above_mm: float | None = None, fov_top_mm: float | None = None) -> Study:
        """The scanner's image as a Study; with `ct`, a CT covering the body above `ct_above_mm` (all by default);
        `fov_top_mm` ends the field of view there (a scan from the skull base)."""
        rng = np.random.default_rng(self.seed)
        sigma = FWHM_MM / 2.3548 / SPACING
        impulse = np.zeros((9, 9, 9))
        impulse[4, 4, 4] = 1.0
        gain = float(np.sqrt(np.sum(ndimage.gaussian_filter(impulse, sigma) ** 2)))
        noise = rng.standard_normal(SHAPE).astype(np.float32) * np.sqrt(self.activity) * (self.noise / gain)
        noisy = self.activity + noise
        pet = np.maximum(ndimage.gaussian_filter(noisy, sigma, mode="constant"), 0.0).astype(np.float32)
        top = SHAPE[0] if fov_top_mm is None else int((fov_top_mm - ORIGIN[2]) / SPACING) + 1
        suv = Volume(pet[:top], (SPACING,) * 3, ORIGIN)
        label = Volume(self.label[:top].copy(), (SPACING,) * 3, ORIGIN)
        ct_volume = None
        if ct:
            first = 0 if ct_above_mm is None else int(np.ceil((ct_above_mm - ORIGIN[2]) / SPACING))
            ct_origin = (ORIGIN[0], ORIGIN[1], ORIGIN[2] + first * SPACING)
            ct_volume = Volume(self.ct[first:top].copy(), (SPACING,) * 3, ct_origin)
        return make_study(suv, ct_volume, label, {"case": "synthetic"}, tracer="fdg")


def standard_body(seed: int = 0, heart: str = "shell", testes: bool = False, ureters: bool = False,
                  head: bool = True, noise: float = NOISE, arms_up: bool = False) -> Body:
    """An adult from the vertex to the upper thighs, arms down (or raised beside the head, hands beyond the
    top of the grid); `heart` is solid, shell, ring (the lateral wall), arc (a short stretch of it) or absent.

    `head` False starts the body at the skull base (as a field of view from the skull base would show it);
    `noise` sets the image noise (SD / sqrt(SUV))."""
    body = Body(seed, noise)
    soft, fat = (0.8, 40.0), (0.35, -100.0)
    body.paint(body.cylinder((0, 10), (150, 100), (-890, -280)), *soft)
    body.paint(body.cylinder((0, 10), (60, 58), (-290, -150)), *soft)  # neck
    for side in (-1, 1):
        arm = ((side * 130, 20), (30, 30), (-330, 10)) if arms_up else ((side * 200, 10), (36, 36), (-800, -300))
        body.paint(body.cylinder(*arm), *soft)
        if not arms_up:  # the shoulder joins the arm to the trunk
            body.paint(body.tube([(side * 140, 10, -300), (side * 200, 10, -320)], 34), *soft)
        body.paint(body.cylinder((side * 90, 5), (72, 72), (-1000, -890)), *soft)  # thighs
    if head:
        body.paint(body.ellipsoid((0, 5, -115), (78, 98, 118)), *soft)
        body.paint(body.ellipsoid((0, 5, -112), (73, 92, 112)) & ~body.ellipsoid((0, 5, -110), (66, 85, 104)),
                   0.4, 1000.0)  # skull
        body.paint(body.ellipsoid((0, 5, -95), (60, 75, 75)), 10.0, 35.0)  # cerebral cortex ...
        body.paint(body.ellipsoid((0, 5, -95), (51, 66, 66)), 4.5, 30.0)  # ... around the white matter
        body.paint(body.ellipsoid((0, 40, -160), (45, 30, 22)), 9.0, 35.0)  # cerebellum
    for side in (-1, 1):
        body.paint(body.ellipsoid((side * 55, 15, -200), (14, 20, 22)), 2.5, 25.0)  # parotid
        body.paint(body.ellipsoid((side * 16, 0, -215), (8, 8, 12)), 4.5, 45.0)  # palatine tonsil
        body.paint(body.ellipsoid((side * 80, 15, -430), (60, 75, 130)), 0.4, -800.0)  # lungs
    body.paint(body.ellipsoid((0, -40, -740), (100, 50, 70)), 1.9, 30.0)  # bowel and mesentery
    body.paint(body.cylinder((0, 0), (140, 90), (-880, -800)) & ~body.ellipsoid((0, -25, -850), (47, 42, 34)), *fat)
    _heart(body, heart)
    body.paint(body.ellipsoid((-60, 5, -590), (90, 85, 75)), 2.3, 58.0)  # liver
    body.paint(body.ellipsoid((95, 45, -580), (32, 40, 55)), 1.9, 48.0)  # spleen
    for side in (-1, 1):
        body.paint(body.ellipsoid((side * 75, 60, -660), (30, 28, 55)), 3.2, 35.0)  # kidney
        body.paint(body.ellipsoid((side * 62, 55, -665), (10, 9, 18)), 20.0, 10.0)  # renal pelvis (urine)
    body.paint(body.ellipsoid((0, -25, -850), (45, 40, 32)), 40.0, 5.0)  # bladder (urine)
    if ureters:
        for side in (-1, 1):  # segments of urine along the psoas (peristalsis leaves gaps)
            body.paint(body.tube([(side * 52, 45, -732), (side * 49, 40, -755)], 3.5), 15.0, 10.0)
            body.paint(body.tube([(side * 45, 35, -770), (side * 40, 25, -795)], 3.5), 15.0, 10.0)
    if testes:
        body.paint(body.ellipsoid((0, -62, -925), (42, 32, 36)), 0.8, 40.0)  # scrotum
        for side in (-1, 1):
            body.paint(body.ellipsoid((side * 18, -65, -925), (14, 12, 17)), 3.6, 35.0)
    return body


def _heart(body: Body, kind: str) -> None:
    centre, outer, inner = (25.0, -25.0, -470.0), (46.0, 40.0, 45.0), (33.0, 27.0, 32.0)
    wall = body.ellipsoid(centre, outer) & ~body.ellipsoid(centre, inner)
    cavity = body.ellipsoid(centre, inner)
    body.paint(cavity, 1.8, 42.0)
    if kind == "solid":
        body.paint(wall, 11.0, 45.0)
        body.paint(cavity, 7.0, 42.0)  # thick, blurred myocardium: the heart fills at the threshold
    elif kind == "shell":
        body.paint(wall, 11.0, 45.0)
    elif kind in ("ring", "arc"):
        z, y, x = body.coords()
        hot = wall & (x > centre[0] + 10)  # the lateral wall only ...
        if kind == "arc":  # ... or just a short stretch of it
            hot &= (np.abs(z - centre[2]) < 22) & (y > centre[1] - 15)
        body.paint(wall, 1.8, 45.0)
        body.paint(hot, 11.0, 45.0)
    else:
        body.paint(wall, 1.6, 45.0)


def found(study: Study, mask: np.ndarray, centre: tuple[float, float, float]) -> bool:
    """True when the predicted `mask` overlaps the label component at `centre`."""
    from petseg.metrics.components import label_components

    labels, _ = label_components(study.label.array > 0)
    index = tuple(np.rint(study.suv.physical_to_index(np.array(centre))).astype(int))
    return bool(labels[index]) and bool(mask[labels == labels[index]].any())


def reasons_at(result, study: Study, centre: tuple[float, float, float]) -> set[str]:
    """Reasons of the suppressed regions within 15 mm of `centre`."""
    return {item["reason"] for item in result.suppressed
            if np.linalg.norm(np.subtract(item["centroid_mm"], centre)) <= 15.0}
