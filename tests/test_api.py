from __future__ import annotations

import numpy as np
import pytest

from petseg.api import segment
from petseg.errors import PetsegError


def test_segment_in_memory(small_phantom):
    result = segment(small_phantom.study)
    assert result.mask.same_grid(small_phantom.study.suv)
    assert result.quantification.totals["lesion_count"] == len(result.quantification.lesions)
    assert result.metrics is not None and result.metrics["gt_lesions"] == len(small_phantom.lesions)
    assert set(result.timings) >= {"segmenting", "quantifying"}
    data = result.lesions_json()
    assert data["totals"]["tmtv_ml"] == pytest.approx(result.mask.array.sum() * result.mask.voxel_ml)


def test_segment_from_volumes(small_phantom):
    study = small_phantom.study
    result = segment(study.suv, study.ct, tracer="fdg", params={"threshold.suv": "5", "outline.adaptive": "null",
                                                                "outline.fill_enclosed": "false"})
    assert result.method["threshold_suv"] == 5.0  # every voxel at the threshold: no outline below it
    assert np.all(study.suv.array[result.mask.array > 0] >= 5.0)
    with pytest.raises(PetsegError, match="unknown method"):
        segment(study.suv, method="magic")
