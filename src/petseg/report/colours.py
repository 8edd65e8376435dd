"""The colours of the report's pictures, decided once.

Two colour families are reserved and never used for a lesion: green for the ground truth and the cool
cyans, blues and blue-greys for physiological uptake the SUV method recognised and left out (one colour
per reason, `REASON_COLOURS`). Lesion colours are warm saturated hues at least 60 degrees of hue away from
both, so a lesion is never read as truth or physiology; they cycle with the lesion number. The reason
colours are each at least 40 CIELAB units from every lesion colour, 65 from the truth's green and 22
from each other (tests/report/test_mip.py checks it).
"""

from __future__ import annotations

from matplotlib.colors import to_rgb

TRUTH_COLOUR = "#00a000"  # reserved: ground-truth contours
PHYSIOLOGY_COLOUR = "#00b8d4"  # reserved: suppressed physiological regions
RESERVED_COLOURS = (TRUTH_COLOUR, PHYSIOLOGY_COLOUR)
LESION_COLOURS = ("#d62728", "#ff7f0e", "#9467bd", "#e377c2", "#8c564b", "#c79a00")  # red, orange, purple, pink,
# brown, dark yellow
REASON_COLOURS = {  # suppressed regions by the SUV method's reason
    "brain": PHYSIOLOGY_COLOUR, "myocardium": "#001a4c", "bladder": "#00a1e6", "kidney": "#006980",
    "ureter": "#accde6", "urinary tract": "#264c46", "testis": "#86b2aa", "paired gland": "#198073",
    "noise speck": "#bffff4", "diffuse uptake": "#00314c", "bowel or ureter": "#0066ff", "liver or spleen": "#2ee6cf",
    "renal collecting system": "#030080", "injection site": "#2b26ff",
}
PET_COLOURMAP = "gray_r"  # MIPs and PET-only slices: inverted grey, uptake dark
FUSED_COLOURMAP = "hot"  # PET over CT on the axial slices


def lesion_colour(lesion_id: int) -> str:
    """The colour of lesion `lesion_id` (1-based) in every picture."""
    return LESION_COLOURS[(lesion_id - 1) % len(LESION_COLOURS)]


def reason_colour(reason: str) -> str:
    """The colour of a suppressed region's reason (the physiology cyan for a reason not listed)."""
    return REASON_COLOURS.get(reason, PHYSIOLOGY_COLOUR)


def lesion_rgb(lesion_id: int) -> tuple[float, float, float]:
    """`lesion_colour` as RGB in 0..1."""
    return to_rgb(lesion_colour(lesion_id))
