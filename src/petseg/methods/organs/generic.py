"""Rules that need no organ: noise specks, diffuse uptake, tube-like bowel, large uniform organs (PSMA).

A noise speck is a region of up to about a resolution element (and at least two voxels) whose SUVmax passes
the threshold by no more than the study's own
noise allows: `max_noise_sd` x the noise SD at the threshold, which is the liver reference's SD scaled as
Poisson noise scales (with the square root of the uptake), and that rides on its tissue (SUVmax under
`max_contrast` x the SUV around it: a spot in the lung is no grain). Real PET shows many such grains; a lesion
that matters stands higher, stands out of its surroundings or spans more voxels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def _name_by(rule_name: str, reason: str, matches: Callable[[Candidate, dict[str, Any]], bool]
             ) -> Callable[[list[Candidate], Context], None]:
    """A rule that names every undecided region `matches` accepts under the rule's parameters (none when the
    tracer switches the rule off)."""

    def rule(candidates: list[Candidate], context: Context) -> None:
        parameters = context.rule(rule_name)
        if parameters is None:
            return
        for c in undecided(candidates):
            if matches(c, parameters):
                c.reason = reason

    return rule


# Regions hardly hotter than the tissue around them.
find_diffuse = _name_by("contrast", "diffuse uptake", lambda c, r: c.contrast < r["min_ratio"])
# Small tube-like regions (bowel segments, ureters off their corridor).
find_tubes = _name_by("tubular", "bowel or ureter",
                      lambda c, r: c.elongation >= r["min_elongation"] and c.volume_ml <= r["max_volume_ml"])
# Large regions of uniform uptake (PSMA liver and spleen).
find_uniform_organs = _name_by("uniform_organ", "liver or spleen",
                               lambda c, r: c.volume_ml >= r["min_volume_ml"] and c.cv <= r["max_cv"])
