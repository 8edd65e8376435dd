"""Recognising physiological uptake and noise among candidate regions, so they are not reported as lesions.

The rules run in the order `RULES` declares, each on the regions still unnamed. A rule may use what earlier
rules found (`needs`: the brain gives the skull base, the bladder and kidneys the ureters' course, the bladder
the testes' place and the kidneys' side); that contract is data here and checked when the module loads
(`check_order`). A rule is off when its parameters are null in `suv_params.yaml`; the trunk's organs
(`trunk`) are not placed in a short field of view (`trunk_min_extent_mm`: a crop around a tumour), where only the
CT's water density names urine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from petseg.methods.candidates import Candidate
from petseg.methods.organs.brain import find_brain
from petseg.methods.organs.collecting import find_collecting_system
from petseg.methods.organs.context import Context
from petseg.methods.organs.generic import find_diffuse, find_specks, find_tubes, find_uniform_organs
from petseg.methods.organs.glands import find_glands
from petseg.methods.organs.heart import find_heart
from petseg.methods.organs.injection import find_injection_site
from petseg.methods.organs.testes import find_testes
from petseg.methods.organs.urinary import find_bladder, find_kidneys, find_ureters, find_urine_on_ct

__all__ = ["RULES", "Context", "Rule", "check_order", "classify"]

FACTS = ("skull_base_mm", "bladder", "kidneys")  # what a rule may leave in the Context for later rules


@dataclass(frozen=True)
class Rule:
    """One organ rule: the function that names candidates, the Context facts it reads (found by earlier rules)
    and sets, and whether it needs a field of view that shows the trunk."""

    find: Callable[[list[Candidate], Context], None]
    needs: tuple[str, ...] = ()
    gives: tuple[str, ...] = ()
    trunk: bool = False


RULES = (
    Rule(find_brain, gives=("skull_base_mm",)),
    Rule(find_bladder, gives=("bladder",)),
    Rule(find_kidneys, needs=("bladder",), gives=("kidneys",), trunk=True),
    Rule(find_collecting_system, needs=("kidneys",), trunk=True),
    Rule(find_ureters, needs=("bladder", "kidneys"), trunk=True),
    Rule(find_urine_on_ct),
    Rule(find_heart, trunk=True),
    Rule(find_testes, needs=("bladder",), trunk=True),
    Rule(find_glands, needs=("skull_base_mm",)),
    Rule(find_injection_site, trunk=True),  # before the shape rules: its tail up the vein is no bowel
    Rule(find_specks),
    Rule(find_diffuse),
    Rule(find_tubes),
    Rule(find_uniform_organs),
)


def check_order(rules: Sequence[Rule]) -> None:
    """Refuse an order in which a rule reads a fact no earlier rule gives (a programming error)."""
    given: set[str] = set()
    for rule in rules:
        unknown = set(rule.needs) - set(FACTS) or set(rule.gives) - set(FACTS)
        missing = set(rule.needs) - given
        if unknown or missing:
            raise ValueError(f"organ rule {rule.find.__name__} reads {sorted(unknown or missing)} before any rule "
                             "gives it")
        given |= set(rule.gives)


check_order(RULES)


def classify(candidates: list[Candidate], context: Context) -> None:
    """Set `reason` on every candidate recognised as physiological uptake or noise, rule by rule in order."""
    for rule in RULES:
        if context.shows_trunk or not rule.trunk:
            rule.find(candidates, context)
