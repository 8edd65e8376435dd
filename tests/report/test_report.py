"""What the report tells a reader: acquisition and SUV provenance, warnings, regions and truth per lesion."""

from __future__ import annotations

import csv
import json

import highdicom as hd
import numpy as np
import pytest

from petseg.api import segment, write_results
from petseg.data.study import make_study
from petseg.errors import PetsegWarning
from petseg.io.images import write_volume
from petseg.regions import REGIONS


@pytest.mark.slow
def test_dicom_acquisition_and_warnings_reach_the_report(dicom_result):
    result, out = dicom_result
    html = (out / "report.html").read_text()
    acquisition = html[html.index('id="acquisition"'):html.index("</section>", html.index('id="acquisition"'))]
    for fact in ("petseg-test", "2024-03-05", "Fluorodeoxyglucose", "uptake time</dt><dd>5.0 min", "80 kg",
                 "350.0 MBq", "6586.2 s", "body weight (SUVbw)", "decay-corrected to the scan start",
                 "--weight 80.0, --injection-time 10:55:00"):
        assert fact in acquisition, fact
    data = json.loads((out / "lesions.json").read_text())
    for fragment in ("slice spacing is not uniform", "CT covers", "implausible uptake time 5.0 min"):
        assert any(fragment in message for message in data["warnings"]), fragment
        assert fragment in html[html.index('id="warnings"'):]
    assert data["warnings"] == result.warnings
    assert data["important_warnings"] == ["implausible uptake time 5.0 min (expected 10 min to 5 h): check the "
                                          "injection and scan times (--injection-time)"]
    assert data["warnings"][0] == data["important_warnings"][0]  # what may change the result comes first
    section = html[html.index('id="warnings"'):]
    assert section.index("May change the result (1)") < section.index("implausible uptake") < \
        section.index("Notes (") < section.index("slice spacing is not uniform")
    seg = hd.seg.segread(str(out / "lesions_seg.dcm"))
    assert seg.SeriesDescription == "petseg lesions (suv method)"
    assert [s.SegmentLabel for s in seg.SegmentSequence] == [f"lesion {les['id']}" for les in data["lesions"]]


@pytest.mark.slow
def test_image_input_says_suv_was_taken_as_given_and_collects_warnings(tmp_path, small_phantom):
    suv = small_phantom.study.suv.array.copy()
    suv[0, 0, 0] = np.nan
    suv[:, 40:50, 0] = 1.0  # the body reaching the image border: a truncated field of view
    write_volume(small_phantom.study.suv.with_array(suv), tmp_path / "suv.mha")  # MHA keeps NaN voxels
    with pytest.warns(PetsegWarning):  # still shown as warnings, not only recorded
        result = segment(tmp_path / "suv.mha")
    assert any("NaN/Inf voxel(s) replaced" in w for w in result.warnings)
    assert any("truncated field of view" in w for w in result.warnings)
    written = write_results(result, tmp_path / "out")
    html = written["report.html"].read_text()
    assert "SUV taken as given" in html and "NaN/Inf voxel(s) replaced" in html


@pytest.mark.slow
def test_lesions_carry_a_region_and_their_truth_status(tmp_path, small_phantom):
    study = small_phantom.study
    truth = study.label.array.copy()
    cold = np.argwhere((study.suv.array > 0.3) & (study.suv.array < 1.0) & (truth == 0))[0]
    truth[tuple(slice(c, c + 3) for c in cold)] = 1  # a lesion with no uptake: the SUV method cannot find it
    result = segment(make_study(study.suv, study.ct, study.suv.with_array(truth), {"case": "truth"}))
    notes = result.lesion_notes
    assert set(notes) == {lesion.id for lesion in result.quantification.lesions}
    assert {note["truth"] for note in notes.values()} == {"found", "false positive"}
    assert all(note["region"] in REGIONS for note in notes.values())
    assert result.missed and any(item["volume_ml"] == pytest.approx(27 * study.suv.voxel_ml) for item in result.missed)
    assert len(result.missed) == result.metrics["fn"]
    assert sum(note["truth"] == "false positive" for note in notes.values()) == result.metrics["fp"]
    written = write_results(result, tmp_path)
    data = json.loads(written["lesions.json"].read_text())
    assert data["lesions"][0]["truth"] == notes[1]["truth"] and data["missed_lesions"] == result.missed
    rows = list(csv.DictReader(written["lesions.csv"].open()))
    assert rows[0]["region"] == notes[1]["region"] and rows[0]["truth"] == notes[1]["truth"]
    html = written["report.html"].read_text()
    assert "vs ground truth" in html and '<span class="missed">missed</span>' in html
    assert f'<td class="text">{notes[1]["region"]}</td>' in html


def test_without_truth_no_truth_column(small_phantom):
    bare = make_study(small_phantom.study.suv, small_phantom.study.ct)
    result = segment(bare)
    assert result.missed is None and result.metrics is None
    assert all(set(note) == {"region"} for note in result.lesion_notes.values())


@pytest.mark.slow
def test_demo_report_names_its_ct(tmp_path):
    from petseg.cli.main import run

    out = tmp_path / "demo"
    assert run(["demo", "-o", str(out), "--size", "small"]) == 0
    html = (out / "report.html").read_text()
    assert "PET-only" not in html and str(out / "study" / "ct.nii.gz") in html
    assert (out / "axial.png").read_bytes()[:4] == b"\x89PNG" and 'id="axial"' in html


@pytest.mark.slow
def test_real_dicom_acquisition_block(real_data):
    from petseg.data.dicom_study import load_dicom_study
    from petseg.report.acquisition import acquisition_block
    from petseg.results import study_summary

    with pytest.warns(PetsegWarning, match="not uniform"):
        study = load_dicom_study(real_data / "sts_001_wb_pet_rtstruct" / "pet")
    block = acquisition_block(study_summary(study))
    for fact in ("GE MEDICAL SYSTEMS Discovery ST", "2000-09-07", "FDG -- fluorodeoxyglucose",
                 "uptake time</dt><dd>45.2 min", "71 kg", "388.8 MBq", "6588 s", "BQML x 0.000242903 = SUV",
                 "overridden on the command line</dt><dd>none"):
        assert fact in block, fact
