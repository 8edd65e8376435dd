"""Training patches from the cache: lesion-centred or background crops with the recipe's augmentations.

Every patch is a pure function of (seed, epoch, index): its random choices come from a generator
seeded with those three numbers, so an epoch replays identically after a resume, whatever the number
of data-loader workers or DDP ranks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from petseg.recipe import Recipe, zyx
from petseg.recipe.augment import Augment
from petseg.train.cache import CachedCase


def build_augmentations(spec: Augment, patch_zyx: tuple[int, int, int]):
    """MONAI dictionary transforms on 'image' and 'label' from a recipe's `augment` section."""
    from monai import transforms as T

    keys = ["image", "label"]
    steps: list[Any] = []
    if spec.rotate:
        r = spec.rotate.range_rad
        steps.append(T.RandRotated(keys, range_x=r, range_y=r, range_z=r, prob=spec.rotate.prob,
                                   mode=("bilinear", "nearest"), padding_mode="border"))
    if spec.scale:
        s = spec.scale.range
        steps.append(T.RandZoomd(keys, min_zoom=1 - s, max_zoom=1 + s, prob=spec.scale.prob,
                                 mode=("trilinear", "nearest"), keep_size=True))
    if spec.flip:
        for axis in spec.flip.axes:
            steps.append(T.RandFlipd(keys, prob=spec.flip.prob, spatial_axis=2 - int(axis)))
    if spec.rotate90:
        for plane in ((0, 1), (0, 2), (1, 2)):
            if patch_zyx[plane[0]] == patch_zyx[plane[1]]:  # a quarter turn keeps the patch's shape
                steps.append(T.RandRotate90d(keys, prob=spec.rotate90.prob, spatial_axes=plane))
    if spec.smooth:
        low, high = spec.smooth.sigma
        steps.append(T.RandGaussianSmoothd(["image"], sigma_x=(low, high), sigma_y=(low, high), sigma_z=(low, high),
                                           prob=spec.smooth.prob))
    if spec.noise:
        steps.append(T.RandGaussianNoised(["image"], prob=spec.noise.prob, std=spec.noise.std))
    if spec.intensity:
        steps.append(T.RandScaleIntensityd(["image"], factors=spec.intensity.scale, prob=spec.intensity.prob))
        steps.append(T.RandShiftIntensityd(["image"], offsets=spec.intensity.shift, prob=spec.intensity.prob))
    if spec.contrast:
        steps.append(T.RandAdjustContrastd(["image"], prob=spec.contrast.prob, gamma=spec.contrast.gamma))
    return T.Compose(steps) if steps else None


def mask_dropout(spec: Augment, channel: int | None):
    """(channel, MONAI RandCoarseDropout) for a cascade's stage-1 mask channel (seed 003: the second stage
    learns not to trust the first stage's mask blindly), or None."""
    if channel is None or spec.mask_dropout is None:
        return None
    from monai.transforms import RandCoarseDropout

    options = spec.mask_dropout
    return channel, RandCoarseDropout(holes=options.holes, spatial_size=zyx(options.size), fill_value=0.0,
                                      prob=options.prob)


def crop(array: np.ndarray, centre: np.ndarray, size: tuple[int, int, int]) -> np.ndarray:
    """A patch of `size` around `centre` over the last three axes, zero-padded beyond the edges."""
    spatial = array.shape[-3:]
    start = np.asarray(centre) - np.asarray(size) // 2
    src = tuple(slice(max(s, 0), min(s + n, dim)) for s, n, dim in zip(start, size, spatial, strict=True))
    patch = np.zeros(array.shape[:-3] + tuple(size), dtype=array.dtype)
    dst = tuple(slice(sl.start - s, sl.stop - s) for sl, s in zip(src, start, strict=True))
    patch[(..., *dst)] = array[(..., *src)]
    return patch


def ct_dropout(spec: Augment, inputs: tuple[str, ...]) -> tuple[float, list[int]]:
    """(probability, channels) of modality dropout: with that probability a patch loses its CT (the `ct` and
    `ct_present` channels zeroed, as for a PET-only study), so one model serves PET/CT and PET-only studies."""
    channels = [inputs.index(name) for name in ("ct", "ct_present") if name in inputs]
    if spec.ct_dropout is None or not channels:
        return 0.0, []
    return spec.ct_dropout.prob, channels


class PatchDataset(Dataset):
    """`samples_per_epoch` patches an epoch, drawn from `cases` as the recipe's `training` and `augment` say
    (lesion-centred share, positives oversampled, augmentations, CT dropout, a cascade's mask dropout)."""

    def __init__(self, cases: list[CachedCase], recipe: Recipe, seed: int, samples_per_epoch: int) -> None:
        augment, inputs = recipe.augment, recipe.inputs
        self.cases, self.patch = cases, recipe.patch_zyx
        self.positive_fraction = recipe.training.positive_fraction
        self.transform = build_augmentations(augment, self.patch)
        self.mask_dropout = mask_dropout(augment, inputs.index("stage1") if "stage1" in inputs else None)
        self.ct_dropout = ct_dropout(augment, inputs)
        self.seed, self.samples, self.epoch = seed, samples_per_epoch, 0
        self.hard_fraction = recipe.training.hard_negative_fraction
        oversample, sources = recipe.training.oversample_positives, recipe.training.source_weights or {}
        weights = np.array([(oversample if c.positive else 1.0) * sources.get(c.source or "", 1.0) for c in cases],
                           dtype=float)
        self.weights = weights / weights.sum()

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose patches are drawn (call before iterating)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.samples

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        case = self.cases[int(rng.choice(len(self.cases), p=self.weights))]
        image, label = case.image(), case.label()
        lesions = case.lesion_voxels()
        # A lesion (or hot) voxel lands anywhere in the central part of the patch, not always at its centre (as
        # nnU-Net does): a network shown lesions only at the centre learns the position, not the lesion.
        reach = np.asarray(self.patch) // 4
        hot = case.hot_voxels() if self.hard_fraction else ()
        if len(lesions) and rng.random() < self.positive_fraction:
            centre = np.asarray(lesions[int(rng.integers(len(lesions)))]) + rng.integers(-reach, reach + 1)
        elif len(hot) and rng.random() < self.hard_fraction:  # a hard negative: physiological uptake
            centre = np.asarray(hot[int(rng.integers(len(hot)))]) + rng.integers(-reach, reach + 1)
        else:
            centre = np.array([rng.integers(n) for n in label.shape])
        sample = {"image": torch.from_numpy(crop(np.asarray(image), centre, self.patch)),
                  "label": torch.from_numpy(crop(np.asarray(label)[None], centre, self.patch).astype(np.float32))}
        if self.transform is not None:
            self.transform.set_random_state(seed=int(rng.integers(2**31)))
            sample = self.transform(sample)
            sample = {key: torch.as_tensor(np.asarray(value), dtype=torch.float32) for key, value in sample.items()}
            sample["label"] = (sample["label"] > 0.5).float()
        image = torch.as_tensor(sample["image"]).clone()
        if self.mask_dropout is not None:
            channel, dropout = self.mask_dropout
            dropout.set_random_state(seed=int(rng.integers(2**31)))
            image[channel:channel + 1] = torch.as_tensor(np.asarray(dropout(image[channel:channel + 1])))
        probability, channels = self.ct_dropout
        if channels and rng.random() < probability:
            image[channels] = 0.0
        sample["image"] = torch.nan_to_num(image)  # inputs are sanitised: no NaN reaches the network
        return sample
