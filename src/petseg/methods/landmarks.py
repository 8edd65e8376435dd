"""Coarse anatomy found from the images: the body, its axial sections, midline and extent.

Heuristics of the kind a reader applies at a glance. The body is cut into axial sections; in each,
the main part (the trunk, the head between raised arms, or the pair of legs) gives a local midline
and centre, so that "lateral" and "posterior" hold for a patient lying off-centre or with the arms
up. They work in physical LPS millimetres, so they do not depend on how the array is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import cc3d
import numpy as np
from scipy import ndimage

from petseg.data.study import BODY_SUV, Study
from petseg.io.images import Volume

BODY_HU = -400.0
MAJOR_PART = 0.25  # a part of an axial section counts when it has this fraction of the largest part's area
LEG_BALANCE = 0.5  # two legs: the smaller part has at least this fraction of the larger one's area
LEG_SEPARATION_MM = 20.0  # ... and each lies at least this far to its side of the midline
HEAD_BAND_MM = 50.0  # the head's section lies within this distance of the trunk's midline
SMOOTH_MM = 100.0  # local midline and centre are median-filtered over this axial length (a bulge is shorter)
SECTION_STEP_MM = (6.0, 5.0)  # axial sections are read about this far apart, on about this in-plane spacing


@dataclass(frozen=True, eq=False)
class BodyFrame:
    """The body's extent and axes.

    `top_mm` is its most superior z, `head_top_mm` that of its central part (raised hands left out),
    `midline_x`/`center_y` the whole body's centre; `section_z` (ascending) with `section_x`/`section_y`
    give the centre of the main part of each axial section; `legs_top_mm` is where the body divides
    into two legs (None when the field of view ends above).
    """

    mask: np.ndarray
    top_mm: float
    height_mm: float
    midline_x: float
    center_y: float
    head_present: bool
    fov_top_mm: float
    head_top_mm: float
    section_z: np.ndarray
    section_x: np.ndarray
    section_y: np.ndarray
    legs_top_mm: float | None

    def depth_mm(self, point: np.ndarray) -> float:
        """Distance below the top of the body."""
        return self.top_mm - float(point[2])

    def depth_fraction(self, point: np.ndarray) -> float:
        """Depth as a fraction of the body's axial extent (0 at the top, 1 at the bottom)."""
        return self.depth_mm(point) / max(self.height_mm, 1.0)

    def midline_at(self, z_mm: float | np.ndarray) -> float | np.ndarray:
        """x of the body's local midline at height `z_mm`."""
        return np.interp(z_mm, self.section_z, self.section_x)

    def lateral_mm(self, point: np.ndarray) -> float:
        """Signed distance from the local midline, positive towards the patient's left."""
        return float(point[0]) - float(self.midline_at(float(point[2])))

    def posterior_mm(self, point: np.ndarray) -> float:
        """Signed distance behind the local centre of the body (positive = posterior)."""
        return float(point[1]) - float(np.interp(float(point[2]), self.section_z, self.section_y))


def axial_axis(volume: Volume) -> int:
    """The array axis (0, 1 or 2 of z, y, x) that runs along the patient's head-foot axis."""
    superior = int(np.argmax(np.abs(volume.direction_matrix[2, :])))  # among the x, y, z array axes
    return 2 - superior


def slice_heights(volume: Volume, axis: int) -> np.ndarray:
    """Physical z (mm) of each index along array `axis` (taken at the grid's first voxel)."""
    index = np.zeros((volume.shape[axis], 3))
    index[:, axis] = np.arange(volume.shape[axis])
    return volume.index_to_physical(index)[:, 2]


def body_frame(study: Study) -> BodyFrame:
    """The body (largest connected region above an SUV floor, and above -400 HU where there is a CT)."""
    suv = study.suv
    inside = suv.array > BODY_SUV
    if study.ct is not None:
        inside |= study.ct.array > BODY_HU
    labels, count = cc3d.connected_components(inside, connectivity=6, return_N=True)
    if count == 0:
        body = inside
    else:
        sizes = np.bincount(labels[inside])
        body = labels == int(np.argmax(sizes[1:]) + 1)
    lo, hi, mean = _extent(body)
    corners = np.array([[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])])
    physical = suv.index_to_physical(corners)
    centre = suv.index_to_physical(mean)
    shape = np.array(suv.shape) - 1
    grid_corners = suv.index_to_physical(np.array([[a, b, c] for a in (0, shape[0]) for b in (0, shape[1])
                                                   for c in (0, shape[2])]))
    sections = _sections(body, suv, float(centre[0]))
    return BodyFrame(mask=body, top_mm=float(physical[:, 2].max()),
                     height_mm=float(physical[:, 2].max() - physical[:, 2].min()),
                     midline_x=float(centre[0]), center_y=float(centre[1]), head_present=_head_present(body, suv),
                     fov_top_mm=float(grid_corners[:, 2].max()), **sections)


def _extent(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lowest and highest index and mean index (z, y, x) of the True voxels (zeros for an empty mask)."""
    if not mask.any():
        return np.zeros(3), np.zeros(3), np.zeros(3)
    lo, hi, mean = np.zeros(3), np.zeros(3), np.zeros(3)
    for axis in range(3):
        counts = mask.sum(axis=tuple(a for a in range(3) if a != axis))
        rows = np.flatnonzero(counts)
        lo[axis], hi[axis] = rows[0], rows[-1]
        mean[axis] = float(np.dot(np.arange(counts.size), counts)) / float(counts.sum())
    return lo, hi, mean


@dataclass(frozen=True)
class _Part:
    label: int
    area: float
    x: float
    y: float


def _section_parts(labels: np.ndarray, count: int, coords: tuple[np.ndarray, np.ndarray]) -> list[_Part]:
    """The major connected parts of one labelled axial section with their area (voxels) and centre (mm),
    largest first."""
    flat = labels.ravel()
    area = np.bincount(flat, minlength=count + 1)[1:].astype(float)
    x = np.bincount(flat, coords[0].ravel(), minlength=count + 1)[1:] / np.maximum(area, 1)
    y = np.bincount(flat, coords[1].ravel(), minlength=count + 1)[1:] / np.maximum(area, 1)
    order = np.argsort(-area)
    return [_Part(int(i) + 1, float(area[i]), float(x[i]), float(y[i])) for i in order
            if area[i] >= MAJOR_PART * area[order[0]]]


def _is_legs(parts: list[_Part], midline: float) -> bool:
    """Two parts of comparable size, one on each side of the midline, nothing major between them."""
    if len(parts) < 2 or parts[1].area < LEG_BALANCE * parts[0].area:
        return False
    left, right = sorted((parts[0].x, parts[1].x))
    apart = left < midline - LEG_SEPARATION_MM < midline + LEG_SEPARATION_MM < right
    return apart and not any(left < p.x < right for p in parts[2:])


def _mirror_centre(xs: np.ndarray, step: float) -> float:
    """The x about which the points `xs` are most symmetric (peak of the autoconvolution of their profile):
    an asymmetric bulge (a bulky node, an arm against the trunk) hardly moves it, unlike the centroid."""
    lo = float(xs.min())
    profile = np.bincount(np.rint((xs - lo) / step).astype(np.int64)).astype(float)
    return lo + float(np.argmax(np.convolve(profile, profile))) * step / 2


def _section_centre(section: np.ndarray, coords: tuple[np.ndarray, np.ndarray], midline: float,
                    step: float) -> tuple[float, float, bool, bool] | None:
    """(x, y) of the main part of one axial section, whether it is the two legs, whether it is central."""
    labels, count = cc3d.connected_components(section.astype(np.uint8), connectivity=8, return_N=True)
    if count == 0:
        return None
    parts = _section_parts(labels, count, coords)
    legs = _is_legs(parts, midline)
    chosen = parts[:2] if legs else [min(parts, key=lambda p: abs(p.x - midline))]
    inside = np.isin(labels, [p.label for p in chosen])
    y = sum(p.y * p.area for p in chosen) / sum(p.area for p in chosen)
    x = _mirror_centre(coords[0][inside], step)
    return x, y, legs, abs(chosen[0].x - midline) <= HEAD_BAND_MM


def _sections(body: np.ndarray, volume: Volume, midline: float) -> dict:
    """Local centre of every axial section, the top of the head and the top of the legs."""
    axis = axial_axis(volume)
    plane_axes = [a for a in range(3) if a != axis]
    steps = [max(round(SECTION_STEP_MM[1] / volume.spacing_zyx[a]), 1) for a in plane_axes]
    rows = np.arange(0, volume.shape[axis], max(round(SECTION_STEP_MM[0] / volume.spacing_zyx[axis]), 1))
    rows = np.union1d(rows, [volume.shape[axis] - 1])  # the last section too (the top or the bottom)
    heights = slice_heights(volume, axis)[rows]
    moved = np.moveaxis(body, axis, 0)[rows][:, ::steps[0], ::steps[1]]
    grid = np.zeros((*moved.shape[1:], 3))
    for k, a in enumerate(plane_axes):
        shape = [1, 1]
        shape[k] = -1
        grid[..., a] = (np.arange(moved.shape[1 + k]) * steps[k]).reshape(shape)
    plane = volume.index_to_physical(grid)  # (x, y, z) of every in-plane index, first slice
    coords = (plane[..., 0], plane[..., 1])
    step = max(volume.spacing[0] * steps[-1], 1.0)
    xs, ys, legs = np.full(len(heights), midline), np.full(len(heights), np.nan), np.zeros(len(heights), bool)
    head_top = -np.inf
    for k in range(len(heights)):
        found = _section_centre(moved[k], coords, midline, step)
        if found is not None:
            xs[k], ys[k], legs[k], central = found
            if central and not legs[k]:
                head_top = max(head_top, float(heights[k]))
    order = np.argsort(heights)
    heights, xs, ys, legs = heights[order], xs[order], ys[order], legs[order]
    known = ~np.isnan(ys)
    ys = np.interp(heights, heights[known], ys[known]) if known.any() else np.zeros_like(ys)
    size = max(round(SMOOTH_MM / max(float(np.median(np.abs(np.diff(heights)))) if len(heights) > 1 else 1.0,
                                     1e-3)), 1) | 1
    return {"section_z": heights, "section_x": ndimage.median_filter(xs, size, mode="nearest"),
            "section_y": ndimage.median_filter(ys, size, mode="nearest"),
            "head_top_mm": head_top if np.isfinite(head_top) else float(heights[-1]),
            "legs_top_mm": _legs_top(heights, legs, known)}


def _legs_top(heights: np.ndarray, legs: np.ndarray, known: np.ndarray, min_sections: int = 3) -> float | None:
    """Top of the run of two-leg sections that starts at the bottom of the body (the crotch), if any."""
    rows = np.flatnonzero(known)
    if rows.size == 0:
        return None
    run = 0
    for k in rows:
        if not legs[k]:
            break
        run += 1
    return float(heights[rows[run - 1]]) if run >= min_sections else None


def _head_present(body: np.ndarray, suv: Volume) -> bool:
    """True when the top of the body is narrower than the shoulders (the field of view includes a head)."""
    axis = axial_axis(suv)
    superior_axis = 2 - axis
    sign = np.sign(suv.direction_matrix[2, superior_axis]) or 1.0
    area = body.sum(axis=tuple(a for a in range(3) if a != axis)).astype(float)
    rows = np.flatnonzero(area)
    if rows.size < 10:
        return False
    ordered = area[rows][::-1] if sign > 0 else area[rows]  # from the top down
    top_extent = max(round(100.0 / suv.spacing[superior_axis]), 1)
    return bool(ordered[:top_extent].mean() < 0.6 * ordered.max())


def in_limb(volume: Volume, body: BodyFrame, points_mm: np.ndarray) -> np.ndarray:
    """For each of `points_mm` (N, 3; or one point), True when it lies in a part of its axial section other than
    the body's main part: an arm or a hand (beside the trunk, or raised beside the head), not the trunk, the head
    or the two legs. Each axial section is read once, however many points lie in it."""
    points = np.atleast_2d(np.asarray(points_mm, dtype=float))
    axis = axial_axis(volume)
    indices = np.clip(np.rint(volume.physical_to_index(points)).astype(int), 0, np.array(volume.shape) - 1)
    plane_axes = [a for a in range(3) if a != axis]
    limb = np.zeros(len(points), dtype=bool)
    for section in np.unique(indices[:, axis]):
        here = indices[:, axis] == section
        limbs = _limb_parts(volume, body, int(section), axis, float(points[here][0, 2]))
        limb[here] = limbs[tuple(indices[here][:, a] for a in plane_axes)]
    return limb


def _limb_parts(volume: Volume, body: BodyFrame, section_index: int, axis: int, z_mm: float) -> np.ndarray:
    """The parts of one axial section of the body (2D bool) that are not its main part (see `in_limb`)."""
    section = np.take(body.mask, section_index, axis=axis)
    labels, count = cc3d.connected_components(section.astype(np.uint8), connectivity=8, return_N=True)
    if count < 2:
        return np.zeros(section.shape, dtype=bool)
    plane_axes = [a for a in range(3) if a != axis]
    grid = np.zeros((*section.shape, 3))
    for k, a in enumerate(plane_axes):
        grid[..., a] = np.expand_dims(np.arange(section.shape[k]), 1 - k)
    grid[..., axis] = section_index
    plane = volume.index_to_physical(grid)
    parts = _section_parts(labels, count, (plane[..., 0], plane[..., 1]))
    midline = float(body.midline_at(z_mm))
    main = parts[:2] if _is_legs(parts, midline) else [min(parts, key=lambda p: abs(p.x - midline))]
    return (labels > 0) & ~np.isin(labels, [p.label for p in main])
