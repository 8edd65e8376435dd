"""Recognising physiological uptake and noise among candidate regions, so they are not reported as lesions.

The rules run in a fixed order, each on the regions still unnamed, and later rules use the organs earlier
ones found (the brain gives the skull base, the bladder and kidneys the ureters' course, the bladder the
testes' place). A rule is off when its parameters are null in `suv_params.yaml`; the trunk's organs are
not placed in a short field of view (`trunk_min_extent_mm`: a crop around a tumour), where only the CT's
water density names urine.
"""

from __future__ import annotations

from petseg.methods.candidates import Candidate
from petseg.methods.organs.brain import find_brain
from petseg.methods.organs.context import Context
from petseg.methods.organs.generic import find_diffuse, find_specks, find_tubes, find_uniform_organs
from petseg.methods.organs.glands import find_glands
from petseg.methods.organs.heart import find_heart
from petseg.methods.organs.testes import find_testes
from petseg.methods.organs.urinary import find_bladder, find_kidneys, find_ureters, find_urine_on_ct

RULES = (find_brain, find_bladder, find_kidneys, find_ureters, find_urine_on_ct, find_heart, find_testes,
         find_glands, find_specks, find_diffuse, find_tubes, find_uniform_organs)
TRUNK_RULES = (find_kidneys, find_ureters, find_heart, find_testes)

__all__ = ["Context", "classify"]


def classify(candidates: list[Candidate], context: Context) -> None:
    """Set `reason` on every candidate recognised as physiological uptake or noise. Organs placed by the
    trunk's anatomy are looked for only in a field of view that holds the trunk (urine on CT anywhere)."""
    for rule in RULES:
        if context.shows_trunk or rule not in TRUNK_RULES:
            rule(candidates, context)
