"""Training the MIP classifier gate (seed 002, §7): lesion-positive vs negative studies from PET MIPs.

The study-level task is small (one 2D image pair per study), so the MIPs of every study are computed
once and held in memory. Augmentations are drawn in 3D before projecting, as the paper does (left-right
flips and small rotations of the SUV volume change the projections in ways 2D transforms cannot), on a
coarse copy of the volume (`coarse_suv`, which inference uses too) so an epoch stays cheap. The
threshold is the highest one that keeps every lesion-positive validation study (full sensitivity): the
gate must never drop a study with lesions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage
from torch import nn

from petseg import __version__
from petseg.console import info, track
from petseg.data.datalist import DatalistEntry, load_datalist, split_fold
from petseg.data.study import load_study
from petseg.device import pick_device
from petseg.errors import PetsegError
from petseg.io.atomic import write_json_atomic, write_text_atomic
from petseg.metrics.ranking import auroc
from petseg.models.checkpoints import FINAL, save_checkpoint
from petseg.models.classifier import MIP_CHANNELS, build_classifier, coarse_suv, mip_input
from petseg.models.networks import count_parameters
from petseg.recipe import Recipe, as_yaml
from petseg.recipe.augment import Augment
from petseg.train.optim import build_optimizer, build_scheduler


@dataclass
class ClassifierStudy:
    """One study for the classifier: a coarse SUV volume (for 3D augmentation) and whether it has lesions."""

    case: str
    suv: np.ndarray
    positive: bool


def classifier_study(entry: DatalistEntry) -> ClassifierStudy:
    """The study's coarse SUV and its lesion status (from the label)."""
    study = load_study(entry.pet, None, entry.label)
    positive = bool(entry.positive) if study.label is None else bool(study.label.array.any())
    return ClassifierStudy(entry.case, coarse_suv(study.suv), positive)


def augmented_mips(study: ClassifierStudy, spec: Augment, size: tuple[int, int], suv_max: float,
                   rng: np.random.Generator | None) -> torch.Tensor:
    """(2, H, W) MIPs, after a random 3D left-right flip and rotation about the body axis when `rng` is given."""
    volume = study.suv
    if rng is not None:
        if rng.random() < spec.flip_prob:
            volume = volume[:, :, ::-1]
        angle = spec.rotate_deg
        if angle:
            volume = ndimage.rotate(volume, rng.uniform(-angle, angle), axes=(1, 2), reshape=False, order=1)
    return mip_input(np.ascontiguousarray(volume), size, suv_max)


def full_sensitivity_threshold(probabilities: list[float], positive: list[bool], default: float = 0.05) -> float:
    """The highest threshold at which every positive study is still called positive (seed 002, §7)."""
    scores = [p for p, label in zip(probabilities, positive, strict=True) if label]
    return float(min(scores)) if scores else default


class ClassifierTrainer:
    """Trains one fold of a `task: classification` recipe into a model folder."""

    def __init__(self, recipe: Recipe, datalist: Path, fold: int | str, out: Path, seed: int = 0,
                 device: str = "auto") -> None:
        self.recipe, self.datalist, self.fold, self.out, self.seed = recipe, Path(datalist), fold, Path(out), seed
        self.device = pick_device(device)
        self.size: tuple[int, int] = recipe.network.input_size  # type: ignore[union-attr]
        self.suv_max = recipe.suv_max

    def run(self) -> dict[str, Any]:
        """Train, choose the threshold on the validation fold, write the model folder; returns model.json."""
        training, validation = split_fold(load_datalist(self.datalist)["training"], self.fold)
        train_set = [classifier_study(e) for e in track(training, "MIPs (training)", total=len(training))]
        val_set = [classifier_study(e) for e in track(validation, "MIPs (validation)", total=len(validation))]
        if len({s.positive for s in train_set}) < 2:
            raise PetsegError("the MIP classifier needs lesion-positive and negative studies in training")
        torch.manual_seed(self.seed)
        network = build_classifier(self.recipe.network, MIP_CHANNELS).to(self.device)  # type: ignore[arg-type]
        loss_fn = nn.BCEWithLogitsLoss()
        batch, epochs = self.recipe.training.batch_size, self.recipe.training.epochs
        steps = max(math.ceil(len(train_set) / batch), 1)
        optimizer = build_optimizer(self.recipe.optimizer, network.parameters())
        scheduler = build_scheduler(self.recipe.scheduler, optimizer, epochs, steps)
        augment = self.recipe.augment
        losses = []
        for epoch in track(range(epochs), "epochs", total=epochs):
            rng = np.random.default_rng([self.seed, epoch])
            order = rng.permutation(len(train_set))
            network.train()
            for start in range(0, len(order), batch):
                chosen = [train_set[i] for i in order[start:start + batch]]
                inputs = torch.stack([augmented_mips(s, augment, self.size, self.suv_max, rng) for s in chosen])
                targets = torch.tensor([[float(s.positive)] for s in chosen])
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(network(inputs.to(self.device)), targets.to(self.device))
                loss.backward()
                optimizer.step()
                scheduler.step()
                losses.append(float(loss.detach()))
        evaluation = self._validate(network, val_set or train_set)
        description = {"petseg_version": __version__, "task": "classification", "recipe": self.recipe.name,
                       "fold": self.fold, "inputs": list(self.recipe.inputs),
                       "training_cases": [s.case for s in train_set], "held_out_cases": [s.case for s in val_set],
                       "parameters": count_parameters(network), "epochs": epochs, "final_loss": losses[-1],
                       "threshold": evaluation["threshold"], "validation": evaluation,
                       "files": {"weights": FINAL, "recipe": "recipe.yaml"}}
        self.out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.out / "recipe.yaml", as_yaml(self.recipe))
        save_checkpoint({"model": network.state_dict(), "epoch": epochs}, self.out / FINAL)
        write_json_atomic(self.out / "model.json", description)
        info(f"MIP classifier: validation AUROC {evaluation['auroc']:.3f}, threshold {evaluation['threshold']:.4f} "
             f"(all positives kept), {evaluation['negatives_skipped']} of {evaluation['negatives']} negatives skipped")
        return description

    @torch.no_grad()
    def _validate(self, network: nn.Module, studies: list[ClassifierStudy]) -> dict[str, Any]:
        network.eval()
        inputs = torch.stack([augmented_mips(s, self.recipe.augment, self.size, self.suv_max, None) for s in studies])
        probabilities = torch.sigmoid(network(inputs.to(self.device)).float()).flatten().cpu().tolist()
        positive = [s.positive for s in studies]
        threshold = full_sensitivity_threshold(probabilities, positive)
        positives = np.array([p for p, y in zip(probabilities, positive, strict=True) if y])
        negatives = np.array([p for p, y in zip(probabilities, positive, strict=True) if not y])
        value = auroc(positives, negatives) if positives.size and negatives.size else math.nan
        return {"auroc": value, "threshold": threshold, "negatives": int(negatives.size),
                "negatives_skipped": int((negatives < threshold).sum()), "positives": int(positives.size),
                "positives_lost": int((positives < threshold).sum()),
                "cases": [{"case": s.case, "positive": s.positive, "probability": p}
                          for s, p in zip(studies, probabilities, strict=True)]}
