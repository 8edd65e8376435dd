from __future__ import annotations

from dataclasses import replace

import pytest

from petseg.methods.organs import RULES, check_order


def test_the_rules_order_is_data_and_a_rule_never_reads_what_no_earlier_rule_gave():
    check_order(RULES)  # the shipped order: brain before glands, bladder before kidneys, ureters and testes
    names = [rule.find.__name__ for rule in RULES]
    assert names.index("find_brain") < names.index("find_glands")
    assert names.index("find_bladder") < names.index("find_kidneys") < names.index("find_ureters")
    assert names.index("find_kidneys") < names.index("find_collecting_system")
    assert names.index("find_injection_site") < names.index("find_specks")  # before the shape rules (bowel, noise)
    ureters = next(rule for rule in RULES if rule.find.__name__ == "find_ureters")
    with pytest.raises(ValueError, match=r"find_collecting_system reads .*kidneys"):
        check_order([rule for rule in RULES if rule.find.__name__ != "find_kidneys"])
    with pytest.raises(ValueError, match=r"find_ureters reads .*kidneys"):
        check_order([rule for rule in RULES if rule.find.__name__ not in ("find_kidneys", "find_collecting_system")])
    with pytest.raises(ValueError, match="reads"):
        check_order([replace(ureters, needs=("liver_dome",))])
