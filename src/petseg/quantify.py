"""Per-lesion quantification of a mask on an SUV volume: MTV, SUVmax/mean/peak, TLG, position.

Lesions are 18-connected components (as in the autoPET metrics), numbered by decreasing SUVmax so
that the table, the JSON and the pictures agree. All statistics are computed in float64 on the float
SUV values: nothing is ever cast to an integer type.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cc3d
import numpy as np
from scipy import ndimage

from petseg.io.images import Volume
from petseg.metrics.components import as_binary, bounding_box, label_components

# SUVpeak: mean SUV in a 1 ml sphere, radius (3 / (4 pi))^(1/3) cm = 6.2035 mm (about 12.4 mm across).
PEAK_SPHERE_RADIUS_MM = 10.0 * (3.0 / (4.0 * math.pi)) ** (1.0 / 3.0)


@dataclass
class Lesion:
    """Statistics of one lesion. `centroid_mm` is in patient (LPS) mm; `bbox_zyx` in voxel indices."""

    id: int
    voxels: int
    volume_ml: float
    suvmax: float
    suvmean: float
    suvpeak: float
    tlg: float
    centroid_mm: list[float]
    bbox_zyx: list[list[int]]


@dataclass
class Quantification:
    """All lesions of a mask, the label map numbering them (uint16, ids as in `lesions`), and totals."""

    lesions: list[Lesion]
    labels: Volume

    @property
    def totals(self) -> dict[str, float | int | None]:
        """Lesion count, TMTV (ml), total TLG and the highest SUVmax (None without lesions)."""
        return {"lesion_count": len(self.lesions),
                "tmtv_ml": float(sum(lesion.volume_ml for lesion in self.lesions)),
                "tlg": float(sum(lesion.tlg for lesion in self.lesions)),
                "suvmax": max((lesion.suvmax for lesion in self.lesions), default=None)}

    def table(self) -> tuple[list[str], list[dict[str, object]]]:
        """Columns and rows of the lesion table (lesions.csv): one row per lesion, centroid split in x/y/z."""
        columns = ["id", "voxels", "volume_ml", "suvmax", "suvmean", "suvpeak", "tlg", "centroid_x_mm",
                   "centroid_y_mm", "centroid_z_mm"]
        rows = []
        for lesion in self.lesions:
            row = {key: value for key, value in asdict(lesion).items() if key in columns}
            row.update(zip(columns[-3:], lesion.centroid_mm, strict=True))
            rows.append(row)
        return columns, rows

    def as_dict(self) -> dict[str, object]:
        """The `totals` and `lesions` parts of lesions.json."""
        return {"totals": self.totals, "lesions": [asdict(lesion) for lesion in self.lesions]}


def sphere_kernel(spacing_zyx: tuple[float, float, float], radius_mm: float) -> np.ndarray:
    """Voxels whose centres lie within `radius_mm` of the centre voxel (bool, odd shape, centre in the middle)."""
    half = [int(radius_mm // s) for s in spacing_zyx]
    grids = np.meshgrid(*[np.arange(-h, h + 1) * s for h, s in zip(half, spacing_zyx, strict=True)], indexing="ij")
    return sum(g**2 for g in grids) <= radius_mm**2


def peak_kernel(spacing_zyx: tuple[float, float, float]) -> np.ndarray:
    """The 1 ml sphere of SUVpeak on this voxel spacing."""
    return sphere_kernel(spacing_zyx, PEAK_SPHERE_RADIUS_MM)


def quantify(suv: Volume, mask: Volume) -> Quantification:
    """Lesion statistics of `mask` (> 0 is lesion) on `suv`; both must share the PET grid."""
    if not mask.same_grid(suv):
        raise ValueError(f"mask and PET grids differ: {mask.describe_grid()} vs {suv.describe_grid()}")
    foreground = as_binary(mask.array, "mask")
    labels_full = np.zeros(suv.shape, dtype=np.uint16)
    box = bounding_box(foreground)
    if box is None:
        return Quantification([], suv.with_array(labels_full))
    values = suv.array[box].astype(np.float64)
    inside = foreground[box]
    labels, count = label_components(inside)
    sizes = np.bincount(labels[inside], minlength=count + 1)[1:]
    sums = np.bincount(labels[inside], weights=values[inside], minlength=count + 1)[1:]
    index = np.arange(1, count + 1)
    maxima = np.asarray(ndimage.maximum(values, labels, index), dtype=np.float64).reshape(-1)
    stats = cc3d.statistics(labels)
    kernel = peak_kernel(suv.spacing_zyx)
    offset = np.array([s.start for s in box])
    order = np.argsort(-maxima, kind="stable")
    lesions, relabel = [], np.zeros(count + 1, dtype=np.uint16)
    for new_id, k in enumerate(order, start=1):
        bbox = stats["bounding_boxes"][k + 1]
        centroid = np.asarray(stats["centroids"][k + 1], dtype=float) + offset
        volume_ml = float(sizes[k]) * suv.voxel_ml
        suvmean = float(sums[k] / sizes[k])
        lesion_box = tuple(slice(b.start + o, b.stop + o) for b, o in zip(bbox, offset, strict=True))
        lesions.append(Lesion(
            id=new_id, voxels=int(sizes[k]), volume_ml=volume_ml, suvmax=float(maxima[k]), suvmean=suvmean,
            suvpeak=_suvpeak(suv.array, lesion_box, labels[bbox] == k + 1, kernel),
            tlg=volume_ml * suvmean, centroid_mm=[float(v) for v in suv.index_to_physical(centroid)],
            bbox_zyx=[[int(s.start), int(s.stop)] for s in lesion_box]))
        relabel[k + 1] = new_id
    labels_full[box] = relabel[labels]
    return Quantification(lesions, suv.with_array(labels_full))


def _suvpeak(suv: np.ndarray, lesion_box: tuple[slice, ...], lesion_mask: np.ndarray, kernel: np.ndarray) -> float:
    """Highest mean SUV of the 1 ml sphere centred on any voxel of the lesion.

    The sphere may reach outside the lesion (that is the definition); beyond the image edge the
    sphere holds only the voxels inside the image.
    """
    pad = [k // 2 for k in kernel.shape]
    region = tuple(slice(max(s.start - p, 0), min(s.stop + p, n))
                   for s, p, n in zip(lesion_box, pad, suv.shape, strict=True))
    values = suv[region].astype(np.float64)
    weights = kernel.astype(np.float64)
    sums = ndimage.correlate(values, weights, mode="constant", cval=0.0)
    counts = ndimage.correlate(np.ones_like(values), weights, mode="constant", cval=0.0)
    means = sums / counts
    inner = tuple(slice(s.start - r.start, s.stop - r.start) for s, r in zip(lesion_box, region, strict=True))
    return float(means[inner][lesion_mask].max())
