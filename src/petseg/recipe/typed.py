"""Frozen dataclasses built from YAML mappings, field by field, each value checked against its annotation.

Written here rather than taken from pydantic: the recipe needs only this (booleans, numbers, names from a
closed set, tuples, nested sections and sections chosen by their `name`), and one line naming the dotted key
on any error, which is the house's rule for user errors. Each field may carry `metadata={"doc": ...}`: that
text is the key's documentation (see `petseg.recipe.keys`).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from petseg.errors import PetsegError

T = typing.TypeVar("T")


def doc(text: str, default: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with its documentation (and a default, when it has one)."""
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata={"doc": text})
    if isinstance(default, list | dict | set):
        raise TypeError("use a tuple or None as a default, never a mutable value")
    return dataclasses.field(default=default, metadata={"doc": text})


def section(cls: type, text: str, optional: bool = False) -> Any:
    """A nested section field: present by default with its own defaults (or None when `optional`)."""
    if optional:
        return dataclasses.field(default=None, metadata={"doc": text})
    return dataclasses.field(default_factory=cls, metadata={"doc": text})


@cache
def hints(cls: type) -> dict[str, Any]:
    """The resolved type annotations of a dataclass."""
    return get_type_hints(cls)


def build(cls: type[T], data: Any, where: str = "") -> T:
    """An instance of dataclass `cls` from the mapping `data`; `where` is the dotted path (for errors).

    Unknown keys and values of the wrong type are `PetsegError`s naming the key; absent keys take their
    defaults; a key without a default must be given."""
    if not isinstance(data, Mapping):
        raise PetsegError(f"{where or 'the recipe'} must be a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in data:
        if key not in fields:
            raise PetsegError(f"unknown key {_dotted(where, key)!r}")
    values = {}
    for name, field in fields.items():
        key = _dotted(where, name)
        if name in data:
            values[name] = convert(hints(cls)[name], data[name], key)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise PetsegError(f"{key} is required")
    return cls(**values)


def convert(kind: Any, value: Any, key: str) -> Any:
    """`value` as the annotated type `kind` (see `build`)."""
    origin, args = get_origin(kind), get_args(kind)
    if kind is Any:
        return value
    if origin in (Union, types.UnionType):
        return _union(args, value, key)
    if origin is Literal:
        if value not in args:
            raise _wrong(key, describe(kind), value)
        return value
    if origin is tuple:
        return _tuple(args, value, key)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _wrong(key, "a mapping", value)
        return {str(k): convert(args[1], v, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(kind):
        return build(kind, value, key)
    return _scalar(kind, value, key)


def describe(kind: Any) -> str:
    """A type annotation in words (for documentation and errors)."""
    origin, args = get_origin(kind), get_args(kind)
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin is Literal:
        return " or ".join(str(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list of {describe(args[0])}"
        return f"[{', '.join(describe(a) for a in args)}]"
    if origin is dict:
        return "mapping"
    if kind is type(None):
        return "null"
    if dataclasses.is_dataclass(kind):
        return "section"
    return {bool: "true/false", int: "integer", float: "number", str: "text"}.get(kind, str(kind))


def _dotted(where: str, key: str) -> str:
    return f"{where}.{key}" if where else str(key)


def _wrong(key: str, wanted: str, value: Any) -> PetsegError:
    return PetsegError(f"{key} must be {wanted}, got {value!r}")


def _union(args: tuple, value: Any, key: str) -> Any:
    if value is None:
        if type(None) in args:
            return None
        raise _wrong(key, describe(Union[args]), value)  # noqa: UP007 (args is a runtime tuple)
    named = [a for a in args if dataclasses.is_dataclass(a)]
    if len(named) > 1:  # sections chosen by their `name`
        choices = {get_args(hints(a)["name"])[0]: a for a in named}
        name = value.get("name") if isinstance(value, Mapping) else None
        if name not in choices:
            raise PetsegError(f"{key}.name must be one of {', '.join(choices)}, got {name!r}")
        return build(choices[name], value, key)
    for arg in args:
        if arg is type(None):
            continue
        try:
            return convert(arg, value, key)
        except PetsegError:
            continue
    raise _wrong(key, describe(Union[args]), value)  # noqa: UP007


def _tuple(args: tuple, value: Any, key: str) -> tuple:
    if not isinstance(value, list | tuple):
        raise _wrong(key, describe(tuple[args]), value)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(convert(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
    if len(value) != len(args):
        raise _wrong(key, describe(tuple[args]), value)
    return tuple(convert(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))


def _scalar(kind: type, value: Any, key: str) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML reads 1e-4 (no dot) as text
            try:
                return float(value)
            except ValueError:
                pass
    elif kind is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"unsupported annotation {kind!r} at {key}")
    raise _wrong(key, describe(kind), value)


def as_plain(value: Any) -> Any:
    """A dataclass (nested) as plain YAML/JSON data: mappings, lists, numbers, text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [as_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: as_plain(v) for k, v in value.items()}
    return value
