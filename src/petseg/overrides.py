"""Dotted overrides of nested settings (`--param key=value`), one rule for recipes and SUV-method parameters.

A key names a path through nested mappings ("training.epochs"); its value is YAML ("50", "[96, 96, 96]",
"null"). The key must be known to the `reference` tree (the SUV method's parameter table), or, without a
reference, to whatever types the result (the typed recipe): a misspelt key is an error that names it, never a
silently ignored new entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from petseg.errors import PetsegError


def parse_value(key: str, text: str) -> Any:
    """A `--param` value as YAML; a clear error when it is not valid YAML."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise PetsegError(f"--param {key}={text!r}: the value is not valid YAML (quote strings, e.g. "
                          f"{key}='\"text\"'; lists as [1, 2, 3])") from None


def known_key(reference: Mapping[str, Any], key: str) -> bool:
    """True when the dotted `key` is a path through `reference`."""
    node: Any = reference
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def apply_overrides(tree: dict[str, Any], overrides: Mapping[str, str] | None, reference: Mapping[str, Any] | None,
                    what: str) -> dict[str, Any]:
    """`tree` with each dotted override set (in place, and returned); `what` names the settings in errors."""
    for key, text in (overrides or {}).items():
        if reference is not None and not known_key(reference, key):
            raise PetsegError(f"unknown {what} {key!r}")
        *parents, leaf = key.split(".")
        node = tree
        for part in parents:
            if node.get(part) is None:
                node[part] = {}
            if not isinstance(node[part], dict):
                raise PetsegError(f"{what} {key!r}: {part!r} is not a section")
            node = node[part]
        node[leaf] = parse_value(key, text)
    return tree
