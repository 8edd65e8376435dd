"""What the field of view holds, and the warnings about it that change something.

A crop around a tumour (a field of view shorter than the trunk, `trunk_min_extent_mm`) is cut on every side by
design: nothing is said about it. In a whole-body study, a reader wants to know where the field of view cuts
what matters:
- its top edge runs through the head or neck, above the shoulders (the brain is cut: hot tissue at the top edge
  is judged as cut brain), or through the trunk (no head and neck imaged);
- its bottom edge runs through the trunk above where the legs divide (the pelvis, the bladder cut: lesions below
  were not imaged);
- the trunk (not an arm raised out of the field) reaches the edge of the transaxial field of view.
These are `ImportantWarning`s; an arm beyond the edge is a note.
"""

from __future__ import annotations

import warnings

import numpy as np

from petseg.data.field_of_view import edge_voxels, truncated_slices, warn_if_truncated
from petseg.data.study import Study
from petseg.errors import ImportantWarning, PetsegWarning
from petseg.methods.landmarks import BodyFrame, in_limb
from petseg.orientation import oriented, oriented_index
from petseg.regions import find_landmarks

SAMPLES_PER_SLICE = 8  # edge points judged per truncated slice (trunk or arm)
SHOULDERS_TO_CROTCH_MM = 550.0  # an adult's trunk from the shoulders to where the legs divide is longer
CUT_AREA, END_MM = 0.5, 150.0  # an end slice cuts the body when its section is half the body's typical one there
WHOLE_BODY, CROP = "whole body", "crop"


def warn_field_of_view(study: Study, body: BodyFrame, trunk_min_extent_mm: float) -> str:
    """Warn where the field of view cuts what matters (see the module docstring); returns CROP or WHOLE_BODY."""
    if body.height_mm < trunk_min_extent_mm:
        return CROP
    top_cut, bottom_cut = _cut_ends(study, body)
    if top_cut:
        where = "in the head or neck: the top of the head is not imaged and hot tissue at the top edge is judged " \
                "as cut brain" if _starts_above_shoulders(study, body) else "in the trunk: the head and neck are " \
                "not imaged"
        warnings.warn(f"truncated field of view: it starts {where} (z {body.fov_top_mm:.0f} mm)", ImportantWarning,
                      stacklevel=2)
    if bottom_cut and body.legs_top_mm is None and _ends_in_the_trunk(study, body):
        warnings.warn(f"truncated field of view: it ends in the trunk above where the legs divide (z "
                      f"{body.top_mm - body.height_mm:.0f} mm): the pelvis (the bladder) may be cut and lesions below "
                      "it were not imaged", ImportantWarning, stacklevel=2)
    _transaxial(study, body)
    return WHOLE_BODY


def _cut_ends(study: Study, body: BodyFrame) -> tuple[bool, bool]:
    """Whether the grid's first and last axial slices cut through the body: a section there at least
    `CUT_AREA` of the body's typical section within `END_MM` of that end (a vertex or the toes only touching
    the edge leave a small cap)."""
    area = oriented(study.suv, body.mask).sum(axis=(1, 2)).astype(float)
    rows = np.flatnonzero(area)
    if rows.size == 0:
        return False, False
    step = max(study.suv.spacing_zyx[0], 1e-3)  # display rows run along the array's first axis
    reach = max(int(END_MM / step), 1)
    top = area[0] >= CUT_AREA * float(np.median(area[rows[:reach]]))
    bottom = area[-1] >= CUT_AREA * float(np.median(area[rows[-reach:]]))
    return bool(top), bool(bottom)


def _ends_in_the_trunk(study: Study, body: BodyFrame) -> bool:
    """True when the field of view ends less than `SHOULDERS_TO_CROTCH_MM` below the shoulders (where the legs
    cannot be seen to divide, thighs pressed together, the shoulders tell how far down the trunk it reaches)."""
    shoulders = find_landmarks(study, body).shoulders
    if shoulders is None:
        return False
    depth = (oriented(study.suv, body.mask).shape[0] - 1 - shoulders) * study.suv.spacing_zyx[0]
    return bool(depth < SHOULDERS_TO_CROTCH_MM)


def _starts_above_shoulders(study: Study, body: BodyFrame) -> bool:
    """True when the body's first section lies above the shoulders (the head or the neck, whatever the arms)."""
    shoulders = find_landmarks(study, body).shoulders
    rows = np.flatnonzero(oriented(study.suv, body.mask).any(axis=(1, 2)))
    return shoulders is not None and rows.size > 0 and int(rows[0]) < shoulders


def _spread(points: np.ndarray, count: int) -> np.ndarray:
    """At most `count` of `points`, evenly spaced through them."""
    return points if len(points) <= count else points[np.linspace(0, len(points) - 1, count).astype(int)]


def _transaxial(study: Study, body: BodyFrame) -> None:
    """Warn about the trunk on the edge of the transaxial field of view (important) or only an arm (a note)."""
    suv = study.suv
    rows = truncated_slices(suv)
    if rows.size == 0:
        return
    hits = edge_voxels(suv, rows)
    hits = hits[body.mask[tuple(hits.T)]] if hits.size else hits
    display_rows = np.array([oriented_index(suv, index)[0] for index in hits], dtype=int)
    samples = [_spread(hits[display_rows == row], SAMPLES_PER_SLICE) for row in rows]
    limb = in_limb(suv, body, suv.index_to_physical(np.concatenate(samples).astype(float)))
    per_row = np.split(limb, np.cumsum([len(s) for s in samples])[:-1])
    trunk = np.array([row for row, sampled in zip(rows, per_row, strict=True) if not sampled.all()], dtype=int)
    if trunk.size:
        warn_if_truncated(suv, trunk, "the trunk", ImportantWarning)
    else:
        warn_if_truncated(suv, rows, "an arm (not the trunk)", PetsegWarning)
