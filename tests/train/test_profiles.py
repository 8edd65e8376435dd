"""Each paper recipe's `cpu` profile trains through the real trainer (a few steps here; the learning itself is
measured by bench/recipes.py): caching at the recipe's grid, patches, augmentations, loss, schedule, validation."""

from __future__ import annotations

import json

import pytest

from petseg.data.phantom import write_phantom_cohort
from petseg.recipe import load_recipe
from petseg.train.trainer import TrainConfig, Trainer

PAPERS = ("auto3dseg_segresnet", "galdran_swinunetr", "hadlich_dynunet", "liu_stepwise_unet", "safdari_cascade")
# Two steps, on the phantoms' own 6 x 6 x 8 mm grid (at a recipe's 2 x 2 x 3 mm a small phantom has 4000 windows).
SHORT = {"training.epochs": "1", "training.steps_per_epoch": "2", "preprocess.spacing_mm": "null"}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_phantom_cohort(tmp_path_factory.mktemp("cohort"), n=4, seed=3, negatives=0.0, folds=4,
                                min_lesion_mm=20)


@pytest.mark.slow
@pytest.mark.parametrize("name", PAPERS)
def test_the_cpu_profile_of_each_paper_recipe_trains(name, cohort, tmp_path):
    paper, cpu = load_recipe(name), load_recipe(name, profile="cpu")
    assert cpu.loss == paper.loss and cpu.optimizer == paper.optimizer and cpu.augment == paper.augment
    assert cpu.inputs == paper.inputs and cpu.preprocess == paper.preprocess
    assert cpu.scheduler.name == paper.scheduler.name
    out = tmp_path / name
    Trainer(TrainConfig(recipe=name, datalist=cohort, fold=0, out=out, profile="cpu", overrides=SHORT)).run()
    model = json.loads((out / "model.json").read_text())
    assert model["profile"] == "cpu" and model["steps"] == 2 and model["skipped_steps"] == 0
    assert model["held_out"]["dice"] == model["held_out"]["dice"]  # validated through predict's windows: not NaN
