"""Cohort summaries: `petseg predict` and `petseg evaluate` write one HTML page, a row per study."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from petseg.cli.main import run
from petseg.data.datalist import load_datalist
from petseg.io.images import Volume, write_volume
from tests.standins import ThresholdEnsemble


@dataclass(frozen=True)
class Broken:
    case: str
    pet: Path
    ct: Path | None = None
    label: Path | None = None


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from petseg.data.phantom import write_phantom_cohort

    return write_phantom_cohort(tmp_path_factory.mktemp("cohort"), n=3, seed=5, negatives=0.0, folds=2)


def _rows(html: str) -> list[str]:
    body = html[html.index('id="studies"'):]
    return re.findall(r"<tr><td.*?</tr>", body, re.S)


def test_predict_writes_a_summary_page(cohort, tmp_path):
    from petseg.cohort.run import predict_cohort

    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"<not an image>")
    studies = [*load_datalist(cohort)["training"], Broken("bad<case>", broken)]
    out = tmp_path / "preds"
    rows = predict_cohort(ThresholdEnsemble(), studies, out)  # type: ignore[arg-type]
    html = (out / "summary.html").read_text()
    cells = _rows(html)
    assert len(cells) == 4 and "bad&lt;case&gt;" in cells[0] and "failed" in cells[0]  # failed studies first
    assert html.count('<img class="thumb"') == 3 and "<script" not in html
    ok = [row for row in rows if row["status"] == "ok"]
    for row, cell in zip(ok, cells[1:], strict=True):
        assert f"<td class=\"text\">{row['case']}</td>" in cell and f"<td>{row['tmtv_ml']:.2f}</td>" in cell
        lesions = json.loads((out / f"{row['case']}.lesions.json").read_text())
        assert f"<td>{lesions['metrics']['dice']:.3f}</td>" in cell  # the truth of the datalist is scored
        assert all("region" in lesion for lesion in lesions["lesions"])
    assert "Dice" in html and "mean Dice" in html


def _mask(points, shape=(8, 8, 8)) -> Volume:
    array = np.zeros(shape, np.uint8)
    for point in points:
        array[point] = 1
    return Volume(array, (2.0, 2.0, 3.0))


def test_evaluate_writes_a_summary_page(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    write_volume(_mask([(1, 1, 1), (5, 5, 5)]), gt / "a.nii.gz")
    write_volume(_mask([(2, 2, 2)]), gt / "b.nii.gz")
    write_volume(_mask([(1, 1, 1), (6, 1, 1)]), pred / "a.nii.gz")
    write_volume(_mask([]), pred / "b.nii.gz")
    (pred / "a.lesions.json").write_text(json.dumps({"totals": {"suvmax": 7.25}}))  # as petseg predict writes it
    page = tmp_path / "metrics.html"
    assert run(["evaluate", "--gt", str(gt), "--pred", str(pred), "-o", str(tmp_path / "m.json"), "--html",
                str(page)]) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    html = page.read_text()
    cells = _rows(html)
    assert len(cells) == 2 and html.count('<img class="thumb"') == 2
    for case, cell in zip(metrics["cases"], cells, strict=True):
        assert f"<td>{case['dice']:.3f}</td>" in cell and f"<td>{case['pred_lesions']}</td>" in cell
        assert f"<td>{case['tp']} of {case['gt_lesions']}</td>" in cell
    assert "<td>7.25</td>" in cells[0] and "<td>n/a</td>" in cells[1]
