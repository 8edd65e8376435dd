"""The recipe, typed: one frozen dataclass per section, each key's default declared once, here, and documented
beside it (docs/recipe_keys.md is generated from these classes: `python -m petseg.recipe.keys`).

Sizes are (x, y, z) as in the papers and MONAI; spacings in mm. Training, validation, calibration and inference
read these objects, never the YAML mapping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from petseg.errors import PetsegError
from petseg.recipe.augment import Augment
from petseg.recipe.networks import ClassificationNetwork, DenseNet121, MipClassifier, SegmentationNetwork
from petseg.recipe.typed import doc, section

INPUTS = ("ct", "ct_present", "pet", "stage1")  # ct_present: CT coverage; stage1: a cascade's first-stage mask
Size3 = tuple[int, int, int]


def zyx(size_xyz: tuple[int, ...] | list[int]) -> tuple[int, int, int]:
    """A recipe size (x, y, z) in array order (z, y, x)."""
    return int(size_xyz[2]), int(size_xyz[1]), int(size_xyz[0])


# -- preprocessing ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Channel:
    """How one input channel's intensities are normalised (petseg.preprocess)."""

    mode: Literal["range", "clip", "percentile", "fingerprint_percentile"] = doc(
        "range (a_min..a_max to b_min..b_max, clipped), clip (a_min..a_max, units kept), percentile (per-image "
        "percentiles lower..upper to b_min..b_max) or fingerprint_percentile (clipped to the dataset's percentiles, "
        "then z-scored with its mean and SD)")
    a_min: float | None = doc("range/clip: lower input value", None)
    a_max: float | None = doc("range/clip: upper input value", None)
    b_min: float = doc("range/percentile: output of the lower value", 0.0)
    b_max: float = doc("range/percentile: output of the upper value", 1.0)
    lower: float | None = doc("percentile modes: lower percentile", None)
    upper: float | None = doc("percentile modes: upper percentile", None)

    def __post_init__(self) -> None:
        needs = {"range": ("a_min", "a_max"), "clip": ("a_min", "a_max"), "percentile": ("lower", "upper"),
                 "fingerprint_percentile": ("lower", "upper")}[self.mode]
        missing = [key for key in needs if getattr(self, key) is None]
        if missing:
            raise PetsegError(f"intensity mode {self.mode} needs {' and '.join(missing)}")


@dataclass(frozen=True, kw_only=True)
class Preprocess:
    """A study as the network sees it: grid, crop, intensities."""

    spacing_mm: tuple[float, float, float] | Literal["median"] | None = doc(
        "resample to this spacing (x, y, z) before the network, or median (the dataset's median spacing, as "
        "nnU-Net plans it); null keeps the PET grid", None)
    crop_foreground: Literal["ct", "pet"] | None = doc(
        "crop to the body before the network (as the CT shows it, else the PET; or the PET alone), undone on "
        "the way back; null: no crop", None)
    ct: Channel | None = doc("CT channel normalisation; null: HU unchanged", None)
    pet: Channel | None = doc("PET channel normalisation; null: SUV unchanged", None)


# -- optimisation ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Loss:
    """The training loss (petseg.train.losses)."""

    name: Literal["dice_ce", "bce", "stepwise"] = doc(
        "dice_ce (MONAI DiceCE), bce (one logit), stepwise (seed 001: DiceFocal + MSE on dilated-mask auxiliaries, "
        "learned weighting)")
    softmax: bool = doc("dice_ce: softmax outputs with one-hot labels (else sigmoid)", False)
    squared_pred: bool = doc("dice_ce: squared denominators", False)
    include_background: bool = doc("dice_ce with softmax: the background channel in the Dice", True)
    batch_dice: bool = doc("dice_ce: one Dice over the whole batch", False)
    deep_supervision: Literal["halving"] | None = doc(
        "dice_ce: halving (weights 1/2^i over the deep-supervision outputs); null: the main output only", None)
    auxiliary_channels: int = doc("stepwise: auxiliary outputs", 7)
    dilation_steps_mm: tuple[float, ...] = doc("stepwise: dilation radius of each auxiliary target",
                                               (5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 10000.0))


@dataclass(frozen=True, kw_only=True)
class Optimizer:
    """The optimiser (petseg.train.optim)."""

    name: Literal["adamw", "adam", "nadam", "sgd"] = doc("the optimiser")
    lr: float = doc("learning rate")
    weight_decay: float = doc("weight decay", 0.0)
    momentum: float = doc("sgd: momentum", 0.99)
    nesterov: bool = doc("sgd: Nesterov momentum", True)


@dataclass(frozen=True, kw_only=True)
class Scheduler:
    """The learning-rate schedule (petseg.train.optim)."""

    name: Literal["warmup_cosine", "cosine", "cyclic_cosine", "poly", "plateau", "plateau_cosine"] = doc(
        "warmup_cosine, cosine, cyclic_cosine, poly (per optimiser step), plateau (per epoch, on its loss) or "
        "plateau_cosine (seed 001: plateau, then the rate reset and cosine-annealed for the last epochs)")
    warmup_epochs: int = doc("warmup_cosine: epochs of linear warm-up", 0)
    eta_min: float = doc("cosine: final learning rate", 0.0)
    cycle_epochs: int = doc("cyclic_cosine: epochs per cycle", 5)
    power: float = doc("poly: exponent", 0.9)
    factor: float = doc("plateau: learning-rate factor", 0.4)
    threshold: float = doc("plateau: improvement of the epoch's loss that counts", 5.0e-3)
    threshold_mode: Literal["rel", "abs"] = doc("plateau: the improvement relative to the best loss, or absolute",
                                                "rel")
    restart_lr: float = doc("plateau_cosine: the rate the cosine phase starts from", 1.0e-4)
    cosine_epochs: int = doc("plateau_cosine: epochs of the cosine phase, at the end of training", 100)


@dataclass(frozen=True, kw_only=True)
class Training:
    """How long, on what patches, and which weights are deployed."""

    epochs: int = doc("epochs")
    batch_size: int = doc("patches (studies, for a classifier) per step and rank", 2)
    steps_per_epoch: int | None = doc("optimiser steps per epoch; null: the cohort's size x patches_per_volume "
                                      "/ (batch x ranks)", None)
    patches_per_volume: int = doc("patches per training study and epoch, when steps_per_epoch is null", 1)
    patch_size: Size3 | None = doc("training crop (x, y, z); segmentation only", None)
    positive_fraction: float = doc("share of patches centred near a lesion voxel", 0.5)
    oversample_positives: float = doc("sampling weight of lesion-positive studies", 1.0)
    source_weights: dict[str, float] | None = doc(
        "sampling weight of the studies of each source of a merged datalist (`petseg datalist --merge`); sources "
        "not named weigh 1", None)
    hard_negative_fraction: float = doc(
        "share of the background patches centred on hot voxels outside the lesions (physiological uptake: brain, "
        "heart, bladder, ...), as hard negatives", 0.0)
    hard_negative_suv: float = doc("hard negatives: the SUV from which a voxel outside the lesions counts as hot",
                                   3.0)
    positives_only: bool = doc("train the segmentation on lesion-positive studies only", False)
    amp: bool = doc("mixed precision (fp16 autocast) on GPUs, in training and in inference alike (one rule: "
                    "petseg.device.precision); every seed paper trains with it", True)
    checkpoint: Literal["last", "best"] = doc(
        "last (deploy the final weights, as nnU-Net does) or best (the best epoch on a selection split)", "last")
    selection_fraction: float = doc("checkpoint best: share of the training folds' patients carved out to "
                                    "choose the epoch on", 0.2)
    select_by: Literal["dice", "top_k_auroc", "fpv_ml"] = doc("checkpoint best: the metric that picks the epoch",
                                                              "dice")
    validate_every: int = doc("epochs between validations (the selection split, and the held-out fold for the "
                              "log)", 1)


# -- inference ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Inference:
    """How `predict` runs the model (the command line may override each)."""

    roi_size: Size3 | None = doc("sliding-window ROI (x, y, z); null: the training patch", None)
    overlap: float = doc("sliding-window overlap (nnU-Net's and MONAI Auto3DSeg's default)", 0.5)
    threshold: float = doc("probability threshold used when no calibration exists", 0.5)

    def __post_init__(self) -> None:
        if not 0.0 <= self.overlap < 1.0:
            raise PetsegError(f"inference.overlap is a fraction in [0, 1), got {self.overlap}")
        if not 0.0 < self.threshold < 1.0:
            raise PetsegError(f"inference.threshold is a probability in (0, 1), got {self.threshold}")


# -- the recipe --------------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Recipe:
    """A training recipe: network, loss, optimiser, crops, augmentations, inference settings."""

    name: str = doc("the recipe's name")
    paper: str | None = doc("the seed paper it follows", None)
    task: Literal["segmentation", "classification"] = doc(
        "segmentation, or classification (the MIP classifier gate)", "segmentation")
    inputs: tuple[Literal["ct", "ct_present", "pet", "stage1"], ...] = doc(
        "input channels in order: ct, ct_present (1 where the CT covers, 0 where it is missing), pet (required) "
        "and stage1 (a cascade's first-stage mask)")
    suv_max: float = doc("classification: the SUV mapped to 1 in the projections", 10.0)
    preprocess: Preprocess = section(Preprocess, "a study as the network sees it")
    network: SegmentationNetwork | ClassificationNetwork = doc("the network, chosen by its name")
    loss: Loss = doc("the training loss")
    optimizer: Optimizer = doc("the optimiser")
    scheduler: Scheduler = doc("the learning-rate schedule")
    training: Training = doc("training length, patches, checkpoint rule")
    augment: Augment = section(Augment, "training augmentations")
    inference: Inference = section(Inference, "sliding-window inference")
    profiles: dict[str, dict[str, Any]] | None = doc(
        "named sets of overrides (dotted keys or nested sections), applied with `petseg train --profile NAME`: "
        "e.g. `cpu`, what a CPU cannot carry (patch, batch, steps, width), everything else as the paper says",
        None)
    profile: str | None = doc("the profile applied (recorded in the model folder)", None)

    def __post_init__(self) -> None:
        if "pet" not in self.inputs or len(set(self.inputs)) != len(self.inputs):
            raise PetsegError(f"inputs must name pet once, among {', '.join(INPUTS)}; got {list(self.inputs)}")
        classifier = isinstance(self.network, DenseNet121 | MipClassifier)
        if self.task == "classification":
            if not classifier or self.loss.name != "bce":
                raise PetsegError("a classifier recipe has network densenet121 or classifier and loss {name: bce}")
        elif classifier:
            raise PetsegError(f"network {self.network.name} is a classifier: set task: classification")
        elif self.training.patch_size is None:
            raise PetsegError("training.patch_size (x, y, z) is required for a segmentation recipe")

    @property
    def pet_channel(self) -> int:
        """Index of the PET among the input channels."""
        return self.inputs.index("pet")

    @property
    def image_channels(self) -> tuple[int, ...]:
        """Indices of the image inputs (CT and PET, in input order; not the coverage or stage-1 masks)."""
        return tuple(i for i, name in enumerate(self.inputs) if name in ("ct", "pet"))

    @property
    def roi_zyx(self) -> Size3:
        """The sliding-window ROI in array order: the inference ROI, else the training patch."""
        return zyx(self.inference.roi_size or self.training.patch_size)  # type: ignore[arg-type]

    @property
    def patch_zyx(self) -> Size3:
        """The training patch in array order."""
        return zyx(self.training.patch_size)  # type: ignore[arg-type]
