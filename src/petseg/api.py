"""One-call Python API: `segment(pet, ct=None, ...)` returns everything `petseg segment` writes, in memory;
`write_results` writes it."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from petseg.annotate import annotate
from petseg.console import step
from petseg.data.study import Study, load_study, make_study, with_label
from petseg.errors import ImportantWarning, PetsegError, PetsegWarning
from petseg.io.atomic import write_csv_atomic
from petseg.io.images import Volume, read_volume, write_volume
from petseg.io.suv import SuvOverrides
from petseg.quantify import quantify
from petseg.results import SegmentResult, write_lesions_json
from petseg.tracers import tracer_named

if TYPE_CHECKING:
    from petseg.io.dicom import SeriesVolume
    from petseg.methods.landmarks import BodyFrame
    from petseg.models.settings import InferenceOptions
    from petseg.nnunet.folder import NnunetOptions

METHODS = ("suv", "model")


class StudyPredictor(Protocol):
    """What `segment` and cohorts need of trained models: petseg's `Predictor` or an nnU-Net model's
    `NnunetPredictor` (`.predict(study)` -> an object with `.mask` on the PET grid, `.seconds`, `.windows`,
    `.gate_suv`; `.describe(prediction)` -> lesions.json's `method`)."""

    def predict(self, study: Study) -> Any: ...

    def describe(self, prediction: Any) -> dict[str, Any]: ...


def load_predictor(models: Sequence[str | Path], inference: InferenceOptions | None = None,
                   nnunet: NnunetOptions | None = None) -> StudyPredictor:
    """The predictor of `models`: petseg model folders (an ensemble), or one nnU-Net v2 model folder or zip
    (`nnunet`: its folds, checkpoint and mirroring); the two kinds are never mixed."""
    from petseg.nnunet.folder import is_nnunet_model, not_a_model

    paths = [Path(m) for m in models]
    if not paths:
        raise PetsegError("give at least one model folder (--model RUN)")
    foreign = [p for p in paths if p.is_dir() and not is_nnunet_model(p) and not (p / "recipe.yaml").is_file()]
    if foreign:
        raise not_a_model(foreign[0])
    nnunet_models = [p for p in paths if is_nnunet_model(p)]
    if nnunet_models and len(nnunet_models) < len(paths):
        raise PetsegError(f"--model mixes nnU-Net models ({', '.join(map(str, nnunet_models))}) with petseg model "
                          "folders: give one kind")
    if len(nnunet_models) > 1:
        raise PetsegError("give one nnU-Net model (its folds with --folds); ensembles of several nnU-Net models are "
                          "not supported")
    if nnunet_models:
        from petseg.nnunet.predictor import NnunetPredictor

        return NnunetPredictor(nnunet_models[0], inference, nnunet)
    if nnunet is not None and nnunet.asked():
        raise PetsegError("--folds and --checkpoint apply to nnU-Net model folders; petseg model folders hold one "
                          "fold each (give one --model per fold)")
    from petseg.infer.predictor import Predictor

    return Predictor(paths, inference)


def segment(pet: str | Path | Volume | Study, ct: str | Path | Volume | None = None, *,
            label: str | Path | Volume | None = None, method: str = "suv", tracer: str | None = None,
            params: dict[str, str] | None = None, suv_overrides: SuvOverrides | None = None,
            roi: str | None = None, pet_series: str | None = None, ct_series: str | None = None,
            model: Sequence[str | Path] | StudyPredictor | None = None, inference: InferenceOptions | None = None,
            case: str | None = None, skip_unusable: bool = False) -> SegmentResult:
    """Segment and quantify the lesions of one study.

    `pet` is a PET in SUV (NIfTI/MHA/NRRD path or `Volume`), a DICOM folder or zip (converted to SUV
    from its headers; `suv_overrides` fix missing tags; `pet_series`/`ct_series` pick series by
    SeriesInstanceUID when a folder holds several), or a ready `Study`; `ct` is optional (PET-only studies
    work) and may be a DICOM folder; `label` is an optional ground truth (image file, or a DICOM SEG/RTSTRUCT
    with DICOM input, ROI chosen by `roi`), scored with the autoPET metrics. `tracer` (fdg or psma) is decided
    once into the study: the one given, else the DICOM's radiopharmaceutical, else FDG (a `Study` carries its
    own). `params` override the SUV method's parameters (e.g. {"threshold.suv": "3.5"}). `model` (model
    folders: an ensemble, optionally a MIP classifier gate and cascade stages; or one nnU-Net v2 model folder or
    zip; or a ready predictor, see `load_predictor`) segments with trained networks instead, run as `inference`
    says. `case` names the study; with `skip_unusable` (cohorts)
    a CT or ground truth that cannot be used is left out with a warning instead of stopping the study.
    """
    predictor = _predictor(model, method, inference)  # a bad model folder fails before the study is read
    timings: dict[str, float] = {}
    with _collected_warnings() as messages:
        with step("reading the study", timings):
            study = _study(pet, ct, label, tracer, {"roi": roi, "overrides": suv_overrides, "pet_series": pet_series,
                                                    "ct_series": ct_series}, case, skip_unusable)
            body = _field_of_view(study)
        with step("segmenting", timings):
            mask, provenance, suppressed = _segment_study(study, predictor, params, body)
        with step("quantifying", timings):
            result = annotate(SegmentResult(study, mask, quantify(study.suv, mask), provenance, timings,
                                            suppressed=suppressed))
    result.warnings = [m for m, important in messages.items() if important] + \
        [m for m, important in messages.items() if not important]  # the important first
    result.important_warnings = [m for m, important in messages.items() if important]
    return result


def _predictor(model: Sequence[str | Path] | StudyPredictor | None, method: str, inference: InferenceOptions | None
               ) -> StudyPredictor | None:
    """The trained models' predictor (None for the SUV method)."""
    if method not in METHODS:
        raise PetsegError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    if not model:
        if method == "model":
            raise PetsegError("method 'model' needs model folders (--model RUN)")
        return None
    if hasattr(model, "predict"):  # a ready predictor (a cohort builds one for all its studies)
        return model  # type: ignore[return-value]
    return load_predictor(list(model), inference)  # type: ignore[arg-type]


@contextmanager
def _collected_warnings() -> Iterator[dict[str, bool]]:
    """The messages of the PetsegWarnings raised inside the block, each once, in order, with whether it is an
    `ImportantWarning` (filled when the block ends). Every warning is still shown as usual afterwards, also when
    the block fails."""
    messages: dict[str, bool] = {}
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", PetsegWarning)
            yield messages
    finally:
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        for w in caught:
            if issubclass(w.category, PetsegWarning):
                messages[str(w.message)] = messages.get(str(w.message), False) or issubclass(w.category,
                                                                                             ImportantWarning)


def _field_of_view(study: Study) -> BodyFrame:
    """The body model of the study, with the warnings about where its field of view cuts what matters."""
    from petseg.coverage import warn_field_of_view
    from petseg.methods.landmarks import body_frame
    from petseg.methods.suv import method_parameters

    body = body_frame(study)
    warn_field_of_view(study, body, float(method_parameters(study.tracer.name)["trunk_min_extent_mm"]))
    return body


def _segment_study(study: Study, predictor: StudyPredictor | None, params: dict[str, str] | None, body: BodyFrame
                   ) -> tuple[Volume, dict, Volume | None]:
    """The lesion mask, the method's provenance and (SUV method) the map of suppressed regions: trained models
    when given, else the SUV method."""
    if predictor is not None:
        prediction = predictor.predict(study)
        removed = getattr(prediction, "removed", None)  # the anatomy step's, when it ran
        return prediction.mask, predictor.describe(prediction), removed.label_map(prediction.mask) if removed else None
    from petseg.methods.suv import segment_suv

    found = segment_suv(study, params, body)
    return found.mask, found.provenance(), found.suppressed_labels


def _study(pet: str | Path | Volume | Study, ct: str | Path | Volume | None, label: str | Path | Volume | None,
           tracer: str | None, dicom: dict[str, Any], case: str | None, skip_unusable: bool) -> Study:
    """The study from whatever `segment` was given (`dicom`: the DICOM reader's choices)."""
    from petseg.data.dicom_study import is_dicom_input, load_dicom_study

    if isinstance(pet, Study):
        if tracer is not None and tracer_named(tracer) != pet.tracer:
            raise PetsegError(f"the study is {pet.tracer.name.upper()}; it carries its tracer (do not give "
                              f"another: {tracer})")
        return pet
    meta = {"case": case} if case else {}
    if isinstance(pet, Volume):
        return make_study(pet, _as_volume(ct), _as_volume(label), meta, tracer)
    if is_dicom_input(pet):
        return load_dicom_study(pet, ct, mask=label, tracer=tracer, **dicom)  # type: ignore[arg-type]
    if is_dicom_input(ct):
        raise PetsegError("give the PET as DICOM too when the CT is a DICOM folder (or convert both with "
                          "`petseg convert`)")
    if not skip_unusable:
        return load_study(pet, ct, label, meta, tracer=tracer, overrides=dicom["overrides"])  # type: ignore[arg-type]
    study = load_study(pet, ct, None, meta, ct_optional=True, tracer=tracer,  # type: ignore[arg-type]
                       overrides=dicom["overrides"])
    if label is None:
        return study
    try:  # a ground truth that cannot be read never costs the study its mask
        labelled = with_label(study, label if isinstance(label, Volume) else read_volume(label))
    except PetsegError as error:
        warnings.warn(f"ground truth {label} not used ({error}); segmented without metrics", PetsegWarning,
                      stacklevel=2)
        return study
    labelled.meta["label_path"] = str(label)
    return labelled


def _as_volume(value: str | Path | Volume | None) -> Volume | None:
    if value is None or isinstance(value, Volume):
        return value
    return read_volume(value, np.float32)


def write_results(result: SegmentResult, out_dir: Path, title: str | None = None,
                  dicom_source: SeriesVolume | None = None, per_lesion: bool = False) -> dict[str, Path]:
    """Write lesions.nii.gz, lesions.json, lesions.csv, mip.png, axial.png (when there are lesions) and
    report.html into `out_dir`, and lesions_seg.dcm when the study came from DICOM (or `dicom_source` names
    the source PET series)."""
    from petseg.io.dicom_seg import seg_description, write_dicom_seg
    from petseg.report.axial import write_axial
    from petseg.report.html import write_report
    from petseg.report.mip import write_mip

    paths = {name: out_dir / name for name in ("lesions.nii.gz", "lesions.json", "lesions.csv", "mip.png")}
    write_volume(result.mask, paths["lesions.nii.gz"])
    columns, rows = result.lesion_rows()
    write_csv_atomic(paths["lesions.csv"], rows, columns)
    with step("drawing", result.timings):
        write_mip(result, paths["mip.png"], title=title)
        axial = write_axial(result, out_dir / "axial.png")
    if axial is not None:
        paths["axial.png"] = axial
    write_lesions_json(result, paths["lesions.json"])
    paths["report.html"] = write_report(result, out_dir / "report.html", paths["mip.png"], title=title,
                                        axial_path=axial)
    source = dicom_source or result.study.dicom
    if source is not None:
        if not source.volume.same_grid(result.mask):
            raise PetsegError("the source DICOM series is not on the grid of the segmented PET; DICOM-SEG not written")
        paths["lesions_seg.dcm"] = out_dir / "lesions_seg.dcm"
        with step("writing DICOM-SEG", result.timings):
            write_dicom_seg(result.quantification.labels.array, source, paths["lesions_seg.dcm"], per_lesion,
                            seg_description(result.method))
    return paths
