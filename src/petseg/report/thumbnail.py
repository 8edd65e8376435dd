"""Small coronal MIP pictures for the cohort summaries: the PET (inverted grey) or, without one, a blank
ground; lesions in their colours; the ground truth outlined in its reserved colour. Composed as pixels
(no figure), so a few hundred studies take seconds."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.image import imsave
from scipy import ndimage

from petseg.io.images import Volume
from petseg.orientation import projections
from petseg.report.colours import TRUTH_COLOUR, lesion_rgb
from petseg.results import SegmentResult

THUMB_ROWS = 240


def study_thumbnail(result: SegmentResult) -> bytes:
    """The coronal MIP of a segmented study as a small PNG."""
    suv = result.study.suv
    grey = np.clip(projections(suv, suv.array)[0] / result.tracer.display_suv, 0.0, 1.0)
    labels = result.quantification.labels
    truth = result.study.label
    return thumbnail_png(suv, grey, projections(labels, labels.array)[0],
                         projections(truth, truth.array)[0] > 0 if truth is not None else None)


def mask_thumbnail(prediction: Volume, truth: Volume | None) -> bytes:
    """The coronal MIP of a predicted mask (and its ground truth) without a PET."""
    predicted = projections(prediction, (prediction.array > 0).astype(np.uint8))[0]
    outline = projections(truth, truth.array)[0] > 0 if truth is not None else None
    return thumbnail_png(prediction, np.zeros(predicted.shape), predicted, outline)


def thumbnail_png(grid: Volume, grey: np.ndarray, labels: np.ndarray, truth: np.ndarray | None) -> bytes:
    """A PNG of a coronal projection: `grey` in 0..1 (1 = hottest, drawn dark), `labels` (lesion ids) in
    their colours, `truth` (bool) outlined, resampled to `THUMB_ROWS` rows at the physical aspect."""
    sx, _, sz = grid.spacing
    scale = THUMB_ROWS / max(grey.shape[0], 1)
    zoom = (scale, scale * sx / sz)
    rgb = np.repeat((1.0 - ndimage.zoom(grey, zoom, order=1))[..., None], 3, axis=2)
    shown = ndimage.zoom(labels, zoom, order=0)
    for lesion_id in np.unique(shown[shown > 0]):
        rgb[shown == lesion_id] = 0.25 * rgb[shown == lesion_id] + 0.75 * np.array(lesion_rgb(int(lesion_id)))
    if truth is not None:
        inside = ndimage.zoom(truth.astype(np.uint8), zoom, order=0) > 0
        rgb[inside & ~ndimage.binary_erosion(inside)] = to_rgb(TRUTH_COLOUR)
    buffer = io.BytesIO()
    imsave(buffer, np.clip(rgb, 0.0, 1.0), format="png")
    return buffer.getvalue()
