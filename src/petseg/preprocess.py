"""Foreground crop, spacing and intensity preprocessing built from a recipe's `preprocess` section (MONAI
transforms), shared by training (the cache) and inference.

A study becomes a network input array (channels in the recipe's input order, z, y, x) and a label array on
the same grid. The grid is a `Volume` with its own origin, so the crop and the resampling are undone by
resampling back onto the PET grid by geometry. Inputs:
- `pet`: the SUV; `ct`: the CT in HU, normalised, and 0 wherever the CT is missing (a PET-only study, or
  outside a partial CT's coverage: missing, not air); `ct_present`: 1 where the CT covers the voxel, else 0
  (so a network can tell missing CT from tissue); `stage1`: a cascade's first-stage mask.
`crop_foreground: ct` crops to the bounding box of the body as the CT shows it (CT above the CT channel's
lower clip value: -250 HU for seed 000's [-250, 250] window, the dataset's 5th percentile for seed 002), and
as the PET shows it (SUV above `BODY_SUV`) where the CT is missing; `pet` uses the PET alone.
Intensity modes per channel:
- `range`: a_min..a_max mapped linearly to b_min..b_max, clipped (ScaleIntensityRange);
- `clip`: values clipped to a_min..a_max (SUV kept in its units);
- `percentile`: per-image percentiles lower..upper mapped to b_min..b_max (ScaleIntensityRangePercentiles);
- `fingerprint_percentile`: clipped to the dataset fingerprint's percentiles, then z-scored with the
  fingerprint's mean and SD (seed 002), so recipes never hard-code dataset numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import SimpleITK as sitk

from petseg.data.study import BODY_SUV, Study, resample_onto
from petseg.errors import PetsegError
from petseg.io.images import Volume
from petseg.metrics.components import bounding_box
from petseg.recipe import Recipe
from petseg.recipe.sections import Channel, Preprocess

CROP_MARGIN_MM = 10.0  # around the foreground box, so no patch starts at the skin
RESAMPLING = {"pet": (sitk.sitkLinear, 0.0), "ct": (sitk.sitkLinear, -1024.0)}  # others: nearest neighbour, 0
AIR_HU = -1024.0  # the body crop's CT floor for a recipe that leaves the CT unnormalised
Resampler = Callable[[Volume, Volume, int, float], Volume]  # (volume, onto grid, interpolator, fill)


def target_grid(reference: Volume, spacing_xyz: list[float] | None) -> Volume | None:
    """An empty volume on `reference`'s extent at `spacing_xyz` (None when no resampling is asked)."""
    if not spacing_xyz or np.allclose(reference.spacing, spacing_xyz, atol=1e-3):
        return None
    extent = np.array(reference.shape[::-1]) * np.array(reference.spacing)
    size = np.maximum(np.rint(extent / np.array(spacing_xyz)).astype(int), 1)
    shift = (np.array(spacing_xyz) - np.array(reference.spacing)) / 2.0  # keep the field of view's edges
    origin = np.array(reference.origin) + reference.direction_matrix @ shift
    return Volume(np.zeros(size[::-1], np.uint8), tuple(spacing_xyz), tuple(origin), reference.direction)


def target_spacing(spacing: tuple[float, ...] | str | None, fingerprint: dict[str, Any] | None
                   ) -> list[float] | None:
    """The recipe's `spacing_mm`: (x, y, z) mm, `median` (the dataset fingerprint's median spacing, as nnU-Net
    plans it), or None (the PET grid)."""
    if spacing != "median":
        return None if spacing is None else [float(v) for v in spacing]
    if not fingerprint:
        raise PetsegError("preprocess.spacing_mm 'median' needs the dataset fingerprint (fingerprint.json)")
    return [float(v) for v in fingerprint["spacing_mm"]["median"]]


def crop_volume(volume: Volume, box: tuple[slice, ...]) -> Volume:
    """The part of `volume` inside `box` (index slices), with the origin of its first voxel."""
    origin = volume.index_to_physical(np.array([s.start for s in box], dtype=float))
    return Volume(np.ascontiguousarray(volume.array[box]), volume.spacing, tuple(origin), volume.direction)


def channel_floor(spec: Channel | None, stats: dict[str, float] | None, array: np.ndarray) -> float:
    """The input value a channel's normalisation maps to its minimum (its lower clip; air for a CT left in HU)."""
    if spec is None:
        return AIR_HU
    if spec.mode in ("range", "clip"):
        return float(spec.a_min)  # type: ignore[arg-type]
    if spec.mode == "fingerprint_percentile" and stats:
        return float(stats[f"p{spec.lower:g}"])
    if spec.mode == "percentile":
        return float(np.percentile(array, spec.lower))  # type: ignore[arg-type]
    return float(array.min())


def foreground_box(study: Study, options: Preprocess, fingerprint: dict[str, Any] | None
                   ) -> tuple[slice, ...] | None:
    """Index box of the body (see the module docstring), grown by CROP_MARGIN_MM; None: no crop."""
    source = options.crop_foreground
    if not source:
        return None
    body = study.suv.array > BODY_SUV
    if source == "ct" and study.ct is not None:
        stats = ((fingerprint or {}).get("intensity") or {}).get("ct")
        covered = study.ct_coverage.array > 0 if study.ct_coverage is not None else np.ones(body.shape, bool)
        floor = channel_floor(options.ct, stats, study.ct.array)
        body = np.where(covered, study.ct.array > floor, body)
    box = bounding_box(body)
    if box is None:
        return None
    margin = [int(np.ceil(CROP_MARGIN_MM / s)) for s in study.suv.spacing_zyx]
    return tuple(slice(max(b.start - m, 0), min(b.stop + m, n))
                 for b, m, n in zip(box, margin, study.suv.shape, strict=True))


def scale_range(array: np.ndarray, a_min: float, a_max: float, b_min: float, b_max: float) -> np.ndarray:
    """MONAI's `ScaleIntensityRange(a_min, a_max, b_min, b_max, clip=True)` in float32, computed in place on one
    new array: MONAI's makes a tensor per step (5 whole-volume passes and allocations; 8x slower on a
    whole-body volume). Tests hold the two equal."""
    out = np.subtract(array, np.float32(a_min), dtype=np.float32)
    out /= np.float32(a_max - a_min)
    out *= np.float32(b_max - b_min)
    out += np.float32(b_min)
    return np.clip(out, b_min, b_max, out=out)


def scale_percentiles(array: np.ndarray, lower: float, upper: float, b_min: float, b_max: float) -> np.ndarray:
    """MONAI's `ScaleIntensityRangePercentiles(lower, upper, b_min, b_max, clip=True)` in float32: both percentiles
    in one partition of the array, then `scale_range` in place (MONAI's imports MONAI, 1.5-3.7 s of a predict
    process, and makes a tensor per step). A constant image is shifted, not scaled, as MONAI's is. Tests hold the
    two equal."""
    a_min, a_max = (float(value) for value in np.percentile(array, [lower, upper]))
    if a_max == a_min:
        return np.subtract(array, np.float32(a_min), dtype=np.float32) + np.float32(b_min)
    return scale_range(array, a_min, a_max, b_min, b_max)


def normalise_channel(array: np.ndarray, spec: Channel | None, stats: dict[str, float] | None = None) -> np.ndarray:
    """One channel's intensity transform (see the module docstring; None: unchanged), in float32 (a new array:
    `array` is left as it is)."""
    if spec is None:
        return np.asarray(array, dtype=np.float32)
    if spec.mode == "range":
        return scale_range(array, spec.a_min, spec.a_max, spec.b_min, spec.b_max)  # type: ignore[arg-type]
    if spec.mode == "clip":
        return np.clip(array, spec.a_min, spec.a_max).astype(np.float32)
    if spec.mode == "percentile":
        return scale_percentiles(array, spec.lower, spec.upper, spec.b_min, spec.b_max)  # type: ignore[arg-type]
    if not stats:
        raise PetsegError("this recipe normalises with dataset statistics: run `petseg plan` first")
    low, high = stats[f"p{spec.lower:g}"], stats[f"p{spec.upper:g}"]
    clipped = np.clip(array, low, high)
    return ((clipped - stats["mean"]) / max(stats["std"], 1e-6)).astype(np.float32)


@dataclass
class Preprocessed:
    """A study as a network sees it: `image` (C, z, y, x) float32 in the recipe's input order, `label`
    (z, y, x) uint8 or None, both on `grid`, and `suv` (the PET in SUV on `grid`, for the window gate)."""

    image: np.ndarray
    label: np.ndarray | None
    grid: Volume
    suv: np.ndarray


def preprocess_study(study: Study, recipe: Recipe, fingerprint: dict[str, Any] | None = None,
                     extra: dict[str, Volume] | None = None, resample: Resampler = resample_onto) -> Preprocessed:
    """The recipe's inputs of `study` on the recipe's grid (cropped and resampled as the recipe says). Inputs
    other than the study's own (a cascade's `stage1` mask) come from `extra`, on the PET grid. `resample`:
    petseg's (`resample_onto`); a benchmark's reference passes SimpleITK's own."""
    options = recipe.preprocess
    sources = _sources(study, recipe, extra)
    box = foreground_box(study, options, fingerprint)
    if box is not None:
        sources = {name: crop_volume(volume, box) for name, volume in sources.items()}
    grid = target_grid(sources["pet"], target_spacing(options.spacing_mm, fingerprint))
    if grid is not None:
        sources = {name: resample(volume, grid, *RESAMPLING.get(name, (sitk.sitkNearestNeighbor, 0.0)))
                   for name, volume in sources.items()}
    present = sources["ct_present"].array > 0 if "ct_present" in sources else None
    channels = []
    for name in recipe.inputs:
        array = sources[name].array
        if name in ("pet", "ct"):
            stats = ((fingerprint or {}).get("intensity") or {}).get(name)
            array = normalise_channel(array, getattr(options, name), stats)
        if name == "ct" and present is not None:
            array = np.where(present, array, np.float32(0.0))  # missing CT is zero, not air
        channels.append(np.asarray(array, dtype=np.float32))
    label = None if "label" not in sources else (sources["label"].array > 0).astype(np.uint8)
    image = channels[0][None] if len(channels) == 1 else np.stack(channels)
    return Preprocessed(image, label, sources["pet"], sources["pet"].array)


def _sources(study: Study, recipe: Recipe, extra: dict[str, Volume] | None) -> dict[str, Volume]:
    """The volumes the recipe needs, on the PET grid: pet, ct (-1024 where missing) with ct_present, label,
    and extra inputs."""
    suv, inputs = study.suv, recipe.inputs
    sources = {"pet": suv}
    if "ct" in inputs or "ct_present" in inputs:
        sources["ct"] = study.ct if study.ct is not None else suv.with_array(np.full(suv.shape, -1024.0, np.float32))
        sources["ct_present"] = study.ct_coverage if study.ct_coverage is not None else suv.with_array(
            np.full(suv.shape, 1 if study.ct is not None else 0, np.uint8))
    if study.label is not None:
        sources["label"] = study.label
    for name in inputs:
        if name not in sources:
            if name not in (extra or {}):
                raise PetsegError(f"recipe {recipe.name} needs the input {name!r} (a stage-1 mask for a "
                                  "cascade's second stage), and this study has none")
            sources[name] = extra[name]  # type: ignore[index]
    return sources
