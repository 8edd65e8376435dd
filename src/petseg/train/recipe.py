"""Recipes: the data that says how a model is trained (network, loss, optimiser, crops, augmentations).

Recipes live in `petseg/train/recipes/*.yaml`, one per seed paper (each value cites its section) plus tiny
CPU recipes; a user may pass the path of their own YAML. Every key must be one of `recipe_schema.yaml`'s
(a misspelt key is an error naming the key and the file). Sizes are (x, y, z) as in the papers and MONAI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from petseg.errors import PetsegError
from petseg.overrides import apply_overrides

REQUIRED = ("name", "inputs", "network", "loss", "optimizer", "scheduler", "training")
INPUTS = ("ct", "ct_present", "pet", "stage1")  # ct_present: CT coverage; stage1: a cascade's first-stage mask


def zyx(size_xyz: Sequence[int]) -> tuple[int, int, int]:
    """A recipe size (x, y, z) in array order (z, y, x)."""
    return int(size_xyz[2]), int(size_xyz[1]), int(size_xyz[0])


def recipe_names() -> list[str]:
    """Names of the recipes shipped with petseg."""
    folder = resources.files("petseg.train").joinpath("recipes")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


@cache
def recipe_schema() -> dict[str, Any]:
    """Every permitted recipe key (nested), each with a one-line description."""
    return yaml.safe_load(resources.files("petseg.train").joinpath("recipe_schema.yaml").read_text(encoding="utf-8"))


def load_recipe(name_or_path: str | Path, overrides: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A recipe by shipped name or YAML path, with dotted `overrides` ('network.init_filters' -> '8')."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise PetsegError(f"recipe file not found: {path}")
        text, source = path.read_text(encoding="utf-8"), str(path)
    elif str(name_or_path) in recipe_names():
        text = resources.files("petseg.train").joinpath("recipes", f"{name_or_path}.yaml").read_text(encoding="utf-8")
        source = f"recipe {name_or_path}"
    else:
        raise PetsegError(f"unknown recipe {name_or_path!r}: choose one of {', '.join(recipe_names())} or a YAML file")
    try:
        recipe = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PetsegError(f"{source} is not valid YAML: {exc}") from None
    if not isinstance(recipe, dict):
        raise PetsegError(f"{source}: a recipe must be a YAML mapping")
    unknown_keys(recipe, recipe_schema(), source)
    apply_overrides(recipe, overrides, recipe_schema(), "recipe key")
    validate(recipe)
    return recipe


def unknown_keys(recipe: Mapping[str, Any], schema: Mapping[str, Any], source: str, prefix: str = "") -> None:
    """Refuse any key of `recipe` that the schema does not know, naming it and the file."""
    for key, value in recipe.items():
        dotted = f"{prefix}{key}"
        if key not in schema:
            raise PetsegError(f"{source}: unknown key {dotted!r} (see petseg/train/recipe_schema.yaml)")
        if isinstance(schema[key], Mapping) and isinstance(value, Mapping):
            unknown_keys(value, schema[key], source, f"{dotted}.")


def validate(recipe: Any) -> None:
    """Refuse a recipe that misses a section or names inputs petseg does not have."""
    if not isinstance(recipe, dict):
        raise PetsegError("a recipe must be a YAML mapping")
    missing = [key for key in REQUIRED if key not in recipe]
    if missing:
        raise PetsegError(f"recipe {recipe.get('name', '?')} lacks {', '.join(missing)}")
    inputs = recipe["inputs"]
    if not inputs or any(i not in INPUTS for i in inputs) or "pet" not in inputs:
        raise PetsegError(f"recipe inputs must be a list of {INPUTS} with the pet, got {inputs}")
    if recipe.get("task", "segmentation") == "classification":
        if recipe["loss"].get("name") != "bce":
            raise PetsegError("a classifier recipe trains with loss {name: bce} (one logit: lesion present)")
        size = recipe["network"].get("input_size")
        if not (isinstance(size, list) and len(size) == 2 and all(isinstance(n, int) and n > 0 for n in size)):
            raise PetsegError(f"network.input_size of a classifier must be two positive integers (H, W), got {size}")
        return
    patch = recipe["training"].get("patch_size")
    if not (isinstance(patch, list) and len(patch) == 3 and all(isinstance(n, int) and n > 0 for n in patch)):
        raise PetsegError(f"training.patch_size must be three positive integers (x, y, z), got {patch}")
