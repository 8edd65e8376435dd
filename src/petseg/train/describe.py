"""model.json: what a trained model folder holds and expects, written at the end of training."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from petseg import __version__
from petseg.data.datalist import DatalistEntry
from petseg.models.checkpoints import BEST, FINAL, LAST
from petseg.recipe import Recipe
from petseg.train.state import TrainState

if TYPE_CHECKING:
    from petseg.train.trainer import TrainConfig


def expected_inputs(inputs: tuple[str, ...]) -> str:
    """What the model expects of a study, in words (model.json and the README say the same)."""
    if "ct" not in inputs:
        return "PET in SUV only; a CT is not used"
    present = ("a ct_present channel marks where the CT covers, so PET-only studies and partial CTs are "
               "in-distribution" if "ct_present" in inputs else "without a ct_present channel the network cannot "
               "tell missing CT from tissue below the CT window")
    return (f"PET in SUV and CT in HU (channels {', '.join(inputs)}); where the CT is missing (a PET-only study, "
            f"or outside a partial CT's coverage) the CT channel is 0; {present}")


def describe_model(recipe: Recipe, config: TrainConfig, entries: dict[str, list[DatalistEntry]],
                   state: TrainState, weights: str, held_out: dict[str, Any] | None, parameters: int,
                   threshold: float) -> dict[str, Any]:
    """The content of model.json."""
    training = recipe.training
    rule = training.checkpoint
    checkpoint = {"rule": rule, "weights": weights, "epoch": state.best.epoch if weights == BEST else state.epoch}
    if rule == "best":
        checkpoint.update(select_by=state.best.metric, value=state.best.value,
                          chosen_on=f"selection split: {len(entries['selection'])} studies of the training folds")
    summary = None if held_out is None else {key: held_out[key] for key in ("dice", "fpv_ml", "top_k_auroc")}
    return {
        "petseg_version": __version__, "recipe": recipe.name, "profile": recipe.profile, "tracer": config.tracer,
        "inputs": list(recipe.inputs), "expects": expected_inputs(recipe.inputs), "fold": config.fold,
        "datalist": str(Path(config.datalist).resolve()),
        "training_cases": [e.case for e in entries["training"]],
        "selection_cases": [e.case for e in entries["selection"]],
        "held_out_cases": [e.case for e in entries["held_out"]],
        "patch_size_xyz": list(training.patch_size or ()), "parameters": parameters, "epochs": state.epoch,
        "steps": state.step, "skipped_steps": state.skipped, "checkpoint": checkpoint, "held_out": summary,
        "threshold": threshold,
        "files": {"weights": weights, "final": FINAL, "resume": LAST, "recipe": "recipe.yaml",
                  "fingerprint": "fingerprint.json", "log": "log.csv", "validation": "validation.json"}}
