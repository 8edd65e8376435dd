"""Evaluate predicted lesion masks against ground truth: per case and over a cohort.

Cases are matched by name between two folders (`<case>.nii.gz` files, or `<case>/` subfolders holding
one mask), or taken from a datalist. A case that cannot be evaluated (unreadable file, other grid)
is reported and left out of the means; the caller decides what that means for the exit status.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from petseg.errors import PetsegError, PetsegWarning
from petseg.io.atomic import full_suffix
from petseg.io.images import Volume, is_image_path, read_volume
from petseg.metrics.autopet import autopet_metrics, mean_metrics
from petseg.metrics.components import Overlap, as_binary
from petseg.metrics.detection import detection, pooled_detection

MASK_NAMES = ("label", "seg", "mask", "gt", "lesions", "pred", "prediction")
SPACING_TOLERANCE_MM = 1e-3


@dataclass(frozen=True)
class CasePair:
    """A ground-truth mask and its prediction (None: missing, evaluated as empty if allowed)."""

    case: str
    gt: Path
    pred: Path | None


def masks_in(path: Path) -> dict[str, Path]:
    """Mask files by case name: a single file, `<case>.<ext>` files, or `<case>/<mask name>.<ext>` folders."""
    if path.is_file():
        return {path.name[: -len(full_suffix(path))]: path}
    if not path.is_dir():
        raise PetsegError(f"not found: {path}")
    found: dict[str, Path] = {}
    for entry in sorted(path.iterdir()):
        if entry.name.startswith("."):  # hidden: a temporary file of an interrupted write, a marker
            continue
        if entry.is_file() and is_image_path(entry):
            case, mask = entry.name[: -len(full_suffix(entry))], entry
        elif entry.is_dir():
            masks = [p for p in entry.iterdir() if is_image_path(p) and p.name[: -len(full_suffix(p))].lower()
                     in MASK_NAMES]
            if len(masks) != 1:
                continue
            case, mask = entry.name, masks[0]
        else:
            continue
        if case in found:
            raise PetsegError(f"two masks for case {case!r} in {path}: {found[case].name} and {mask.name}")
        found[case] = mask
    return found


def pair_cases(gt: dict[str, Path], pred: dict[str, Path],
               missing_as_empty: bool) -> tuple[list[CasePair], list[str]]:
    """Pairs by case name, and the ground-truth cases without a prediction: scored as empty predictions with
    `missing_as_empty`, else left out (the caller reports them)."""
    if not gt:
        raise PetsegError("no ground-truth mask found")
    if len(gt) == 1 and len(pred) == 1:  # two single files: pair them whatever their names
        (case, gt_path), (pred_path,) = next(iter(gt.items())), pred.values()
        return [CasePair(case, gt_path, pred_path)], []
    missing = sorted(set(gt) - set(pred))
    extra = sorted(set(pred) - set(gt))
    if extra:
        warnings.warn(f"{len(extra)} prediction(s) without ground truth ignored: {', '.join(extra[:5])}",
                      PetsegWarning, stacklevel=2)
    pairs = [CasePair(case, path, pred.get(case)) for case, path in sorted(gt.items())
             if case in pred or missing_as_empty]
    return pairs, [] if missing_as_empty else missing


def missing_message(missing: list[str], scored: int) -> str:
    """The line for ground-truth cases without a prediction."""
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    return (f"{len(missing)} case(s) have no prediction: {', '.join(missing[:5])}{more}; the other {scored} "
            "were scored (add --missing-as-empty to score them as empty predictions)")


def check_same_grid(gt: Volume, pred: Volume, case: str) -> None:
    """Refuse masks whose shape or spacing differ (beyond 1e-3 mm)."""
    if gt.shape != pred.shape or not np.allclose(gt.spacing, pred.spacing, rtol=0, atol=SPACING_TOLERANCE_MM):
        raise PetsegError(f"{case}: ground truth and prediction grids differ: ground truth {gt.describe_grid()}; "
                          f"prediction {pred.describe_grid()}")
    if not gt.same_grid(pred):
        warnings.warn(f"{case}: ground truth and prediction differ in origin or direction; comparing voxel by "
                      "voxel", PetsegWarning, stacklevel=2)


def evaluate_case(pair: CasePair, rule: str = "autopet3", iou_threshold: float | None = None) -> dict[str, Any]:
    """autoPET metrics and lesion detection of one case."""
    gt = read_volume(pair.gt)
    pred = read_volume(pair.pred) if pair.pred is not None else gt.with_array(np.zeros(gt.shape, np.uint8))
    check_same_grid(gt, pred, pair.case)
    overlap = Overlap.of(as_binary(gt.array, f"{pair.case} ground truth"),
                         as_binary(pred.array, f"{pair.case} prediction"), gt.voxel_ml)
    return {**case_metrics(pair.case, overlap, rule, iou_threshold),
            "prediction": str(pair.pred) if pair.pred else None}


def case_metrics(case: str, overlap: Overlap, rule: str = "autopet3",
                 iou_threshold: float | None = None) -> dict[str, Any]:
    """The metrics.json entry of one case (with its per-lesion Dice list, dropped by `cohort_report`)."""
    found = detection(overlap, iou_threshold)
    dices = found.pop("lesion_dice")
    return {"case": case, **autopet_metrics(overlap, rule), **found,
            "mean_lesion_dice": float(np.mean(dices)) if dices else math.nan, "lesion_dice": dices}


def _evaluate_capturing(pair: CasePair, rule: str, iou_threshold: float | None) -> dict[str, Any]:
    """`evaluate_case` that returns user errors and warnings instead of raising (for worker processes)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = evaluate_case(pair, rule, iou_threshold)
        except PetsegError as exc:
            result = {"case": pair.case, "error": str(exc)}
    result["warnings"] = [str(w.message) for w in caught]
    return result


def evaluate_cohort(pairs: list[CasePair], rule: str = "autopet3", iou_threshold: float | None = None,
                    jobs: int = 1, progress: Callable[[Iterable], Iterable] | None = None) -> dict[str, Any]:
    """Per-case metrics, means (Dice/FNV over defined cases), pooled detection, and failed cases."""
    args = [(pair, rule, iou_threshold) for pair in pairs]
    wrap = progress or (lambda items: items)
    if jobs > 1 and len(args) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(wrap(pool.map(_evaluate_capturing, *zip(*args, strict=True))))
    else:
        results = [_evaluate_capturing(*a) for a in wrap(args)]
    for result in results:
        for message in result.pop("warnings"):
            warnings.warn(message, PetsegWarning, stacklevel=2)
    return cohort_report(results, rule, iou_threshold)


def cohort_report(results: list[dict[str, Any]], rule: str = "autopet3",
                  iou_threshold: float | None = None) -> dict[str, Any]:
    """metrics.json: per-case results, means (Dice/FNV over defined cases), pooled detection, failures."""
    cases = [dict(r) for r in results if "error" not in r]
    failed = [r for r in results if "error" in r]
    pooled = pooled_detection(cases) if cases else {}
    for case in cases:
        case.pop("lesion_dice")
    return {"rule": rule, "matching": "any overlap" if iou_threshold is None else f"IoU >= {iou_threshold}",
            "cases": cases, "mean": mean_metrics(cases) if cases else {}, "detection": pooled,
            "n_cases": len(cases), "n_negative": sum(c["gt_volume_ml"] == 0 for c in cases), "failed": failed}
