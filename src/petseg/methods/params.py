"""Checks of the SUV method's parameters once `--param` overrides are applied.

Every value keeps the type it has in `suv_params.yaml` (a number stays a number, a [low, high] range a
range, a list of names a list of names, a switch a boolean, a section a mapping or null), and the values
with a meaning of their own keep to it (an SUV threshold above 0, a fraction in (0, 1]). A wrong value is
one line naming the key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from petseg.errors import PetsegError

ABOVE_ZERO = ("threshold.suv", "threshold.relative_seed_suv")
AT_LEAST_ZERO = ("threshold.percist_sd", "organ_adaptive_sd", "min_volume_ml", "liver_search.suv")
FRACTIONS = ("threshold.relative_fraction", "liver_search.max_cv")
SWITCHABLE = ("suppress.", "outline.adaptive")  # sections that may be null (the rule or step switched off)


def check_parameters(params: Mapping[str, Any], reference: Mapping[str, Any]) -> None:
    """Refuse parameters whose types differ from `reference` (the tracer's table) or whose values make no sense."""
    _check_section(params, reference, "")
    for key in ABOVE_ZERO:
        _check_range(params, key, lambda v: v > 0, "above 0")
    for key in AT_LEAST_ZERO:
        _check_range(params, key, lambda v: v >= 0, "0 or more")
    for key in FRACTIONS:
        _check_range(params, key, lambda v: 0 < v <= 1, "a fraction in (0, 1]")


def _fail(key: str, wanted: str, value: Any) -> PetsegError:
    return PetsegError(f"SUV-method parameter {key} must be {wanted}, got {value!r} (fix --param {key}=...)")


def _check_section(values: Any, reference: Mapping[str, Any], prefix: str) -> None:
    if not isinstance(values, Mapping):
        raise _fail(prefix.rstrip(".") or "the parameters", "a mapping", values)
    for key, value in values.items():
        if key not in reference:
            raise PetsegError(f"unknown parameter of the SUV method {prefix + key!r}")
        _check_value(value, reference[key], prefix + key)


def _check_value(value: Any, expected: Any, key: str) -> None:
    """`value` has the type of `expected` (its default)."""
    if isinstance(expected, Mapping):
        if value is not None or not key.startswith(SWITCHABLE):  # a rule or a step may be switched off
            _check_section(value, expected, key + ".")
    elif isinstance(expected, bool):
        if not isinstance(value, bool):
            raise _fail(key, "true or false", value)
    elif isinstance(expected, (int, float)):
        if not _is_number(value):
            raise _fail(key, "a number", value)
    elif isinstance(expected, list) and all(isinstance(v, str) for v in expected):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _fail(key, "a list of words", value)
    elif isinstance(expected, list):
        if not isinstance(value, list) or len(value) != len(expected) or not all(map(_is_number, value)):
            raise _fail(key, f"a list of {len(expected)} numbers", value)
        if len(value) == 2 and value[0] > value[1]:
            raise _fail(key, "a range [low, high] with low <= high", value)
    elif isinstance(expected, str) and not isinstance(value, str):
        raise _fail(key, "a word", value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _check_range(params: Mapping[str, Any], key: str, test: Callable[[float], bool], wanted: str) -> None:
    node: Any = params
    for part in key.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    values = node if isinstance(node, list) else [node]
    if node is not None and not all(test(v) for v in values):
        raise _fail(key, wanted, node)
