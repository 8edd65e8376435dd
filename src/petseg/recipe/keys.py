"""docs/recipe_keys.md, generated from the typed recipe (`python -m petseg.recipe.keys > docs/recipe_keys.md`): the
documentation of every key cannot drift from the classes that read them (a test compares the two)."""

from __future__ import annotations

import dataclasses
import sys
import types
from typing import Union, get_args, get_origin

from petseg.recipe.sections import Recipe
from petseg.recipe.typed import describe, hints

HEADER = """# Recipe keys

Every key a recipe may hold (`petseg/recipe/recipes/*.yaml`, your own YAML, `--param key=value`, a profile), with
its type, default and meaning. Generated from `petseg/recipe/sections.py` by `python -m petseg.recipe.keys`; a
key not listed here is an error naming it. Sizes are (x, y, z); spacings in mm.
"""


def _sections(kind: object) -> list[type]:
    """The dataclasses a field's type holds (a section, or a choice of sections)."""
    if get_origin(kind) in (Union, types.UnionType):
        return [a for a in get_args(kind) if dataclasses.is_dataclass(a)]
    return [kind] if dataclasses.is_dataclass(kind) else []  # type: ignore[list-item]


def _default(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
        return "null" if value is None else f"`{list(value) if isinstance(value, tuple) else value}`"
    if field.default_factory is not dataclasses.MISSING:
        return "its keys' defaults"
    return "required"


def document(cls: type, prefix: str = "") -> list[str]:
    """The table rows of `cls`'s keys, sections after their keys."""
    rows, nested = [], []
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        kind = hints(cls)[field.name]
        key = f"{prefix}{field.name}"
        parts = _sections(kind)
        wanted = "section" if parts and len(parts) == 1 else describe(kind)
        if len(parts) > 1:
            wanted = "section chosen by `name`"
        rows.append(f"| `{key}` | {wanted} | {_default(field)} | {field.metadata.get('doc', '')} |")
        for part in parts:
            title = f"`{key}`" + (f" with `name: {get_args(hints(part)['name'])[0]}`" if len(parts) > 1 else "")
            nested.append((title, part, f"{key}."))
    lines = rows
    for title, part, sub in nested:
        lines += ["", f"### {title}", "", (part.__doc__ or "").strip().split("\n")[0], "",
                  "| key | type | default | meaning |", "|---|---|---|---|", *document(part, sub)]
    return lines


def keys_markdown() -> str:
    """The whole of docs/recipe_keys.md."""
    return "\n".join([HEADER, "| key | type | default | meaning |", "|---|---|---|---|", *document(Recipe)]) + "\n"


if __name__ == "__main__":
    sys.stdout.write(keys_markdown())
