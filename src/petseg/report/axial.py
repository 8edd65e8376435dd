"""Axial slices through the largest lesions: PET (fused on the CT when there is one), each lesion outlined.

One panel per lesion, the largest `AXIAL_LESIONS` by volume, each through the slice where the lesion
is widest (the PET alone where the CT does not cover that slice), in the radiological convention of
`petseg.orientation` (anterior up, the patient's right on the viewer's left, each side labelled).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, ListedColormap
from matplotlib.figure import Figure

from petseg.io.atomic import atomic_path
from petseg.orientation import oriented
from petseg.quantify import Lesion
from petseg.report.colours import FUSED_COLOURMAP, PET_COLOURMAP, lesion_colour
from petseg.results import SegmentResult, value_unit

AXIAL_LESIONS = 5
CT_WINDOW_HU = (-160.0, 240.0)  # soft tissue (W 400, L 40)
PANEL_IN = 3.2
DPI = 100


def largest_lesions(result: SegmentResult, count: int = AXIAL_LESIONS) -> list[Lesion]:
    """The `count` largest lesions by volume (ties by number)."""
    return sorted(result.quantification.lesions, key=lambda lesion: (-lesion.volume_ml, lesion.id))[:count]


def write_axial(result: SegmentResult, path: Path) -> Path | None:
    """Draw the axial panels to a PNG; None (nothing written) when there is no lesion."""
    fig = draw_axial(result)
    if fig is None:
        return None
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    plt.close(fig)
    return path


def draw_axial(result: SegmentResult) -> Figure | None:
    """One panel per large lesion, or None without lesions."""
    lesions = largest_lesions(result)
    if not lesions:
        return None
    study = result.study
    suv = oriented(study.suv, study.suv.array)
    labels = oriented(study.suv, result.quantification.labels.array)
    ct = oriented(study.suv, study.ct.array) if study.ct is not None else None
    covered = _covered_slices(result)
    rows, columns = _body_box(suv)
    aspect = study.suv.spacing[1] / study.suv.spacing[0]
    shape = (rows.stop - rows.start) * study.suv.spacing[1], (columns.stop - columns.start) * study.suv.spacing[0]
    fig, axes = plt.subplots(1, len(lesions), figsize=(PANEL_IN * len(lesions), PANEL_IN * shape[0] / shape[1] + 0.8),
                             dpi=DPI, squeeze=False)
    window = result.tracer.display_suv
    unit = value_unit(study)
    maximum = "SUVmax" if unit == "SUV" else f"max ({unit}, NOT SUV)"
    for ax, lesion in zip(axes[0], lesions, strict=True):
        level = _widest_slice(labels, lesion.id)
        if ct is None or not covered[level]:
            ax.imshow(suv[level][rows, columns], cmap=PET_COLOURMAP, vmin=0, vmax=window, aspect=aspect)
        else:
            ax.imshow(ct[level][rows, columns], cmap="gray", vmin=CT_WINDOW_HU[0], vmax=CT_WINDOW_HU[1], aspect=aspect)
            ax.imshow(suv[level][rows, columns], cmap=_fading(FUSED_COLOURMAP), vmin=0, vmax=window, aspect=aspect)
        _outline(ax, labels[level][rows, columns] == lesion.id, lesion_colour(lesion.id))
        _sides(ax)
        ax.set_title(f"lesion {lesion.id}: {lesion.volume_ml:.1f} ml, {maximum} {lesion.suvmax:.1f}"
                     + ("" if ct is None or covered[level] else "\n(PET only: no CT here)"), fontsize=9,
                     color=lesion_colour(lesion.id), fontweight="bold")
        ax.set_axis_off()
    fused = "PET fused on CT" if ct is not None else "PET (no CT)"
    fig.suptitle(f"axial slices through the {len(lesions)} largest lesion(s): {fused}, {unit} window 0-{window:g}",
                 fontsize=9)
    fig.tight_layout()
    return fig


def _covered_slices(result: SegmentResult) -> np.ndarray:
    """Per display slice: does the CT cover most of it (outside its coverage the CT is missing, not air)?"""
    study = result.study
    if study.ct is None:
        return np.zeros(study.suv.shape[0], dtype=bool)
    if study.ct_coverage is None:
        return np.ones(study.suv.shape[0], dtype=bool)
    return oriented(study.suv, study.ct_coverage.array).mean(axis=(1, 2)) > 0.5


def _widest_slice(labels: np.ndarray, lesion_id: int) -> int:
    """The axial slice (oriented axis 0) holding the most voxels of the lesion."""
    return int(np.argmax((labels == lesion_id).sum(axis=(1, 2))))


def _body_box(suv: np.ndarray, margin: int = 4) -> tuple[slice, slice]:
    """(rows, columns) of the axial plane that hold the body on any slice."""
    body = (suv > 0.1).any(axis=0)
    if not body.any():
        return slice(None), slice(None)
    rows, columns = (np.flatnonzero(body.any(axis=a)) for a in (1, 0))
    return (slice(max(int(rows[0]) - margin, 0), int(rows[-1]) + margin + 1),
            slice(max(int(columns[0]) - margin, 0), int(columns[-1]) + margin + 1))


def _fading(name: str) -> Colormap:
    """A colour map that is transparent in the lowest fifth of the window (background uptake shows the CT)
    and nearly opaque from 60 % of it up."""
    colours = plt.get_cmap(name)(np.linspace(0, 1, 256))
    colours[:, 3] = np.clip((np.linspace(0, 1, 256) - 0.2) / 0.4, 0, 1) * 0.9
    return ListedColormap(colours)


def _outline(ax: Axes, inside: np.ndarray, colour: str) -> None:
    """The lesion's outline in its colour over a white halo, visible on any background."""
    if inside.any():
        ax.contour(inside, levels=[0.5], colors="white", linewidths=3.0)
        ax.contour(inside, levels=[0.5], colors=colour, linewidths=1.5)


def _sides(ax: Axes) -> None:
    """Patient sides: R left, L right, A top, P bottom."""
    style = {"transform": ax.transAxes, "fontsize": 10, "fontweight": "bold", "color": "#1f3a5f",
             "path_effects": [patheffects.withStroke(linewidth=3, foreground="white")]}
    ax.text(0.02, 0.5, "R", ha="left", va="center", **style)
    ax.text(0.98, 0.5, "L", ha="right", va="center", **style)
    ax.text(0.5, 0.98, "A", ha="center", va="top", **style)
    ax.text(0.5, 0.02, "P", ha="center", va="bottom", **style)
