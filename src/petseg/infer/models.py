"""Model folders (what `petseg train` writes) loaded for inference, and the device they run on."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from petseg.errors import PetsegError
from petseg.models.checkpoints import FINAL, load_checkpoint
from petseg.recipe import Recipe, read_recipe_file

BUILTIN_PREFIX = "builtin:"
BUILTIN_MODELS = {"wb-fdg": "wb_fdg"}  # name -> folder in petseg/builtin (see its MODEL_CARD.md)


@dataclass
class ModelFolder:
    """One trained model: its recipe, fingerprint, description, weights file and network on `device`."""

    path: Path
    recipe: Recipe
    fingerprint: dict[str, Any] | None
    description: dict[str, Any]
    weights: Path  # the file the weights come from (keys the cached engines: OpenVINO's conversion, the trace)
    device: torch.device
    _network: nn.Module | None = field(default=None, repr=False)

    @property
    def network(self) -> nn.Module:
        """The network (MONAI's), weights loaded, on the device, in eval mode: built on first use, so that a
        process a cached engine serves never builds it (nor imports MONAI)."""
        if self._network is None:
            self._network = build_loaded_network(self.recipe, self.weights, self.device)
        return self._network

    @property
    def name(self) -> str:
        """The folder's name (how calibrations refer to their members)."""
        return self.path.resolve().name

    @property
    def parameters(self) -> int:
        """The network's parameters (the CPU engine's choice depends on its size): model.json's count when it
        has one, else counted on the network."""
        known = self.description.get("parameters")
        return int(known) if known is not None else sum(p.numel() for p in self.network.parameters())

    @property
    def task(self) -> str:
        """'segmentation' or 'classification' (the MIP gate)."""
        return self.recipe.task

    @property
    def threshold(self) -> float:
        """The single model's threshold: model.json's (the recipe's `inference.threshold`, or a classifier's
        full-sensitivity threshold)."""
        return float(self.description.get("threshold", self.recipe.inference.threshold))

    @property
    def tracer(self) -> str | None:
        """The tracer the model was trained on, when its training said (model.json)."""
        return self.description.get("tracer")

    @property
    def stage(self) -> int:
        """1, or 2 for a cascade's second stage (it takes the first stage's mask as an input)."""
        return 2 if "stage1" in self.recipe.inputs else 1


def _read(path: Path, what: str) -> str:
    if not path.is_file():
        raise PetsegError(f"{path.parent} is not a petseg model folder ({what} {path.name} is missing): "
                          "give the folder `petseg train -o` wrote")
    return path.read_text(encoding="utf-8")


def resolve_model(path: str | Path) -> Path:
    """A model folder's path: as given, or `builtin:NAME` for a model shipped with petseg."""
    text = str(path)
    if not text.startswith(BUILTIN_PREFIX):
        return Path(path)
    name = text[len(BUILTIN_PREFIX):]
    if name not in BUILTIN_MODELS:
        raise PetsegError(f"unknown built-in model {name!r}: choose {', '.join(BUILTIN_MODELS)}")
    folder = Path(str(resources.files("petseg.builtin").joinpath(BUILTIN_MODELS[name])))
    if not (folder / FINAL).is_file():
        raise PetsegError(f"the built-in model {name} is not in this installation (build it with `make model`)")
    return folder


def is_builtin(path: Path) -> bool:
    """True for a model folder shipped inside petseg (read-only: never calibrated in place)."""
    return Path(str(resources.files("petseg.builtin"))).resolve() in Path(path).resolve().parents


def load_model_folder(path: str | Path, device: torch.device) -> ModelFolder:
    """Read a model folder (or `builtin:NAME`): its recipe, description and weights file, for `device` (the network
    is built when first used: `ModelFolder.network`)."""
    path = resolve_model(path)
    if not path.is_dir():
        raise PetsegError(f"model folder {path} does not exist")
    _read(path / "recipe.yaml", "recipe")
    recipe = read_recipe_file(path / "recipe.yaml")
    description = json.loads(_read(path / "model.json", "description"))
    fingerprint_path = path / "fingerprint.json"
    fingerprint = json.loads(fingerprint_path.read_text(encoding="utf-8")) if fingerprint_path.is_file() else None
    weights = path / description.get("files", {}).get("weights", FINAL)
    if not weights.is_file():
        raise PetsegError(f"{path} has no weights ({weights.name}): did its training finish?")
    return ModelFolder(path, recipe, fingerprint, description, weights, device)


def build_loaded_network(recipe: Recipe, weights: Path, device: torch.device) -> nn.Module:
    """The recipe's network with the checkpoint `weights` loaded (weights only), on `device`, in eval mode."""
    from petseg.models.classifier import MIP_CHANNELS, build_classifier
    from petseg.models.networks import build_network

    state = load_checkpoint(weights)["model"]
    if recipe.task == "classification":
        network = build_classifier(recipe.network, MIP_CHANNELS)  # type: ignore[arg-type]
    else:  # the trained weights replace any initial output bias
        network = build_network(replace(recipe.network, output_prior=None), len(recipe.inputs))  # type: ignore
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        raise PetsegError(f"{weights} does not fit the network of {weights.parent / 'recipe.yaml'}: {error}"
                          ) from None
    return network.to(device).eval()
