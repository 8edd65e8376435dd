"""The segment result and the lesions.json document: one schema and one writer for every command that
reports lesions (`segment`, `quantify`, `demo`, `predict`, the challenge interface).

lesions.json: {"method", "petseg_version", "created", "study": {case/paths, tracer, shape_zyx, spacing_mm,
origin_mm, has_ct, SUV provenance...}, "totals": {"lesion_count", "tmtv_ml", "tlg", "suvmax"},
"lesions": [{"id", "voxels", "volume_ml", "suvmax", "suvmean", "suvpeak", "tlg", "centroid_mm", "bbox_zyx"}],
"timings_s", and "metrics" when a ground truth was given}.
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


@dataclass
class SegmentResult:
    """A segmented (or measured) study: the mask on the PET grid, lesion statistics, how it was found
    (`method`, JSON-ready), timings and, against a ground truth, the autoPET metrics."""

    study: Study
    mask: Volume
    quantification: Quantification
    method: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    suppressed: Volume | None = None  # SUV method: region k (uint16, PET grid) is method["suppressed"][k - 1]

    @property
    def tracer(self) -> str:
        """The study's tracer."""
        return self.study.tracer

    def lesions_json(self) -> dict[str, Any]:
        """The content of lesions.json."""
        return {"method": self.method, "petseg_version": __version__,
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "study": study_summary(self.study), **self.quantification.as_dict(), "timings_s": self.timings,
                **({"metrics": self.metrics} if self.metrics else {})}


def study_summary(study: Study) -> dict[str, Any]:
    """lesions.json's `study`: what the study is (meta, tracer) and its grid."""
    summary = {key: value for key, value in study.meta.items() if value is not None}
    suv = study.suv
    summary.update({"tracer": study.tracer, "shape_zyx": list(suv.shape), "spacing_mm": list(suv.spacing),
                    "origin_mm": list(suv.origin), "has_ct": study.has_ct})
    if study.has_ct:
        summary["ct_covered_fraction"] = round(study.ct_covered_fraction, 4)
    return summary


def write_lesions_json(result: SegmentResult, path: Path) -> Path:
    """Write lesions.json (atomically)."""
    write_json_atomic(path, result.lesions_json())
    return path
