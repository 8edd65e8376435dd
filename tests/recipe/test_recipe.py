from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import yaml

from petseg.device import precision
from petseg.errors import PetsegError
from petseg.models.settings import InferenceOptions
from petseg.recipe import as_yaml, load_recipe, read_recipe_file, recipe_names
from petseg.recipe.keys import keys_markdown
from petseg.recipe.sections import Recipe, Training
from petseg.recipe.typed import as_plain, build
from petseg.train.parts import training_precision

ROOT = Path(__file__).resolve().parents[2]


def test_every_shipped_recipe_is_typed_and_round_trips():
    for name in recipe_names():
        recipe = load_recipe(name)
        assert isinstance(recipe, Recipe) and recipe.name == name
        again = yaml.safe_load(as_yaml(recipe))
        assert again == as_plain(recipe)  # what a model folder holds is the whole recipe, defaults written out


def test_the_documentation_of_every_key_is_generated_from_the_classes():
    text = (ROOT / "docs" / "recipe_keys.md").read_text(encoding="utf-8")
    assert text == keys_markdown(), "docs/recipe_keys.md is stale: python -m petseg.recipe.keys > docs/recipe_keys.md"
    for field in dataclasses.fields(Training):  # each key documented once, with its default
        assert f"| `training.{field.name}` |" in text and field.metadata["doc"]


def test_misspelt_keys_and_wrong_types_are_one_line_naming_the_key(tmp_path):
    with pytest.raises(PetsegError, match="unknown recipe"):
        load_recipe("nnunet_magic")
    with pytest.raises(PetsegError, match=r"unknown recipe key 'nothing\.here'"):
        load_recipe("tiny_unet", {"nothing.here": "1"})
    with pytest.raises(PetsegError, match=r"unknown recipe key 'training\.epoch'"):
        load_recipe("tiny_unet", {"training.epoch": "3"})
    misspelt = tmp_path / "misspelt.yaml"
    misspelt.write_text(as_yaml(load_recipe("tiny_unet")).replace("patch_size:", "patch_sise:"))
    with pytest.raises(PetsegError, match=r"misspelt.yaml: unknown key 'training.patch_sise'"):
        load_recipe(misspelt)
    with pytest.raises(PetsegError, match=r"training\.patch_size must be \[integer, integer, integer\]"):
        load_recipe("tiny_unet", {"training.patch_size": "[32, 32]"})
    with pytest.raises(PetsegError, match=r"training\.epochs must be integer, got 'many'"):
        load_recipe("tiny_unet", {"training.epochs": "many"})
    with pytest.raises(PetsegError, match=r"network\.filters' \(see"):  # a key of another network
        load_recipe("tiny_unet", {"network.filters": "[4, 8]"})
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ninputs: [mri]\nnetwork: {name: unet, channels: [4], strides: [2]}\n"
                   "loss: {name: dice_ce}\noptimizer: {name: adam, lr: 1e-3}\nscheduler: {name: cosine}\n"
                   "training: {epochs: 1, patch_size: [8, 8, 8]}\n")
    with pytest.raises(PetsegError, match=r"inputs\[0\] must be ct or ct_present or pet or stage1"):
        load_recipe(bad)
    assert load_recipe(bad, {"inputs": "[pet]"}).optimizer.lr == pytest.approx(1e-3)  # YAML's 1e-3 is text: read


def test_a_recipe_without_amp_trains_and_infers_at_the_same_precision():
    data = as_plain(load_recipe("auto3dseg_segresnet"))
    del data["training"]["amp"]  # a user recipe that does not say
    recipe = build(Recipe, data)
    assert recipe.training.amp is Training.amp  # the one default, declared once (True: every seed paper uses AMP)
    for device in (torch.device("cuda"), torch.device("cpu")):
        for bf16 in (False, True):
            inference = InferenceOptions(bf16=bf16).resolve(recipe, device, gate_suv=0.0).dtype
            assert training_precision(recipe, device, bf16=bf16) == inference
    assert InferenceOptions().resolve(recipe, torch.device("cuda"), gate_suv=0.0).dtype is torch.float16
    assert precision(torch.device("cuda"), False, None) is None


def test_profiles_change_only_what_they_name_and_are_checked_like_any_key(tmp_path):
    base = as_plain(load_recipe("tiny_unet"))
    base["profiles"] = {"cpu": {"training": {"epochs": 2, "patch_size": [32, 32, 32]}, "network.channels": [4, 8]}}
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(base))
    plain, cpu = load_recipe(path), load_recipe(path, profile="cpu")
    assert cpu.profile == "cpu" and plain.profile is None
    assert cpu.training.epochs == 2 and cpu.training.patch_size == (32, 32, 32) and cpu.network.channels == (4, 8)
    assert dataclasses.replace(cpu, training=plain.training, network=plain.network, profile=None) == plain
    assert load_recipe(path, {"training.epochs": "5"}, profile="cpu").training.epochs == 5  # --param wins
    with pytest.raises(PetsegError, match="no profile 'gpu'; its profiles: cpu"):
        load_recipe(path, profile="gpu")
    base["profiles"]["cpu"]["training"]["epoch"] = 3
    path.write_text(yaml.safe_dump(base))
    with pytest.raises(PetsegError, match=r"unknown key 'training\.epoch'"):
        load_recipe(path, profile="cpu")


def test_model_folders_of_earlier_versions_still_read(tmp_path):
    old = as_plain(load_recipe("tiny_unet"))
    old["loss"]["sigmoid"] = True  # written by petseg before the typed recipe; read by nothing
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(old))
    assert read_recipe_file(path) == load_recipe("tiny_unet")
    with pytest.raises(PetsegError, match="sigmoid"):  # a recipe the user writes today is checked strictly
        load_recipe(path)
