"""The phantom's voxel grid and analytic shapes evaluated inside their bounding boxes only.

Coordinates are physical mm (LPS, identity direction): x to the patient's left, y posterior,
z superior. Shapes are rasterised on voxel centres; each helper returns the array slices of the
shape's bounding box and a boolean mask of that box, so whole-volume work is avoided.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Box = tuple[slice, slice, slice]

SIZES = {
    # autoPET geometry: 400 x 400 voxels of 2.0364 mm, 3 mm slices (~98 cm axial field of view).
    "full": ((326, 400, 400), (2.0364, 2.0364, 3.0)),
    # The same body on a coarse grid, for tests: ~1.1 M voxels.
    "small": ((122, 96, 96), (6.0, 6.0, 8.0)),
    # In between, for training experiments on a CPU: lesions span more voxels than on the small grid. ~4.1 M voxels.
    "medium": ((196, 144, 144), (4.0, 4.0, 5.0)),
}


@dataclass(frozen=True)
class Grid:
    """Voxel grid with identity direction, centred in x/y, starting at z = 0 (the lowest slice)."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]

    @classmethod
    def of_size(cls, size: str) -> Grid:
        """The named grid ('full', 'medium' or 'small')."""
        shape, spacing = SIZES[size]
        return cls(shape, spacing)

    @property
    def origin(self) -> tuple[float, float, float]:
        """Physical position of voxel (0, 0, 0)."""
        _, ny, nx = self.shape
        return (-(nx - 1) / 2 * self.spacing[0], -(ny - 1) / 2 * self.spacing[1], 0.0)

    @property
    def voxel_ml(self) -> float:
        """Volume of one voxel in ml."""
        return float(np.prod(self.spacing)) / 1000.0

    @property
    def height_mm(self) -> float:
        """Axial extent of the field of view."""
        return (self.shape[0] - 1) * self.spacing[2]

    def coords(self, axis: int, index: slice | None = None) -> np.ndarray:
        """Physical coordinates of voxel centres along array axis 0 (z), 1 (y) or 2 (x)."""
        n = self.shape[axis]
        spacing = self.spacing[2 - axis]
        start = self.origin[2 - axis]
        values = start + spacing * np.arange(n, dtype=np.float32)
        return values if index is None else values[index]

    def box(self, lo_xyz: np.ndarray, hi_xyz: np.ndarray) -> Box | None:
        """Slices covering the physical box [lo, hi] (None when it misses the grid)."""
        slices = []
        for axis in range(3):
            physical = 2 - axis
            spacing, start, n = self.spacing[physical], self.origin[physical], self.shape[axis]
            first = max(int(np.ceil((lo_xyz[physical] - start) / spacing)), 0)
            last = min(int(np.floor((hi_xyz[physical] - start) / spacing)), n - 1)
            if last < first:
                return None
            slices.append(slice(first, last + 1))
        return tuple(slices)  # type: ignore[return-value]

    def ellipsoid(self, center: np.ndarray, semi: np.ndarray) -> tuple[Box, np.ndarray] | None:
        """Box and mask of the axis-aligned ellipsoid with `center` and semi-axes `semi` (x, y, z mm)."""
        center, semi = np.asarray(center, float), np.asarray(semi, float)
        box = self.box(center - semi, center + semi)
        if box is None:
            return None
        z, y, x = (self.coords(a, box[a]) for a in range(3))
        dist = (((x - center[0]) / semi[0]) ** 2)[None, None, :] + (((y - center[1]) / semi[1]) ** 2)[None, :, None]
        dist = dist + (((z - center[2]) / semi[2]) ** 2)[:, None, None]
        return box, dist <= 1.0

    def elliptic_cylinder(self, z_lo: float, z_hi: float, profile: np.ndarray) -> tuple[Box, np.ndarray] | None:
        """Box and mask of a z-extruded ellipse whose centre and semi-axes vary with z.

        `profile` holds control points as rows (z, cx, cy, a, b), linearly interpolated along z.
        """
        reach = np.abs(profile[:, 1:3]).max() + profile[:, 3:5].max()
        box = self.box(np.array([-reach, -reach, z_lo]), np.array([reach, reach, z_hi]))
        if box is None:
            return None
        z, y, x = (self.coords(a, box[a]) for a in range(3))
        cx, cy, a, b = (np.interp(z, profile[:, 0], profile[:, k])[:, None, None] for k in range(1, 5))
        dist = ((x[None, None, :] - cx) / a) ** 2 + ((y[None, :, None] - cy) / b) ** 2
        return box, dist <= 1.0

    @staticmethod
    def embed(box: Box, shape: tuple[Box, np.ndarray] | None, mask: np.ndarray | None = None) -> np.ndarray:
        """`shape`'s mask placed in the coordinates of the enclosing `box` (OR-ed into `mask` if given)."""
        if mask is None:
            mask = np.zeros(tuple(s.stop - s.start for s in box), dtype=bool)
        if shape is not None:
            sub, sub_mask = shape
            local = tuple(slice(s.start - b.start, s.stop - b.start) for s, b in zip(sub, box, strict=True))
            mask[local] |= sub_mask
        return mask

    def tube(self, points: np.ndarray, radius: float) -> tuple[Box, np.ndarray] | None:
        """Box and mask of the union of spheres of `radius` centred on `points` (N x 3, mm)."""
        box = self.box(points.min(axis=0) - radius, points.max(axis=0) + radius)
        if box is None:
            return None
        mask = None
        for point in points:
            mask = self.embed(box, self.ellipsoid(point, np.full(3, radius)), mask)
        return box, mask
