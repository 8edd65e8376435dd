"""The segment result and the lesions.json document: one schema and one writer for every command that
reports lesions (`segment`, `quantify`, `demo`, `predict`, the challenge interface).

lesions.json: {"method", "petseg_version", "created", "study": {case/paths, tracer, shape_zyx, spacing_mm,
origin_mm, has_ct, SUV provenance, acquisition (DICOM)...}, "warnings": [...], "totals": {"lesion_count",
"tmtv_ml", "tlg", "suvmax"}, "lesions": [{"id", "voxels", "volume_ml", "suvmax", "suvmean", "suvpeak", "tlg",
"centroid_mm", "bbox_zyx", "region", and "truth" ("found" or "false positive") when a ground truth was given}],
"timings_s", and with a ground truth "metrics" and "missed_lesions" (the ground-truth lesions no predicted
voxel touches: "id", "volume_ml", "suvmax", "centroid_mm", "region")}.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from petseg import __version__
from petseg.data.study import Study
from petseg.io.atomic import write_json_atomic
from petseg.io.images import Volume
from petseg.quantify import Quantification
from petseg.tracers import Tracer


@dataclass
class SegmentResult:
    """A segmented (or measured) study: the mask on the PET grid, lesion statistics, how it was found
    (`method`, JSON-ready), timings, the warnings raised while reading and segmenting it, notes per lesion
    (anatomical region; found or false positive against a ground truth) and, against a ground truth, the
    autoPET metrics and the ground-truth lesions that were missed."""

    study: Study
    mask: Volume
    quantification: Quantification
    method: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    suppressed: Volume | None = None  # SUV method: region k (uint16, PET grid) is method["suppressed"][k - 1]
    warnings: list[str] = field(default_factory=list)  # every warning, the important ones first
    important_warnings: list[str] = field(default_factory=list)  # those that may change the lesions or their values
    lesion_notes: dict[int, dict[str, Any]] = field(default_factory=dict)  # per lesion id: region, truth
    missed: list[dict[str, Any]] | None = None  # ground-truth lesions not found (with a ground truth)

    @property
    def tracer(self) -> Tracer:
        """The study's tracer."""
        return self.study.tracer

    def lesions_json(self) -> dict[str, Any]:
        """The content of lesions.json."""
        quantified = self.quantification.as_dict()
        lesions = [{**lesion, **self.lesion_notes.get(lesion["id"], {})} for lesion in quantified["lesions"]]
        return {"method": self.method, "petseg_version": __version__,
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "study": study_summary(self.study), "warnings": self.warnings,
                "important_warnings": self.important_warnings, "totals": quantified["totals"],
                "lesions": lesions, "timings_s": self.timings,
                **({"metrics": self.metrics} if self.metrics else {}),
                **({"missed_lesions": self.missed} if self.missed is not None else {})}

    def lesion_rows(self) -> tuple[list[str], list[dict[str, Any]]]:
        """Columns and rows of lesions.csv: the quantification table with each lesion's notes."""
        columns, rows = self.quantification.table()
        notes = [key for key in ("region", "truth") if any(key in n for n in self.lesion_notes.values())]
        for row in rows:
            row.update({key: self.lesion_notes.get(int(row["id"]), {}).get(key) for key in notes})
        return columns + notes, rows


def value_unit(study: Study | dict[str, Any]) -> str:
    """What the PET's values are, as labels show it: "SUV", or "x background" for a PET read relative to its own
    background (`--units none`: a phantom), which is NOT SUV."""
    meta = study.meta if isinstance(study, Study) else study
    return "SUV" if meta.get("values", "SUV") == "SUV" else "x background"


def study_summary(study: Study) -> dict[str, Any]:
    """lesions.json's `study`: what the study is (meta, tracer) and its grid."""
    summary = {key: value for key, value in study.meta.items() if value is not None}
    suv = study.suv
    summary.update({"tracer": study.tracer.name, "shape_zyx": list(suv.shape), "spacing_mm": list(suv.spacing),
                    "origin_mm": list(suv.origin), "has_ct": study.has_ct})
    if study.has_ct:
        summary["ct_covered_fraction"] = round(study.ct_covered_fraction, 4)
    return summary


def write_lesions_json(result: SegmentResult, path: Path) -> Path:
    """Write lesions.json (atomically)."""
    write_json_atomic(path, result.lesions_json())
    return path
