"""Training patches: hard negatives centred on physiological uptake, and sampling weights per datalist source."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from petseg.data.datalist import load_datalist
from petseg.data.phantom import write_phantom_cohort
from petseg.recipe import load_recipe
from petseg.train.cache import build_cache
from petseg.train.sampling import PatchDataset


def test_hard_negatives_sit_on_uptake_and_source_weights_choose_studies(tmp_path):
    datalist = write_phantom_cohort(tmp_path / "cohort", n=3, seed=2, negatives=0.0, folds=3)
    recipe = load_recipe("tiny_unet", {"training.patch_size": "[16, 16, 16]", "preprocess.spacing_mm": "null",
                                       "training.hard_negative_fraction": "1.0", "training.positive_fraction": "0",
                                       "augment": "{}"})
    entries = [replace(e, source="a" if i == 0 else "b") for i, e in enumerate(load_datalist(datalist)["training"])]
    cases = build_cache(entries, recipe, None, tmp_path / "cache")
    hot = cases[0].hot_voxels()
    assert len(hot) and (np.asarray(cases[0].label())[tuple(np.asarray(hot).T)] == 0).all()  # never a lesion
    pet = recipe.pet_channel
    hard = PatchDataset(cases, recipe, 0, 40)
    random = PatchDataset(cases, replace(recipe, training=replace(recipe.training, hard_negative_fraction=0.0)), 0, 40)
    level = 2.5 / 10.0  # SUV 2.5 in the tiny recipe's [0, 10] -> [0, 1] PET scaling: below the hot voxels' 3.0
    def hot_share(data):
        return np.mean([float(data[i]["image"][pet].max()) > level for i in range(len(data))])
    assert hot_share(hard) == 1.0 and hot_share(hard) > hot_share(random)
    only_b = PatchDataset(cases, replace(recipe, training=replace(recipe.training, source_weights={"a": 0.0})), 0, 10)
    assert only_b.weights[0] == 0.0 and np.isclose(only_b.weights.sum(), 1.0)
