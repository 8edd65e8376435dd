"""One-call Python API: `segment(pet, ct=None, ...)` returns everything `petseg segment` writes, in memory."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from petseg import __version__
from petseg.console import step
from petseg.data.study import Study, load_study
from petseg.errors import PetsegError
from petseg.io.atomic import write_csv_atomic, write_json_atomic
from petseg.io.images import Volume, write_volume
from petseg.io.suv import SuvOverrides
from petseg.metrics.components import Overlap
from petseg.metrics.evaluate import case_metrics
from petseg.quantify import Quantification, quantify

METHODS = ("suv", "model")


@dataclass
class SegmentResult:
    """A segmented study: the mask on the PET grid, lesion statistics, provenance and timings."""

    study: Study
    mask: Volume
    quantification: Quantification
    method: dict[str, Any]
    tracer: str
    timings: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    suppressed: Volume | None = None  # SUV method: region k (uint16, PET grid) is method["suppressed"][k - 1]

    def lesions_json(self) -> dict[str, Any]:
        """The content of lesions.json."""
        suv = self.study.suv
        study = {key: value for key, value in self.study.meta.items() if value is not None}
        study.update({"tracer": self.tracer, "shape_zyx": list(suv.shape), "spacing_mm": list(suv.spacing),
                      "origin_mm": list(suv.origin), "has_ct": self.study.has_ct})
        return {"method": self.method, "petseg_version": __version__,
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "study": study, **self.quantification.as_dict(), "timings_s": self.timings,
                **({"metrics": self.metrics} if self.metrics else {})}


def segment(pet: str | Path | Volume | Study, ct: str | Path | Volume | None = None, *,
            label: str | Path | Volume | None = None, method: str = "suv", tracer: str = "fdg",
            params: dict[str, str] | None = None, suv_overrides: SuvOverrides | None = None,
            roi: str | None = None, model: list[str | Path] | None = None, inference: Any = None) -> SegmentResult:
    """Segment and quantify the lesions of one study.

    `pet` is a PET in SUV (NIfTI/MHA/NRRD path or `Volume`), a DICOM folder or zip (converted to SUV
    from its headers; `suv_overrides` fix missing tags), or a ready `Study`; `ct` is optional (PET-only
    studies work) and may be a DICOM folder; `label` is an optional ground truth (image file, or a DICOM
    SEG/RTSTRUCT with DICOM input, ROI chosen by `roi`), scored with the autoPET metrics. `params`
    override the method's parameters (e.g. {"threshold.suv": "3.5"}). `model` (model folders: an ensemble,
    optionally a MIP classifier gate and cascade stages) segments with trained networks instead of the SUV
    method, run as `inference` (`petseg.infer.predictor.InferenceOptions`) says.
    """
    from petseg.data.dicom_study import is_dicom_input, load_dicom_study
    from petseg.data.study import make_study
    from petseg.methods.suv import segment_suv

    if model:
        method = "model"
    if method not in METHODS:
        raise PetsegError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    if method == "model" and not model:
        raise PetsegError("method 'model' needs model folders (--model RUN)")
    predictor = None
    if model:  # a bad model folder fails before the study is read
        from petseg.infer.predictor import Predictor

        predictor = Predictor(model, inference)
    timings: dict[str, float] = {}
    with step("reading the study", timings):
        if isinstance(pet, Study):
            study = pet
        elif isinstance(pet, Volume):
            study = make_study(pet, _as_volume(ct), _as_volume(label), {"tracer": tracer})
        elif is_dicom_input(pet):
            study = load_dicom_study(pet, ct, mask=label, roi=roi, overrides=suv_overrides,  # type: ignore[arg-type]
                                     tracer=tracer)
        else:
            if is_dicom_input(ct):
                raise PetsegError("give the PET as DICOM too when the CT is a DICOM folder (or convert both with "
                                  "`petseg convert`)")
            study = load_study(pet, ct, label, {"tracer": tracer})  # type: ignore[arg-type]
    suppressed = None
    with step("segmenting", timings):
        if predictor is not None:
            prediction = predictor.predict(study, tracer)
            mask, provenance = prediction.mask, _model_provenance(predictor, prediction)
        else:
            found = segment_suv(study, tracer, params)
            mask, provenance, suppressed = found.mask, found.provenance(), found.suppressed_labels
    with step("quantifying", timings):
        lesions = quantify(study.suv, mask)
    metrics = None
    if study.label is not None:
        overlap = Overlap.of(study.label.array > 0, mask.array > 0, study.suv.voxel_ml)
        metrics = case_metrics(str(study.meta.get("case", "study")), overlap)
    return SegmentResult(study, mask, lesions, provenance, tracer, timings, metrics, suppressed)


def _model_provenance(predictor: Any, prediction: Any) -> dict[str, Any]:
    """lesions.json's `method` for trained models: which folders, threshold, post-processing, windows."""
    return {"name": "model", "models": [str(m.path) for m in predictor.models],
            "recipes": sorted({m.recipe["name"] for m in predictor.models}), "threshold": prediction.threshold,
            "ensemble": predictor.options.ensemble, "flips": [list(f) for f in predictor.options.flips],
            "postprocess": predictor.postprocessing(), "windows": prediction.windows,
            **({"gate": prediction.gate} if prediction.gate else {})}


def _as_volume(value: str | Path | Volume | None) -> Volume | None:
    from petseg.io.images import read_volume

    if value is None or isinstance(value, Volume):
        return value
    return read_volume(value, np.float32)


def write_results(result: SegmentResult, out_dir: Path, title: str | None = None, dicom_source: Any = None,
                  per_lesion: bool = False) -> dict[str, Path]:
    """Write lesions.nii.gz, lesions.json, lesions.csv, mip.png and report.html into `out_dir`, and
    lesions_seg.dcm when the study came from DICOM (or `dicom_source` names the source PET series)."""
    from petseg.io.dicom_seg import write_dicom_seg
    from petseg.report.html import write_report
    from petseg.report.mip import write_mip

    paths = {name: out_dir / name for name in ("lesions.nii.gz", "lesions.json", "lesions.csv", "mip.png",
                                               "report.html")}
    write_volume(result.mask, paths["lesions.nii.gz"])
    columns, rows = result.quantification.table()
    write_csv_atomic(paths["lesions.csv"], rows, columns)
    with step("drawing", result.timings):
        write_mip(result, paths["mip.png"], title=title)
    write_json_atomic(paths["lesions.json"], result.lesions_json())
    write_report(result, paths["report.html"], paths["mip.png"], title=title)
    source = dicom_source or result.study.dicom
    if source is not None:
        if not source.volume.same_grid(result.mask):
            raise PetsegError("the source DICOM series is not on the grid of the segmented PET; DICOM-SEG not written")
        paths["lesions_seg.dcm"] = out_dir / "lesions_seg.dcm"
        with step("writing DICOM-SEG", result.timings):
            write_dicom_seg(result.quantification.labels.array, source, paths["lesions_seg.dcm"], per_lesion)
    return paths
