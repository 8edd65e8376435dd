"""Tiny trained models for the inference tests (trained once per session, about a minute here)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class Trained:
    cohort: Path  # datalist.json of 16 small phantoms, 2 folds
    model: Path  # tiny_unet, fold 0, ~240 steps: finds the larger lesions
    other: Path  # tiny_unet, fold 1, a few steps: a different ensemble member
    cache: Path


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Trained:
    from petseg.data.phantom import write_phantom_cohort
    from petseg.train.trainer import TrainConfig, Trainer

    root = tmp_path_factory.mktemp("trained")
    cohort = write_phantom_cohort(root / "cohort", n=16, seed=21, negatives=0.25, folds=2, min_lesion_mm=20)
    cache = root / "cache"
    for fold, name, epochs, steps in ((0, "model", 3, 80), (1, "other", 1, 20)):
        Trainer(TrainConfig(recipe="tiny_unet", datalist=cohort, fold=fold, out=root / name, cache_dir=cache,
                            overrides={"training.epochs": str(epochs), "training.steps_per_epoch": str(steps),
                                       "training.validate_every": str(epochs), "training.patch_size": "[32, 32, 32]",
                                       "inference.roi_size": "[32, 32, 32]"})).run()
    return Trained(cohort, root / "model", root / "other", cache)


def held_out(trained: Trained) -> list[dict]:
    """The datalist entries of fold 0 (held out from the fold-0 model)."""
    entries = json.loads(trained.cohort.read_text())["training"]
    return [e for e in entries if e["fold"] == 0]
