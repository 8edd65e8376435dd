from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from petseg.cohort.run import predict_cohort
from petseg.data.datalist import load_datalist, select
from petseg.data.phantom import make_phantom_study
from petseg.data.study import load_study
from petseg.errors import PetsegError
from petseg.infer.gate import classify
from petseg.infer.predictor import Predictor
from petseg.models.settings import InferenceOptions
from petseg.models.windows import network_predictor, sliding_probability, uptake_gate
from petseg.preprocess import preprocess_study
from petseg.recipe import load_recipe
from petseg.train.classifier import ClassifierTrainer, full_sensitivity_threshold
from petseg.train.trainer import TrainConfig, Trainer

pytestmark = pytest.mark.slow  # trains networks

OPTIONS = InferenceOptions(progress=False)


@pytest.fixture(scope="module")
def classifier(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("gate") / "mip"
    recipe = load_recipe("tiny_mip_classifier", {"training.epochs": "6"})
    ClassifierTrainer(recipe, trained.cohort, 0, out).run()
    return out


def test_classifier_threshold_keeps_every_positive(classifier):
    description = json.loads((classifier / "model.json").read_text())
    validation = description["validation"]
    assert description["task"] == "classification" and validation["positives_lost"] == 0
    positives = [c["probability"] for c in validation["cases"] if c["positive"]]
    assert positives and description["threshold"] == min(positives)
    assert full_sensitivity_threshold([0.2, 0.9, 0.4], [False, True, True]) == 0.4
    assert full_sensitivity_threshold([0.2], [False]) == 0.05


def test_gate_skips_a_study_it_calls_negative(trained, classifier):
    negative = make_phantom_study(seed=21, patient=50, n_lesions=0).study
    predictor = Predictor([trained.model, classifier], OPTIONS)
    verdict = classify(predictor.classifier, negative, predictor.device)
    # Set the gate just above this study's probability (the mechanism under test, not the classifier's skill).
    description = json.loads((classifier / "model.json").read_text())
    description["threshold"] = verdict.probability + 1e-6
    (classifier / "model.json").write_text(json.dumps(description))
    gated = Predictor([trained.model, classifier], OPTIONS).predict(negative)
    assert gated.gate.as_dict() == {"probability": verdict.probability, "threshold": verdict.probability + 1e-6,
                                    "positive": False}
    assert gated.windows.run == 0 and gated.mask.array.sum() == 0 and gated.mask.shape == negative.suv.shape
    description["threshold"] = 0.0  # a gate that lets everything through segments as usual
    (classifier / "model.json").write_text(json.dumps(description))
    assert Predictor([trained.model, classifier], OPTIONS).predict(negative).windows.run > 0


def test_cascade_second_stage_sees_the_first_stage_mask(trained, tmp_path):
    entries = load_datalist(trained.cohort)["training"]
    masks = tmp_path / "stage1"
    predict_cohort(Predictor([trained.model], OPTIONS), entries, masks)  # stage-1 masks of every study
    stage2 = tmp_path / "stage2"
    Trainer(TrainConfig(recipe="tiny_unet", datalist=trained.cohort, fold=0, out=stage2, cache_dir=tmp_path / "c",
                        stage1_dir=masks, overrides={
                            "inputs": "[ct, pet, stage1]", "training.epochs": "1", "training.steps_per_epoch": "20",
                            "augment.mask_dropout": "{prob: 0.5, holes: 2, size: [8, 8, 8]}"})).run()
    cascade = Predictor([trained.model, stage2], OPTIONS)
    assert [m.stage for m in cascade.models] == [1, 2]
    study = load_study(select(load_datalist(trained.cohort), "fold:0")[0].pet,
                       select(load_datalist(trained.cohort), "fold:0")[0].ct)
    first = Predictor([trained.model], OPTIONS).predict(study).mask
    model = cascade.stages.second[0]
    prepared = preprocess_study(study, model.recipe, model.fingerprint, {"stage1": first})
    assert np.array_equal(prepared.image[2], first.array.astype(np.float32))  # channel 3 is the stage-1 mask
    settings = OPTIONS.resolve(model.recipe, torch.device("cpu"), 1.5)
    expected, _ = sliding_probability(network_predictor(model.network, settings), prepared.image, settings,
                                      uptake_gate(study.suv.array, 1.5), torch.device("cpu"))
    np.testing.assert_allclose(cascade.probabilities(study, 1.5)[0], expected, atol=1e-6)
    with pytest.raises(PetsegError, match="stage-1"):
        Predictor([stage2], OPTIONS)
    with pytest.raises(PetsegError, match="--stage1"):
        Trainer(TrainConfig(recipe="tiny_unet", datalist=trained.cohort, fold=0, out=tmp_path / "x",
                            overrides={"inputs": "[ct, pet, stage1]"}))
