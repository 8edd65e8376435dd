"""Spacing and intensity preprocessing built from a recipe's `preprocess` section (MONAI transforms).

A study becomes a network input array (channels in the recipe's input order, z, y, x) and a label
array on the same grid. Intensity modes per channel:
- `range`: a_min..a_max mapped linearly to b_min..b_max, clipped (ScaleIntensityRange);
- `clip`: values clipped to a_min..a_max (SUV kept in its units);
- `percentile`: per-image percentiles lower..upper mapped to b_min..b_max (ScaleIntensityRangePercentiles);
- `fingerprint_percentile`: clipped to the dataset fingerprint's percentiles, then z-scored with the
  fingerprint's mean and SD (seed 002), so recipes never hard-code dataset numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import SimpleITK as sitk

from petseg.data.study import Study, resample_onto
from petseg.errors import PetsegError
from petseg.io.images import Volume


def target_grid(reference: Volume, spacing_xyz: list[float] | None) -> Volume | None:
    """An empty volume on `reference`'s extent at `spacing_xyz` (None when no resampling is asked)."""
    if not spacing_xyz or np.allclose(reference.spacing, spacing_xyz, atol=1e-3):
        return None
    extent = np.array(reference.shape[::-1]) * np.array(reference.spacing)
    size = np.maximum(np.rint(extent / np.array(spacing_xyz)).astype(int), 1)
    shift = (np.array(spacing_xyz) - np.array(reference.spacing)) / 2.0  # keep the field of view's edges
    origin = np.array(reference.origin) + reference.direction_matrix @ shift
    return Volume(np.zeros(size[::-1], np.uint8), tuple(spacing_xyz), tuple(origin), reference.direction)


def normalise_channel(array: np.ndarray, spec: dict[str, Any], stats: dict[str, float] | None = None) -> np.ndarray:
    """One channel's intensity transform (see the module docstring), in float32."""
    from monai.transforms import ScaleIntensityRange, ScaleIntensityRangePercentiles

    mode = spec.get("mode")
    if mode == "range":
        transform = ScaleIntensityRange(spec["a_min"], spec["a_max"], spec["b_min"], spec["b_max"], clip=True)
        return np.asarray(transform(array), dtype=np.float32)
    if mode == "clip":
        return np.clip(array, spec["a_min"], spec["a_max"]).astype(np.float32)
    if mode == "percentile":
        transform = ScaleIntensityRangePercentiles(spec["lower"], spec["upper"], spec.get("b_min", 0.0),
                                                   spec.get("b_max", 1.0), clip=True)
        return np.asarray(transform(array), dtype=np.float32)
    if mode == "fingerprint_percentile":
        if not stats:
            raise PetsegError("this recipe normalises with dataset statistics: run `petseg plan` first")
        low, high = stats[f"p{spec['lower']:g}"], stats[f"p{spec['upper']:g}"]
        clipped = np.clip(array, low, high)
        return ((clipped - stats["mean"]) / max(stats["std"], 1e-6)).astype(np.float32)
    raise PetsegError(f"unknown intensity mode {mode!r}")


@dataclass
class Preprocessed:
    """A study as a network sees it: `image` (C, z, y, x) float32 in the recipe's input order, `label`
    (z, y, x) uint8 or None, both on `grid`, and `suv` (the PET in SUV on `grid`, for the window gate)."""

    image: np.ndarray
    label: np.ndarray | None
    grid: Volume
    suv: np.ndarray


def preprocess_study(study: Study, recipe: dict[str, Any], fingerprint: dict[str, Any] | None = None,
                     extra: dict[str, Volume] | None = None) -> Preprocessed:
    """The recipe's inputs of `study` on the recipe's grid. Inputs other than `pet` and `ct` (a cascade's
    `stage1` mask) come from `extra`, on the PET grid."""
    options = recipe.get("preprocess", {})
    grid = target_grid(study.suv, options.get("spacing_mm"))
    channels, suv = [], study.suv.array
    for name in recipe["inputs"]:
        volume = {"pet": study.suv, "ct": study.ct}.get(name, (extra or {}).get(name))
        if volume is None:
            what = "a CT" if name == "ct" else f"the input {name!r} (a stage-1 mask for a cascade's second stage)"
            raise PetsegError(f"recipe {recipe['name']} needs {what}, and this study has none")
        if grid is not None:
            fill, method = {"pet": (0.0, sitk.sitkLinear), "ct": (-1024.0, sitk.sitkLinear)}.get(
                name, (0.0, sitk.sitkNearestNeighbor))
            volume = resample_onto(volume, grid, method, fill)
        if name == "pet":
            suv = volume.array
        stats = (fingerprint or {}).get("intensity", {}).get(name)
        channels.append(normalise_channel(volume.array, options.get(name, {"mode": "clip", "a_min": -1e9,
                                                                           "a_max": 1e9}), stats))
    label = None
    if study.label is not None:
        label_volume = study.label if grid is None else resample_onto(study.label, grid, sitk.sitkNearestNeighbor, 0,
                                                                      sitk.sitkUInt8)
        label = (label_volume.array > 0).astype(np.uint8)
    reference = study.suv if grid is None else grid
    return Preprocessed(np.stack(channels), label, reference, suv)
