"""A coarse anatomical region per lesion: head-neck, thorax, abdomen, pelvis or extremity.

The boundaries are read from the body model the SUV method uses, `methods.landmarks.body_frame` (its `mask`,
`midline_x`, `center_y` and `legs_top_mm`, with its constants): one model of the body, so the two never disagree
on where the legs divide. They work PET-only:

- each axial section's *main part* is the part of the body that crosses the midline (the trunk, or the
  head between raised arms); anything else (arms, hands, the legs once they divide) is an extremity;
- the *shoulders* (the lung apices, the lower end of head-neck) are the first section, going down, at
  least twice as wide as the neck (narrower than the head) above it;
- the *division of the legs* is the body frame's (`legs_top_mm`: the top of the run of two-leg sections that
  starts at the bottom of the body); both legs are extremities from there down;
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
from petseg.methods.landmarks import MAJOR_PART, BodyFrame, body_frame
from petseg.orientation import oriented, oriented_index

REGIONS = ("head-neck", "thorax", "abdomen", "pelvis", "extremity")
DIAPHRAGM, ILIAC_CREST, PELVIC_FLOOR = 0.32, 0.68, 0.92  # fractions of the trunk length below the shoulders
TRUNK_PER_HEAD_NECK = 2.0
SHOULDER_WIDENING = 2.0
NECK_NARROWING = 0.85  # a neck is at most this fraction of the widest section (the head) above it
LUNG_HU = -400.0
LUNG_HALF_AREA = 0.5
MIN_LUNG_AREA_CM2 = 20.0
TOP_REACH_MM = 150.0  # the body's typical section near the top of the grid, to tell a cut head from a vertex
SECTION_PIXEL_MM = 4.0  # sections are analysed on pixels of about this size (every n-th row and column)
IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
IN_PLANE[1] = ndimage.generate_binary_structure(2, 1)  # connectivity within an axial section only


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
    stride = max(round(SECTION_PIXEL_MM / suv.spacing[0]), 1)
    main = _main_parts(oriented(suv, frame.mask)[:, ::stride, ::stride], _midline_column(study, frame) // stride)
    widths = main.any(axis=1).sum(axis=1) * suv.spacing[0] * stride
    shoulders, head_top = _shoulders(widths, _top_cut(widths, suv.spacing_zyx[0]))
    legs = _legs_row(study, frame, shoulders)
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


def _display_index(study: Study, frame: BodyFrame, z_mm: float) -> np.ndarray:
    """The display (row, ap, column) of the point on the body's midline at height `z_mm`."""
    suv = study.suv
    index = suv.physical_to_index(np.array([frame.midline_x, frame.center_y, z_mm]))
    return oriented_index(suv, np.clip(np.rint(index).astype(int), 0, np.array(suv.shape) - 1))


def _midline_column(study: Study, frame: BodyFrame) -> int:
    """The display column of the body's midline."""
    return int(_display_index(study, frame, frame.top_mm - frame.height_mm / 2)[2])


def _legs_row(study: Study, frame: BodyFrame, shoulders: int | None) -> int | None:
    """The display row where the body frame finds the legs dividing (None when it does not, or not below the
    shoulders)."""
    if frame.legs_top_mm is None:
        return None
    row = int(_display_index(study, frame, frame.legs_top_mm)[0])
    return row if shoulders is None or row > shoulders else None


def _main_parts(body: np.ndarray, midline: int) -> np.ndarray:
    """Per display section, the largest major part of the body that crosses the midline column (the main
    part). The parts of every section are labelled in one pass."""
    labels, count = ndimage.label(body, IN_PLANE)
    if count == 0:
        return np.zeros(body.shape, dtype=bool)
    voxels = np.nonzero(labels)
    ids = labels[voxels]
    sizes = np.bincount(ids, minlength=count + 1).astype(float)
    row_of = np.zeros(count + 1, dtype=int)
    row_of[ids] = voxels[0]
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
    return (labels == main_of_row[:, None, None]) & (labels > 0)


def _top_cut(widths: np.ndarray, row_mm: float) -> bool:
    """True when the grid's first row cuts through the body (a field of view starting in the head or neck), not
    when the vertex only touches it: a section there at least half as wide as the body's typical one within
    `TOP_REACH_MM` below."""
    rows = np.flatnonzero(widths > 0)
    if rows.size == 0 or rows[0] != 0:
        return False
    below = widths[rows[: max(int(TOP_REACH_MM / max(row_mm, 1e-3)), 1)]]
    return bool(widths[0] >= 0.5 * float(np.median(below)))


def _shoulders(widths: np.ndarray, top_cut: bool) -> tuple[int | None, int | None]:
    """(shoulder row, top row of the body) going down from the top: the first section at least
    `SHOULDER_WIDENING` times as wide as the neck above it. The neck is the narrowest section that is
    narrower than the head above it, or the first row where the top of the grid cuts the head or neck
    (`top_cut`; a vertex that only touches the top is a small cap, no neck)."""
    rows = np.flatnonzero(widths > 0)
    if rows.size == 0:
        return None, None
    widest, neck = 0.0, np.inf
    for row in rows:
        width = float(widths[row])
        if width >= SHOULDER_WIDENING * neck:
            return int(row), int(rows[0])
        widest = max(widest, width)
        if width <= NECK_NARROWING * widest or (row == 0 and top_cut):
            neck = min(neck, width)
    return None, None


def _lung_rows(study: Study, main: np.ndarray, stride: int) -> tuple[int, int] | None:
    """(apex row, diaphragm row) of the lungs on the CT: air inside the trunk's filled section; None where the CT
    holds no lungs, or where its edge cuts them (a CT of the head and neck: the lungs' extent is unknown)."""
    air = oriented(study.suv, study.ct.array)[:, ::stride, ::stride] < LUNG_HU  # type: ignore[union-attr]
    covered_rows = np.arange(air.shape[0])
    if study.ct_coverage is not None:  # uncovered CT is missing, not air
        covered = oriented(study.suv, study.ct_coverage.array)[:, ::stride, ::stride] > 0
        air &= covered
        covered_rows = np.flatnonzero(covered.any(axis=(1, 2)))
    pixel_cm2 = study.suv.spacing[0] * study.suv.spacing[1] * stride**2 / 100.0
    area = (_filled(main) & air).sum(axis=(1, 2)) * pixel_cm2
    if area.max(initial=0.0) < MIN_LUNG_AREA_CM2:
        return None
    half = np.flatnonzero(area >= LUNG_HALF_AREA * area.max())
    apex = np.flatnonzero(area >= 0.1 * area.max())
    if covered_rows.size == 0 or _cut_by(area, covered_rows):
        return None  # the CT's edge cuts the lungs
    return int(apex[0]), int(half[-1])


def _cut_by(area: np.ndarray, covered_rows: np.ndarray) -> bool:
    """True when the CT's first or last covered section (inside the grid) still holds a tenth of the lungs' largest
    area: the lungs run on beyond the CT."""
    ends = [row for row in (covered_rows[0], covered_rows[-1]) if 0 < row < len(area) - 1]
    return any(area[row] >= 0.1 * area.max() for row in ends)


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
