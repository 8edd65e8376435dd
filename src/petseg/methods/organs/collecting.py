"""The renal collecting system: urine in the renal pelvis and the proximal ureter, beside a recognised kidney.

The urine that collects in the renal pelvis and leaves down the ureter is hot on PET and often lies apart from
the kidney's parenchyma at the threshold: small spots at the kidney's hilum. A reader names them by where they
sit, against the kidney: on its side of the body, touching it (within `reach_mm` of the kidney's region), from
its lower pole up to just above its middle (the hilum; the adrenal sits higher, on the upper pole), and no
further towards the midline than `medial_mm` from the kidney's centre (a para-aortic node lies by the aorta,
nearer the midline); or, for the proximal ureter, a tube running head-foot from the kidney's lower pole down to
`below_mm` under it, on that line. Where a CT covers them the water rule (`urinary`) names them too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from petseg.methods.candidates import Candidate
from petseg.methods.organs.context import Context, undecided

REASON = "renal collecting system"


def find_collecting_system(candidates: list[Candidate], context: Context) -> None:
    """Name the urine of the renal pelvis and proximal ureter beside each recognised kidney."""
    rule = context.rule("collecting_system")
    if rule is None or not context.kidneys:
        return
    for c in undecided(candidates):
        if c.volume_ml <= rule["max_volume_ml"] and any(
                _at_hilum(c, kidney, context, rule) for kidney in context.kidneys):
            c.reason = REASON


def _at_hilum(c: Candidate, kidney: Candidate, context: Context, rule: dict[str, Any]) -> bool:
    """True when `c` lies at `kidney`'s hilum or on its proximal ureter (see the module docstring)."""
    body = context.body
    side, lateral = np.sign(body.lateral_mm(kidney.centroid)), body.lateral_mm(c.peak_mm)
    if np.sign(lateral) != side or abs(lateral) < abs(body.lateral_mm(kidney.centroid)) - rule["medial_mm"]:
        return False
    z = float(c.peak_mm[2])
    if kidney.bottom_mm <= z <= kidney.centroid[2] + rule["above_centre_mm"]:
        return _distance_to(kidney, c.peak_mm, context) <= rule["reach_mm"]
    tube = c.elongation >= rule["ureter_min_elongation"] and abs(c.axis[2]) >= rule["ureter_min_axial_cosine"]
    return tube and kidney.bottom_mm - rule["below_mm"] <= z < kidney.bottom_mm


def _distance_to(region: Candidate, point_mm: np.ndarray, context: Context) -> float:
    """Distance (mm) from `point_mm` to the nearest voxel of `region`."""
    volume = context.study.suv
    voxels = np.argwhere(region.mask) + [s.start for s in region.box]
    return float(np.min(np.linalg.norm(volume.index_to_physical(voxels) - point_mm, axis=1)))
