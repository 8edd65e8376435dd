"""The MIP classifier gate (seed 002, §7): a study it calls lesion-free gets an empty mask without segmentation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from petseg.data.study import Study
from petseg.errors import PetsegError
from petseg.infer.models import ModelFolder
from petseg.models.classifier import coarse_suv, mip_input


@dataclass(frozen=True)
class GateVerdict:
    """The classifier's probability that the study holds a lesion, and its verdict at its threshold."""

    probability: float
    threshold: float

    @property
    def positive(self) -> bool:
        """True when the study goes on to segmentation."""
        return self.probability >= self.threshold

    def as_dict(self) -> dict[str, Any]:
        """For JSON: probability, threshold, positive."""
        return {"probability": self.probability, "threshold": self.threshold, "positive": self.positive}


def split_classifier(models: list[ModelFolder]) -> tuple[ModelFolder | None, list[ModelFolder]]:
    """(the MIP classifier or None, the segmentation models); at most one classifier, at least one segmenter."""
    classifiers = [m for m in models if m.task == "classification"]
    if len(classifiers) > 1:
        raise PetsegError("give at most one MIP classifier model folder")
    segmenters = [m for m in models if m.task == "segmentation"]
    if not segmenters:
        raise PetsegError("the model folders hold no segmentation model (only a classifier)")
    return (classifiers[0] if classifiers else None), segmenters


@torch.inference_mode()
def classify(classifier: ModelFolder, study: Study, device: torch.device) -> GateVerdict:
    """The classifier's verdict on one study (coronal and sagittal MIPs of its coarse SUV)."""
    size = classifier.recipe.network.input_size  # type: ignore[union-attr]
    inputs = mip_input(coarse_suv(study.suv), size, classifier.recipe.suv_max)[None].to(device)
    value = float(torch.sigmoid(classifier.network(inputs).float()).flatten()[0])
    return GateVerdict(value, classifier.threshold)
