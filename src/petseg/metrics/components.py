"""Connected lesion components and their overlaps, computed once per case and shared by all metrics.

Lesions are 18-connected components (cc3d), as in the official autoPET evaluation. Instead of
scanning the volume once per component, every quantity comes from one labelling pass per mask
and one `bincount` over the voxels where both masks are set.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import cc3d
import numpy as np

from petseg.errors import PetsegWarning

CONNECTIVITY = 18


def as_binary(array: np.ndarray, name: str) -> np.ndarray:
    """Foreground (> 0) of a mask as bool; warns when the mask holds values other than 0 and 1."""
    if array.dtype == bool:
        return array
    foreground = array > 0
    if np.any((array != 0) & (array != 1)):
        values = np.unique(array[(array != 0) & (array != 1)])[:5]
        warnings.warn(f"{name} holds values other than 0/1 ({', '.join(f'{v:g}' for v in values)}); "
                      "taking every value > 0 as lesion", PetsegWarning, stacklevel=2)
    return foreground


def label_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """18-connected components of a boolean mask: (labels 1..n, n)."""
    labels, count = cc3d.connected_components(mask, connectivity=CONNECTIVITY, return_N=True)
    return labels, int(count)


def component_maxima(components: np.ndarray, count: int, values: np.ndarray) -> np.ndarray:
    """The highest of `values` in each component 1..count (float32, component k at k - 1), in one pass over the
    components' voxels: scipy's `ndimage.maximum` with an index sorts the whole volume (30 s on a whole-body grid)."""
    inside = components > 0
    peak = np.full(count + 1, -np.inf, np.float32)
    np.maximum.at(peak, components[inside], np.asarray(values[inside], np.float32))
    return peak[1:]


def bounding_box(mask: np.ndarray) -> tuple[slice, ...] | None:
    """Smallest box holding every True voxel (None for an empty mask)."""
    slices = []
    for axis in range(mask.ndim):
        others = tuple(a for a in range(mask.ndim) if a != axis)
        hits = np.flatnonzero(np.any(mask, axis=others))
        if hits.size == 0:
            return None
        slices.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return tuple(slices)


@dataclass(frozen=True)
class Overlap:
    """Components of a ground truth and a prediction and the voxels each pair shares.

    `gt_sizes[i]`/`pred_sizes[j]` are voxel counts of components i+1/j+1; `pairs` rows are
    (gt index, pred index, shared voxels) for every overlapping pair (0-based indices).
    """

    voxel_ml: float
    gt_sizes: np.ndarray
    pred_sizes: np.ndarray
    pairs: np.ndarray

    @classmethod
    def of(cls, gt: np.ndarray, pred: np.ndarray, voxel_ml: float) -> Overlap:
        """Label both boolean masks (within their joint bounding box) and count shared voxels."""
        if gt.shape != pred.shape:
            raise ValueError(f"mask shapes differ: {gt.shape} vs {pred.shape}")
        box = bounding_box(gt | pred)
        if box is None:
            empty = np.zeros(0, dtype=np.int64)
            return cls(voxel_ml, empty, empty, np.zeros((0, 3), dtype=np.int64))
        gt_box, pred_box = gt[box], pred[box]
        gt_labels, n_gt = label_components(gt_box)
        pred_labels, n_pred = label_components(pred_box)
        # Count over foreground voxels only: a bincount over the whole box would dominate the time.
        gt_sizes = np.bincount(gt_labels[gt_box], minlength=n_gt + 1)[1:]
        pred_sizes = np.bincount(pred_labels[pred_box], minlength=n_pred + 1)[1:]
        both = gt_box & pred_box
        pair_ids = gt_labels[both].astype(np.int64) * (n_pred + 1) + pred_labels[both]
        ids, counts = np.unique(pair_ids, return_counts=True)
        pairs = np.stack([ids // (n_pred + 1) - 1, ids % (n_pred + 1) - 1, counts], axis=1).astype(np.int64)
        return cls(voxel_ml, gt_sizes.astype(np.int64), pred_sizes.astype(np.int64), pairs.reshape(-1, 3))

    @property
    def gt_voxels(self) -> int:
        """Voxels in the ground truth."""
        return int(self.gt_sizes.sum())

    @property
    def pred_voxels(self) -> int:
        """Voxels in the prediction."""
        return int(self.pred_sizes.sum())

    @property
    def shared_voxels(self) -> int:
        """Voxels in both masks."""
        return int(self.pairs[:, 2].sum())

    def gt_touched(self) -> np.ndarray:
        """Per ground-truth component: does any predicted voxel overlap it?"""
        touched = np.zeros(len(self.gt_sizes), dtype=bool)
        touched[self.pairs[:, 0]] = True
        return touched

    def pred_touched(self) -> np.ndarray:
        """Per predicted component: does it overlap any ground-truth voxel?"""
        touched = np.zeros(len(self.pred_sizes), dtype=bool)
        touched[self.pairs[:, 1]] = True
        return touched
