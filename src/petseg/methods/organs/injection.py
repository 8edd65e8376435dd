"""The injection site (FDG, PSMA): where the tracer went in, not a lesion.

Readers know it at a glance: a small, very hot focus in an arm or a hand (the back of the hand, the forearm, the
antecubital fossa), away from the trunk, often with a tail of hot spots up the vein it was injected into; or a
blob at the elbow where the tracer went beside the vein (extravasation). So:

- the site: a region in an arm (a part of its axial section beside the trunk, or raised beside the head; never
  the trunk, the head or the legs) of at most `max_volume_ml`, with SUVmax of at least `min_suvmax` (very hot
  for the tracer);
- its tail: the other regions in the same arm, of at most `max_volume_ml`, whose peak lies within `tail_mm`
  of the site's.
A lesion in an arm that is larger or less hot (a sarcoma, a node) stays; `--param suppress.injection_site=null`
keeps the injection site too.
"""

from __future__ import annotations

import numpy as np

from petseg.methods.candidates import Candidate
from petseg.methods.landmarks import in_limb
from petseg.methods.organs.context import Context, undecided

REASON = "injection site"


def find_injection_site(candidates: list[Candidate], context: Context) -> None:
    """Name the injection site and the tail along its vein."""
    rule = context.rule("injection_site")
    if rule is None:
        return
    volume, body = context.study.suv, context.body
    small = [c for c in undecided(candidates) if c.volume_ml <= rule["max_volume_ml"]]
    limb = in_limb(volume, body, np.array([c.peak_mm for c in small]).reshape(-1, 3))
    in_arm = [c for c, arm in zip(small, limb, strict=True) if arm]
    sites = [c for c in in_arm if c.suvmax >= rule["min_suvmax"]]
    for c in in_arm:
        side = np.sign(body.lateral_mm(c.peak_mm))
        if any(np.sign(body.lateral_mm(site.peak_mm)) == side
               and np.linalg.norm(c.peak_mm - site.peak_mm) <= rule["tail_mm"] for site in sites):
            c.reason = REASON
