"""Maximum-intensity projections of the PET with the lesions overlaid and numbered.

Coronal and sagittal MIPs in the radiological convention (patient's right on the viewer's left in the
coronal view, anterior on the left in the sagittal view, head up), inverted grey, a fixed SUV window.
Lesions are coloured and numbered as in the lesion table; a ground truth, when given, is drawn as
contours.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import patheffects
from matplotlib.colors import ListedColormap

from petseg.io.atomic import atomic_path
from petseg.io.images import Volume
from petseg.orientation import oriented, oriented_index, projections
from petseg.results import SegmentResult
from petseg.tracers import tracer_named

LESION_COLOURS = plt.get_cmap("tab10").colors


def write_mip(result: SegmentResult, path: Path, title: str | None = None) -> Path:
    """Draw the coronal and sagittal MIPs with numbered lesions (and truth contours) to a PNG."""
    suv = result.study.suv
    labels = result.quantification.labels
    window = tracer_named(result.tracer).display_suv
    crops = _body_crops(suv)
    coronal, sagittal = (view[crop] for view, crop in zip(projections(suv, suv.array), crops, strict=True))
    lesion_views = [view[crop] for view, crop in zip(projections(suv, labels.array), crops, strict=True)]
    truth_views = ([view[crop] for view, crop in zip(projections(suv, result.study.label.array), crops, strict=True)]
                   if result.study.label is not None else [None, None])
    sx, sy, sz = suv.spacing
    height = 9.0
    widths = [coronal.shape[1] * sx, sagittal.shape[1] * sy]
    fig_width = height * sum(widths) / (coronal.shape[0] * sz) + 0.8
    fig, axes = plt.subplots(1, 2, figsize=(fig_width, height), gridspec_kw={"width_ratios": widths})
    count = max(int(labels.array.max()), 1)
    colours = ListedColormap([LESION_COLOURS[i % len(LESION_COLOURS)] for i in range(count)])
    for ax, image, lesion_map, truth, aspect, name, crop in (
            (axes[0], coronal, lesion_views[0], truth_views[0], sz / sx, "coronal", crops[0]),
            (axes[1], sagittal, lesion_views[1], truth_views[1], sz / sy, "sagittal", crops[1])):
        ax.imshow(image, cmap="gray_r", vmin=0.0, vmax=window, aspect=aspect, interpolation="bilinear")
        if lesion_map.any():
            shown = np.ma.masked_where(lesion_map == 0, lesion_map.astype(float) - 1)
            ax.imshow(shown, cmap=colours, vmin=-0.5, vmax=count - 0.5, alpha=0.75, aspect=aspect,
                      interpolation="nearest")
        if truth is not None and truth.any():
            ax.contour(truth > 0, levels=[0.5], colors="#00a000", linewidths=0.8)
        _number_lesions(ax, result, name, crop)
        ax.set_title(name, fontsize=10)
        ax.set_axis_off()
    heading = title or result.study.meta.get("case") or "PET MIP"
    fig.suptitle(f"{heading} - {len(result.quantification.lesions)} lesion(s); SUV window 0-{window:g}"
                 + ("; green: ground truth" if result.study.label is not None else ""), fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path


def _body_crops(suv: Volume, margin: int = 5) -> list[tuple[slice, slice]]:
    """(rows, columns) of the coronal and the sagittal projection that hold the body."""
    data = oriented(suv, suv.array) > 0.1
    extents = [np.flatnonzero(data.any(axis=axes)) for axes in ((1, 2), (0, 1), (0, 2))]  # z, x, y
    if any(e.size == 0 for e in extents):
        return [(slice(None), slice(None))] * 2
    z, x, y = (slice(max(int(e[0]) - margin, 0), int(e[-1]) + margin + 1) for e in extents)
    return [(z, x), (z, y)]


def _number_lesions(ax, result: SegmentResult, view: str, crop: tuple[slice, slice]) -> None:
    """Write each lesion's id beside its projected centroid."""
    suv = result.study.suv
    for lesion in result.quantification.lesions:
        index = np.clip(np.rint(suv.physical_to_index(np.array(lesion.centroid_mm))).astype(int), 0,
                        np.array(suv.shape) - 1)
        z, y, x = oriented_index(suv, index)
        column = (x if view == "coronal" else y) - (crop[1].start or 0)
        ax.annotate(str(lesion.id), (column, z - (crop[0].start or 0)), xytext=(6, -6), textcoords="offset points",
                    fontsize=7, color=LESION_COLOURS[(lesion.id - 1) % len(LESION_COLOURS)], fontweight="bold",
                    path_effects=[patheffects.withStroke(linewidth=2.5, foreground="white")])
