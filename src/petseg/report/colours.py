"""The colours of the report's pictures, decided once.

Two colours are reserved and never used for a lesion: green for the ground truth and cyan for
physiological uptake the SUV method recognised and left out. Lesion colours are saturated hues at
least 60 degrees of hue away from both (no greens, no cyans or light blues), so a lesion is never
read as truth or physiology; they cycle with the lesion number.
"""

from __future__ import annotations

from matplotlib.colors import to_rgb

TRUTH_COLOUR = "#00a000"  # reserved: ground-truth contours
PHYSIOLOGY_COLOUR = "#00b8d4"  # reserved: suppressed physiological regions
RESERVED_COLOURS = (TRUTH_COLOUR, PHYSIOLOGY_COLOUR)
LESION_COLOURS = ("#d62728", "#ff7f0e", "#9467bd", "#e377c2", "#8c564b", "#c79a00")  # red, orange, purple, pink,
# brown, dark yellow
PET_COLOURMAP = "gray_r"  # MIPs and PET-only slices: inverted grey, uptake dark
FUSED_COLOURMAP = "hot"  # PET over CT on the axial slices


def lesion_colour(lesion_id: int) -> str:
    """The colour of lesion `lesion_id` (1-based) in every picture."""
    return LESION_COLOURS[(lesion_id - 1) % len(LESION_COLOURS)]


def lesion_rgb(lesion_id: int) -> tuple[float, float, float]:
    """`lesion_colour` as RGB in 0..1."""
    return to_rgb(lesion_colour(lesion_id))
