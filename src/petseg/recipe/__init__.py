"""Recipes: the data that says how a model is trained and run (network, loss, optimiser, crops, augmentations,
inference settings), typed (`sections.Recipe`), below both `train` and `infer`.

Recipes live in `petseg/recipe/recipes/*.yaml`, one per seed paper (each value cites its section) plus tiny CPU
recipes; a user may pass the path of their own YAML. Every key must be one of `sections`' (docs/recipe_keys.md):
a misspelt key or a value of the wrong type is one line naming the key and the file. `--param` overrides and a
recipe's `profiles` (e.g. `--profile cpu`) are applied to the YAML before it is typed, so they are checked alike.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from petseg.errors import PetsegError
from petseg.overrides import apply_overrides
from petseg.recipe.sections import INPUTS, Recipe, zyx
from petseg.recipe.typed import as_plain, build

__all__ = ["INPUTS", "Recipe", "as_yaml", "load_recipe", "read_recipe_file", "recipe_names", "zyx"]

KEYS_DOC = "docs/recipe_keys.md"
# Keys earlier versions wrote into model folders that nothing reads any more: skipped when an old folder is read.
RETIRED = {("loss", "sigmoid")}


def recipe_names() -> list[str]:
    """Names of the recipes shipped with petseg."""
    folder = resources.files("petseg.recipe").joinpath("recipes")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_recipe(name_or_path: str | Path, overrides: Mapping[str, str] | None = None,
                profile: str | None = None) -> Recipe:
    """A recipe by shipped name or YAML path, with a profile of its own applied (`profile`) and then dotted
    `overrides` ('network.init_filters' -> '8', YAML values)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise PetsegError(f"recipe file not found: {path}")
        text, source = path.read_text(encoding="utf-8"), str(path)
    elif str(name_or_path) in recipe_names():
        text = resources.files("petseg.recipe").joinpath("recipes", f"{name_or_path}.yaml").read_text(encoding="utf-8")
        source = f"recipe {name_or_path}"
    else:
        raise PetsegError(f"unknown recipe {name_or_path!r}: choose one of {', '.join(recipe_names())} or a YAML file")
    data = _parse(text, source)
    if profile is not None:
        data = with_profile(data, profile, source)
    data = apply_overrides(data, overrides, None, "recipe key")
    return typed(data, source, set(overrides or {}))


def read_recipe_file(path: Path) -> Recipe:
    """The recipe a model folder holds (written by `petseg train`; keys retired since are skipped)."""
    data = _parse(path.read_text(encoding="utf-8"), str(path))
    for section, key in RETIRED:
        if isinstance(data.get(section), dict):
            data[section].pop(key, None)
    return typed(data, str(path))


def with_profile(data: dict[str, Any], profile: str, source: str) -> dict[str, Any]:
    """`data` with its profile `profile` applied (nested sections merged, dotted keys set); the applied profile
    is recorded under `profile`."""
    profiles = data.get("profiles") or {}
    if profile not in profiles:
        raise PetsegError(f"{source} has no profile {profile!r}" + (
            f"; its profiles: {', '.join(profiles)}" if profiles else " (it defines none)"))
    merged = copy.deepcopy(data)
    _merge(merged, profiles[profile], f"profiles.{profile}", source)
    merged["profile"] = profile
    return merged


def typed(data: dict[str, Any], source: str, overridden: set[str] | None = None) -> Recipe:
    """The typed recipe of a YAML mapping; errors name the key and where it came from (an override's own key
    when an override brought it)."""
    try:
        return build(Recipe, data)
    except PetsegError as error:
        message = str(error)
        key = message.split("'")[1] if message.startswith("unknown key '") else None
        if key is None:
            raise PetsegError(f"{source}: {message}") from None
        given = [k for k in sorted(overridden or ()) if k == key or k.startswith(f"{key}.")]
        if given:
            raise PetsegError(f"unknown recipe key {given[0]!r} (see {KEYS_DOC})") from None
        raise PetsegError(f"{source}: {message} (see {KEYS_DOC})") from None


def as_yaml(recipe: Recipe) -> str:
    """The recipe as YAML, every default written out (what a model folder's recipe.yaml holds)."""
    return yaml.safe_dump(as_plain(recipe), sort_keys=False)


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PetsegError(f"{source} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PetsegError(f"{source}: a recipe must be a YAML mapping")
    return data


def _merge(tree: dict[str, Any], changes: Any, where: str, source: str) -> None:
    """Merge `changes` (nested mapping; a key may be dotted) into `tree` in place."""
    if not isinstance(changes, Mapping):
        raise PetsegError(f"{source}: {where} must be a mapping of recipe keys")
    for key, value in changes.items():
        *parents, leaf = str(key).split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        if isinstance(value, Mapping) and isinstance(node.get(leaf), dict):
            _merge(node[leaf], value, f"{where}.{key}", source)
        else:
            node[leaf] = copy.deepcopy(value)
