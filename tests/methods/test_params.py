"""SUV-method parameters are checked after `--param` overrides (issue 14, item 3)."""

from __future__ import annotations

import pytest

from petseg.errors import PetsegError
from petseg.methods.suv import method_parameters


@pytest.mark.parametrize(("key", "value", "message"), [
    ("threshold.suv", "-5", r"threshold\.suv must be above 0, got -5"),
    ("threshold.suv", "0", r"threshold\.suv must be above 0"),
    ("threshold.suv", "abc", r"threshold\.suv must be a number, got 'abc'"),
    ("threshold.suv", "true", r"threshold\.suv must be a number, got True"),
    ("threshold.suv", ".nan", r"threshold\.suv must be a number"),
    ("threshold.relative_fraction", "1.5", r"relative_fraction must be a fraction in \(0, 1\]"),
    ("min_volume_ml", "-1", r"min_volume_ml must be 0 or more"),
    ("organ_adaptive", "3", r"organ_adaptive must be true or false"),
    ("liver_search.suv", "[4.5, 1.0]", r"liver_search\.suv must be a range \[low, high\] with low <= high"),
    ("liver_search.suv", "2", r"liver_search\.suv must be a list of 2 numbers"),
    ("suppress.kidneys.volume_ml", "[-20]", r"volume_ml must be a list of 2 numbers"),
    ("suppress.brain", "{min_volume_ml: x}", r"suppress\.brain\.min_volume_ml must be a number"),
    ("split.organs", "[brain, 3]", r"split\.organs must be a list of words"),
    ("suppress.brain", "{typo_mm: 3}", r"unknown parameter of the SUV method 'suppress\.brain\.typo_mm'"),
    ("threshold", "3", r"threshold must be a mapping"),
    ("threshold.mode", "3", r"threshold\.mode must be a word"),
])
def test_wrong_values_are_one_line_naming_the_key(key, value, message):
    with pytest.raises(PetsegError, match=message):
        method_parameters("fdg", {key: value})


def test_sensible_values_pass():
    params = method_parameters("psma", {"threshold.suv": "4", "suppress.brain": "null", "suppress.heart": "null",
                                        "suppress.kidneys.volume_ml": "[4, 1200]", "min_volume_ml": "0",
                                        "split.organs": "[bladder]"})
    assert params["threshold"]["suv"] == 4 and params["suppress"]["brain"] is None


def test_segment_refuses_a_negative_threshold(tmp_path, small_phantom, capsys):
    from petseg.cli.main import run
    from petseg.data.phantom.generate import write_phantom_case

    files = write_phantom_case(small_phantom, tmp_path / "study")
    for value in ("-5", "abc"):
        assert run(["segment", "--pet", str(files.pet), "-o", str(tmp_path / "out"), "--param",
                    f"threshold.suv={value}"]) == 2
        err = capsys.readouterr().err
        assert "threshold.suv must be" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
