"""Maximum-intensity projections of the PET with the lesions overlaid and numbered.

Coronal and sagittal MIPs in the radiological convention (patient's right on the viewer's left in the
coronal view, anterior on the left in the sagittal view, head up, each side labelled), inverted grey in
the tracer's SUV window with a colour bar. Lesions are filled in their colours (`report.colours`) and
numbered as in the lesion table, the numbers placed so that they never overlap; a ground truth, when
given, is drawn as contours in its reserved colour; regions the SUV method recognised as physiological
uptake or noise are shaded and outlined in a colour per reason, named in the legend. Each overlay is
drawn by its own small function over `View` projections.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap, Normalize, to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from petseg.io.atomic import atomic_path
from petseg.io.images import Volume
from petseg.orientation import oriented, oriented_index, projections
from petseg.report.colours import LESION_COLOURS, PET_COLOURMAP, TRUTH_COLOUR, lesion_colour, reason_colour
from petseg.report.labels import Box, place_labels
from petseg.results import SegmentResult, value_unit

DPI = 100
HEIGHT_IN = 9.0
LABEL_FONT_PT = 7
SUPPRESSED_ALPHA = 0.35
LEGEND_COLUMNS = 5


@dataclass(frozen=True)
class View:
    """One projection: its name, the crop (rows, columns) that holds the body, the pixel aspect and the
    patient sides at its left and right edges."""

    name: str
    axis: int  # the oriented array axis projected over
    crop: tuple[slice, slice]
    aspect: float
    sides: tuple[str, str]

    def project(self, volume: Volume, array: np.ndarray) -> np.ndarray:
        """The maximum projection of `array` (on `volume`'s grid) in this view, cropped."""
        return projections(volume, array)[0 if self.axis == 1 else 1][self.crop]


def write_mip(result: SegmentResult, path: Path, title: str | None = None) -> Path:
    """Draw the coronal and sagittal MIPs with numbered lesions (and truth contours) to a PNG."""
    fig = draw_mip(result, title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    plt.close(fig)
    return path


def draw_mip(result: SegmentResult, title: str | None = None) -> Figure:
    """The MIP figure (for `write_mip`, and for tests that inspect what was drawn)."""
    suv = result.study.suv
    window = result.tracer.display_suv
    views = body_views(suv)
    images = [view.project(suv, suv.array) for view in views]
    widths = [image.shape[1] * suv.spacing[0 if view.axis == 1 else 1] for image, view in zip(images, views,
                                                                                                  strict=True)]
    fig_width = HEIGHT_IN * sum(widths) / (images[0].shape[0] * suv.spacing[2]) + 1.4
    fig, axes = plt.subplots(1, 3, figsize=(fig_width, HEIGHT_IN), dpi=DPI,
                             gridspec_kw={"width_ratios": [*widths, 0.03 * sum(widths)]})
    for ax, view, image in zip(axes[:2], views, images, strict=True):
        ax.imshow(image, cmap=PET_COLOURMAP, vmin=0.0, vmax=window, aspect=view.aspect, interpolation="bilinear")
        _draw_physiology(ax, view, result)
        _draw_lesions(ax, view, result)
        _draw_truth(ax, view, result)
        _side_labels(ax, view)
        ax.set_title(view.name, fontsize=10)
        ax.set_axis_off()
    _colour_bar(fig, axes[2], window, value_unit(result.study))
    heading = title or result.study.meta.get("case") or "PET MIP"
    fig.suptitle(f"{heading} - {len(result.quantification.lesions)} lesion(s)", fontsize=10)
    entries = _legend_entries(result)
    _legend(fig, entries)
    rows = -(-len(entries) // LEGEND_COLUMNS)  # legend rows below the views
    fig.tight_layout(rect=(0, 0.01 + 0.025 * max(rows, 1), 1, 1))
    fig.canvas.draw()  # the axes' final boxes (image aspect) are known only after a draw
    for ax, view in zip(axes[:2], views, strict=True):
        _number_lesions(ax, view, result)
    return fig


def body_views(suv: Volume, margin: int = 5) -> tuple[View, View]:
    """The coronal and sagittal views, cropped to the body."""
    data = oriented(suv, suv.array) > 0.1
    extents = [np.flatnonzero(data.any(axis=axes)) for axes in ((1, 2), (0, 1), (0, 2))]  # z, x, y
    if any(e.size == 0 for e in extents):
        z = x = y = slice(None)
    else:
        z, x, y = (slice(max(int(e[0]) - margin, 0), int(e[-1]) + margin + 1) for e in extents)
    sx, sy, sz = suv.spacing
    return (View("coronal", 1, (z, x), sz / sx, ("R", "L")), View("sagittal", 2, (z, y), sz / sy, ("A", "P")))


def _draw_lesions(ax: Axes, view: View, result: SegmentResult) -> None:
    """Lesions filled in their colours (label map projected: the nearest-numbered lesion wins)."""
    labels = result.quantification.labels
    shown = view.project(labels, labels.array)
    if not shown.any():
        return
    count = int(shown.max())
    colours = ListedColormap([lesion_colour(i) for i in range(1, count + 1)])
    ax.imshow(np.ma.masked_where(shown == 0, shown.astype(float) - 1), cmap=colours, vmin=-0.5, vmax=count - 0.5,
              alpha=0.75, aspect=view.aspect, interpolation="nearest")


def physiology_codes(result: SegmentResult, view: View) -> tuple[np.ndarray | None, list[str]]:
    """The suppressed regions projected in a view as reason codes (0 none, k = reasons[k - 1]), and the reasons."""
    regions, items = result.suppressed, result.method.get("suppressed", [])
    if regions is None or not items or not regions.array.any():
        return None, []
    reasons = list(dict.fromkeys(item["reason"] for item in items))
    lookup = np.zeros(int(regions.array.max()) + 1, dtype=np.uint8)
    for item in items:
        lookup[item["id"]] = reasons.index(item["reason"]) + 1
    return view.project(regions, lookup[regions.array]), reasons


def _draw_physiology(ax: Axes, view: View, result: SegmentResult) -> None:
    """Suppressed regions: a light fill and an outline in their reason's colour."""
    codes, reasons = physiology_codes(result, view)
    if codes is None:
        return
    rgba = np.zeros((*codes.shape, 4), dtype=np.float32)
    for code, reason in enumerate(reasons, start=1):
        rgba[codes == code] = to_rgba(reason_colour(reason), SUPPRESSED_ALPHA)
    ax.imshow(rgba, aspect=view.aspect, interpolation="nearest")
    for code, reason in enumerate(reasons, start=1):
        if (codes == code).any():
            ax.contour(codes == code, levels=[0.5], colors=reason_colour(reason), linewidths=0.7)


def _draw_truth(ax: Axes, view: View, result: SegmentResult) -> None:
    """The ground truth's outline in its reserved colour."""
    truth = result.study.label
    if truth is None:
        return
    shown = view.project(truth, truth.array) > 0
    if shown.any():
        ax.contour(shown, levels=[0.5], colors=TRUTH_COLOUR, linewidths=0.9)


def _side_labels(ax: Axes, view: View) -> None:
    """The patient side at each edge of the view (R/L on the coronal, A/P on the sagittal)."""
    style = {"transform": ax.transAxes, "fontsize": 12, "fontweight": "bold", "color": "#1f3a5f", "va": "top",
             "path_effects": [patheffects.withStroke(linewidth=3, foreground="white")]}
    ax.text(0.02, 0.99, view.sides[0], ha="left", **style)
    ax.text(0.98, 0.99, view.sides[1], ha="right", **style)


def _colour_bar(fig: Figure, cax: Axes, window: float, unit: str = "SUV") -> None:
    """The value scale of the grey MIPs (SUV, or multiples of the background: NOT SUV)."""
    mappable = plt.cm.ScalarMappable(norm=Normalize(0.0, window), cmap=PET_COLOURMAP)
    bar = fig.colorbar(mappable, cax=cax)
    bar.set_label(f"{unit if unit == 'SUV' else unit + ', NOT SUV'} (window 0-{window:g})", fontsize=9)
    bar.ax.tick_params(labelsize=8)


def _legend_entries(result: SegmentResult) -> list[tuple[str, Patch | Line2D]]:
    """(label, handle) of every overlay drawn."""
    entries: list[tuple[str, Patch | Line2D]] = []
    if result.quantification.lesions:
        entries.append(("lesions (numbered as in the table)",
                        Patch(facecolor=LESION_COLOURS[0], edgecolor=LESION_COLOURS[1], alpha=0.75)))
    if result.study.label is not None:
        entries.append(("ground truth", Line2D([], [], color=TRUTH_COLOUR, linewidth=1.5)))
    for reason in dict.fromkeys(item["reason"] for item in result.method.get("suppressed", [])
                                if result.suppressed is not None):
        entries.append((f"{reason} (left out)", Patch(facecolor=to_rgba(reason_colour(reason), SUPPRESSED_ALPHA),
                                                      edgecolor=reason_colour(reason))))
    return entries


def _legend(fig: Figure, entries: list[tuple[str, Patch | Line2D]]) -> None:
    if entries:
        fig.legend([handle for _, handle in entries], [label for label, _ in entries], loc="lower center",
                   ncol=min(len(entries), LEGEND_COLUMNS), fontsize=8, frameon=False)


def _number_lesions(ax: Axes, view: View, result: SegmentResult) -> None:
    """Each lesion's number beside its projected centroid, no two numbers overlapping; a number moved away
    from its lesion gets a leader line."""
    lesions = result.quantification.lesions
    if not lesions:
        return
    anchors = np.array([_projected(result.study.suv, lesion.centroid_mm, view) for lesion in lesions], float)
    renderer = ax.figure.canvas.get_renderer()  # a draw has happened
    to_pixels = ax.transData.transform
    height = ax.figure.bbox.height
    points = np.array([(x, height - y) for x, y in to_pixels(anchors)])  # y down
    sizes = [_text_size(ax, str(lesion.id), renderer) for lesion in lesions]
    box = ax.get_window_extent(renderer)
    centres = place_labels(points, sizes, Box(box.x0, height - box.y1, box.x1, height - box.y0))
    for lesion, anchor, point, centre in zip(lesions, anchors, points, centres, strict=True):
        colour = lesion_colour(lesion.id)
        far = np.hypot(centre[0] - point[0], centre[1] - point[1]) > 16
        ax.annotate(str(lesion.id), tuple(anchor), xytext=(centre[0], height - centre[1]), textcoords="figure pixels",
                    ha="center", va="center", fontsize=LABEL_FONT_PT, color=colour, fontweight="bold",
                    path_effects=[patheffects.withStroke(linewidth=2.5, foreground="white")], annotation_clip=False,
                    arrowprops={"arrowstyle": "-", "color": colour, "linewidth": 0.6, "shrinkA": 3, "shrinkB": 0}
                    if far else None)


def _projected(suv: Volume, centroid_mm: list[float], view: View) -> tuple[float, float]:
    """(column, row) of a physical point in a view's cropped picture."""
    index = np.clip(np.rint(suv.physical_to_index(np.array(centroid_mm))).astype(int), 0, np.array(suv.shape) - 1)
    z, y, x = oriented_index(suv, index)
    column = x if view.axis == 1 else y
    return float(column - (view.crop[1].start or 0)), float(z - (view.crop[0].start or 0))


def _text_size(ax: Axes, text: str, renderer) -> tuple[float, float]:
    """Width and height in pixels of a lesion number (with its white halo)."""
    probe = ax.text(0, 0, text, fontsize=LABEL_FONT_PT, fontweight="bold")
    extent = probe.get_window_extent(renderer)
    probe.remove()
    return extent.width + 3, extent.height + 2
