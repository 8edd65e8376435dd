"""A coarse anatomical region per lesion: head-neck, thorax, abdomen, pelvis or extremity.

The boundaries are read from the body outline of `methods.landmarks.body_frame` (its `mask` and
`midline_x`, `center_y`), so they work PET-only:

- each axial section's *main part* is the part of the body that crosses the midline (the trunk, or the
  head between raised arms); anything else (arms, hands, the legs once they divide) is an extremity;
- the *shoulders* (the lung apices, the lower end of head-neck) are the first section, going down, at
  least twice as wide as the neck (narrower than the head) above it;
- the *division of the legs* is the first section below the shoulders that shows two parts of comparable
  size either side of the midline (both are extremities from there down);
- between the shoulders and the division of the legs (the trunk length L) lie, in adult proportions,
  the diaphragm (liver dome) at 0.32 L, the iliac crest at 0.68 L and the pelvic floor at 0.92 L; when
  the legs are outside the field of view, L is 2.0 times the head and neck above the shoulders;
- with a CT, the diaphragm is the lowest section where the lungs (air inside the trunk) still have half
  their largest area, and the iliac crest keeps its proportion between the diaphragm and the pelvic floor.

Sections are taken in display orientation (`petseg.orientation`), so any flip of the array axes gives
the same regions. A region whose boundaries are outside the field of view is None (reported "n/a").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from petseg.data.study import Study
from petseg.methods.landmarks import BodyFrame, body_frame
from petseg.orientation import oriented, oriented_index

REGIONS = ("head-neck", "thorax", "abdomen", "pelvis", "extremity")
DIAPHRAGM, ILIAC_CREST, PELVIC_FLOOR = 0.32, 0.68, 0.92  # fractions of the trunk length below the shoulders
TRUNK_PER_HEAD_NECK = 2.0
SHOULDER_WIDENING = 2.0
NECK_NARROWING = 0.85  # a neck is at most this fraction of the widest section (the head) above it
MAJOR_PART = 0.1  # parts of a section smaller than this fraction of its largest part are left out
LUNG_HU = -400.0
LUNG_HALF_AREA = 0.5
MIN_LUNG_AREA_CM2 = 20.0
SECTION_PIXEL_MM = 4.0  # sections are analysed on pixels of about this size (every n-th row and column)
LEGS_MM = 20.0  # the legs count as divided when two of them show over this axial length
IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
IN_PLANE[1] = ndimage.generate_binary_structure(2, 1)  # connectivity within an axial section only
LEG_BALANCE = 0.4  # the smaller leg has at least this fraction of the larger one's area


@dataclass(frozen=True, eq=False)
class Landmarks:
    """Boundaries as display rows (0 = top of the grid; None where unknown) and the main part of each section."""

    shoulders: float | None
    diaphragm: float | None
    iliac_crest: float | None
    pelvic_floor: float | None
    main: np.ndarray  # oriented bool, every `stride`-th row and column of a section: its main part
    sources: dict[str, str]
    stride: int = 1

    def region(self, row: int, in_main: bool) -> str | None:
        """The region of a point at display `row`, in or out of its section's main part."""
        if not in_main:
            return "extremity"
        if self.shoulders is None:
            return None
        if row < self.shoulders:
            return "head-neck"
        for name, lower in (("thorax", self.diaphragm), ("abdomen", self.iliac_crest), ("pelvis", self.pelvic_floor)):
            if lower is None:
                return None
            if row < lower:
                return name
        return "extremity"


def lesion_regions(study: Study, centroids_mm: list[list[float]], frame: BodyFrame | None = None) -> list[str | None]:
    """The region of each lesion centroid (patient mm)."""
    if not centroids_mm:
        return []
    marks = find_landmarks(study, frame or body_frame(study))
    suv = study.suv
    regions = []
    for centroid in centroids_mm:
        index = np.clip(np.rint(suv.physical_to_index(np.array(centroid))).astype(int), 0, np.array(suv.shape) - 1)
        row, ap, rl = (int(v) for v in oriented_index(suv, index))
        regions.append(marks.region(row, _in_main(marks.main[row], ap // marks.stride, rl // marks.stride)))
    return regions


def _in_main(section: np.ndarray, ap: int, rl: int) -> bool:
    """In the main part, or (a point outside the body, e.g. the centroid of a curved lesion) within its width."""
    if section[ap, rl]:
        return True
    columns = np.flatnonzero(section.any(axis=0))
    return bool(columns.size) and columns[0] <= rl <= columns[-1]


def find_landmarks(study: Study, frame: BodyFrame) -> Landmarks:
    """The region boundaries of one study (see the module docstring)."""
    suv = study.suv
    step, stride = suv.spacing_zyx[0], max(round(SECTION_PIXEL_MM / suv.spacing[0]), 1)
    main, divided = _sections(oriented(suv, frame.mask)[:, ::stride, ::stride],
                              _midline_column(study, frame) // stride)
    widths = main.any(axis=1).sum(axis=1) * suv.spacing[0] * stride
    shoulders, head_top = _shoulders(widths)
    legs = _legs(divided, shoulders, max(round(LEGS_MM / step), 1))
    if legs is not None:
        main[legs:] = False  # below the division both legs are extremities
    sources = {"shoulders": "body outline" if shoulders is not None else "not in the field of view"}
    lungs = _lung_rows(study, main, stride) if study.ct is not None else None
    if shoulders is None and lungs is not None:
        shoulders, sources["shoulders"] = lungs[0], "lung apices (CT)"
    length = _trunk_length(shoulders, head_top, legs, sources)
    if shoulders is None or length is None:
        return Landmarks(shoulders, None, None, None, main, sources, stride)
    floor = legs - (1 - PELVIC_FLOOR) * length if legs is not None else shoulders + PELVIC_FLOOR * length
    diaphragm = shoulders + DIAPHRAGM * length
    crest = shoulders + ILIAC_CREST * length
    sources["diaphragm"] = "proportion of the trunk"
    if lungs is not None:
        diaphragm, sources["diaphragm"] = lungs[1], "lungs (CT)"
        crest = diaphragm + (ILIAC_CREST - DIAPHRAGM) / (PELVIC_FLOOR - DIAPHRAGM) * (floor - diaphragm)
    return Landmarks(shoulders, diaphragm, crest, floor, main, sources, stride)


def _midline_column(study: Study, frame: BodyFrame) -> int:
    """The display column of the body's midline."""
    suv = study.suv
    centre = suv.physical_to_index(np.array([frame.midline_x, frame.center_y, frame.top_mm - frame.height_mm / 2]))
    index = np.clip(np.rint(centre).astype(int), 0, np.array(suv.shape) - 1)
    return int(oriented_index(suv, index)[2])


def _sections(body: np.ndarray, midline: int) -> tuple[np.ndarray, np.ndarray]:
    """Per display section: the largest major part of the body that crosses the midline column (the main
    part), and whether the section's two largest parts are of comparable size either side of the midline
    (legs). The parts of every section are labelled in one pass."""
    labels, count = ndimage.label(body, IN_PLANE)
    main, divided = np.zeros(body.shape, dtype=bool), np.zeros(body.shape[0], dtype=bool)
    if count == 0:
        return main, divided
    voxels = np.nonzero(labels)
    ids = labels[voxels]
    sizes = np.bincount(ids, minlength=count + 1).astype(float)
    row_of = np.zeros(count + 1, dtype=int)
    row_of[ids] = voxels[0]
    column_of = np.bincount(ids, weights=voxels[2], minlength=count + 1) / np.maximum(sizes, 1.0)
    largest = np.zeros(body.shape[0])
    np.maximum.at(largest, row_of[1:], sizes[1:])
    crossing = np.zeros(count + 1, dtype=bool)
    crossing[np.unique(labels[:, :, midline])] = True
    crossing &= sizes >= MAJOR_PART * largest[row_of]
    crossing[0] = False
    best = np.zeros(body.shape[0])
    np.maximum.at(best, row_of[crossing], sizes[crossing])
    main_of_row = np.zeros(body.shape[0], dtype=labels.dtype)
    winners = np.flatnonzero(crossing & (sizes == best[row_of]))
    main_of_row[row_of[winners]] = winners
    main = (labels == main_of_row[:, None, None]) & (labels > 0)
    order = np.lexsort((-sizes[1:], row_of[1:])) + 1  # by section, largest part first
    starts = np.flatnonzero(np.r_[True, row_of[order][1:] != row_of[order][:-1]])
    pairs = starts[(starts + 1 < order.size) & (row_of[order][np.minimum(starts + 1, order.size - 1)]
                                               == row_of[order][starts])]
    first, second = order[pairs], order[pairs + 1]
    sides = np.sort(np.stack([column_of[first], column_of[second]]), axis=0)
    divided[row_of[first]] = (sizes[second] >= LEG_BALANCE * sizes[first]) & (sides[0] < midline) & \
        (midline < sides[1])
    return main, divided


def _shoulders(widths: np.ndarray) -> tuple[int | None, int | None]:
    """(shoulder row, top row of the body) going down from the top: the first section at least
    `SHOULDER_WIDENING` times as wide as the neck above it. The neck is the narrowest section that is
    narrower than the head above it (or cut by the top of the grid)."""
    rows = np.flatnonzero(widths > 0)
    if rows.size == 0:
        return None, None
    widest, neck = 0.0, np.inf
    for row in rows:
        width = float(widths[row])
        if width >= SHOULDER_WIDENING * neck:
            return int(row), int(rows[0])
        widest = max(widest, width)
        if width <= NECK_NARROWING * widest or row == 0:
            neck = min(neck, width)
    return None, None


def _legs(divided: np.ndarray, shoulders: int | None, run: int) -> int | None:
    """The first row below the shoulders (or below the middle of the grid) from which `run` sections in a row
    hold two legs."""
    start = shoulders if shoulders is not None else len(divided) // 2
    for row in range(start, len(divided) - run + 1):
        if divided[row:row + run].all():
            return row
    return None


def _lung_rows(study: Study, main: np.ndarray, stride: int) -> tuple[int, int] | None:
    """(apex row, diaphragm row) of the lungs on the CT: air inside the trunk's filled section."""
    air = oriented(study.suv, study.ct.array)[:, ::stride, ::stride] < LUNG_HU  # type: ignore[union-attr]
    if study.ct_coverage is not None:  # uncovered CT is missing, not air
        air &= oriented(study.suv, study.ct_coverage.array)[:, ::stride, ::stride] > 0
    pixel_cm2 = study.suv.spacing[0] * study.suv.spacing[1] * stride**2 / 100.0
    area = (_filled(main) & air).sum(axis=(1, 2)) * pixel_cm2
    if area.max(initial=0.0) < MIN_LUNG_AREA_CM2:
        return None
    half = np.flatnonzero(area >= LUNG_HALF_AREA * area.max())
    apex = np.flatnonzero(area >= 0.1 * area.max())
    return int(apex[0]), int(half[-1])


def _filled(main: np.ndarray) -> np.ndarray:
    """Each section's main part with its holes filled: what the section's border cannot reach."""
    outside, count = ndimage.label(~main, IN_PLANE)
    reached = np.zeros(count + 1, dtype=bool)
    reached[np.concatenate([outside[:, [0, -1], :].ravel(), outside[:, :, [0, -1]].ravel()])] = True
    reached[0] = False  # the main part itself
    return ~reached[outside]


def _trunk_length(shoulders: int | None, head_top: int | None, legs: int | None,
                  sources: dict[str, str]) -> float | None:
    """Rows from the shoulders to the division of the legs, measured or estimated from the head and neck."""
    if shoulders is None:
        return None
    if legs is not None and legs > shoulders:
        sources["trunk"] = "shoulders to the division of the legs"
        return float(legs - shoulders)
    if head_top is not None and head_top < shoulders:
        sources["trunk"] = f"{TRUNK_PER_HEAD_NECK:g} x the head and neck (legs not divided in the field of view)"
        return TRUNK_PER_HEAD_NECK * (shoulders - head_top)
    return None
