"""Rules that need no organ: noise specks, diffuse uptake, tube-like bowel, large uniform organs (PSMA).

A noise speck is a region of up to about a resolution element (and at least two voxels) whose SUVmax passes
the threshold by no more than the study's own
noise allows: `max_noise_sd` x the noise SD at the threshold, which is the liver reference's SD scaled as
Poisson noise scales (with the square root of the uptake), and that rides on its tissue (SUVmax under
`max_contrast` x the SUV around it: a spot in the lung is no grain). Real PET shows many such grains; a lesion
that matters stands higher, stands out of its surroundings or spans more voxels.
"""

from __future__ import annotations

import numpy as np

from petseg.methods.candidates import Candidate
from petseg.methods.organs.context import Context, undecided


def find_specks(candidates: list[Candidate], context: Context) -> None:
    """Name noise specks (needs the liver reference)."""
    rule = context.rule("speck")
    if rule is None or context.liver is None:
        return
    noise = context.liver.sd * np.sqrt(context.threshold_suv / max(context.liver.mean, 1e-6))
    level = context.threshold_suv + rule["max_noise_sd"] * noise
    for c in undecided(candidates):
        if c.voxels >= rule["min_voxels"] and c.volume_ml <= rule["max_volume_ml"] and c.suvmax < level \
                and c.contrast < rule["max_contrast"]:
            c.reason = "noise speck"


def find_diffuse(candidates: list[Candidate], context: Context) -> None:
    """Name regions hardly hotter than the tissue around them."""
    rule = context.rule("contrast")
    if rule is None:
        return
    for c in undecided(candidates):
        if c.contrast < rule["min_ratio"]:
            c.reason = "diffuse uptake"


def find_tubes(candidates: list[Candidate], context: Context) -> None:
    """Name small tube-like regions (bowel segments, ureters off their corridor)."""
    rule = context.rule("tubular")
    if rule is None:
        return
    for c in undecided(candidates):
        if c.elongation >= rule["min_elongation"] and c.volume_ml <= rule["max_volume_ml"]:
            c.reason = "bowel or ureter"


def find_uniform_organs(candidates: list[Candidate], context: Context) -> None:
    """Name large regions of uniform uptake (PSMA liver and spleen)."""
    rule = context.rule("uniform_organ")
    if rule is None:
        return
    for c in undecided(candidates):
        if c.volume_ml >= rule["min_volume_ml"] and c.cv <= rule["max_cv"]:
            c.reason = "liver or spleen"
