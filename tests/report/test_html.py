"""The report must look right in a browser: rendered by headless Chromium where it is installed.

A probe page loads the report in a frame and writes what the browser laid out (boxes, text, decoded
pictures) into its DOM, which Chromium dumps; a screenshot of the report is then checked where the probe
says each part is: the acquisition block, a warning, the MIP's SUV colour bar and an axial panel.
"""

from __future__ import annotations

import html as html_text
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgb

from petseg.api import segment, write_results
from petseg.report.colours import lesion_colour

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
WIDTH = 1280
PROBE = """<!DOCTYPE html><html><head><style>body{margin:0}</style></head><body>
<iframe id="report" src="report.html" style="width:WIDTHpx;height:12000px;border:0;display:block"></iframe>
<pre id="probe">not loaded</pre>
<script>
document.getElementById("report").onload = function () {
  var doc = this.contentDocument, found = {height: Math.ceil(doc.body.getBoundingClientRect().height)};
  [["acquisition", "#acquisition"], ["warnings", "#warnings"], ["mip", "#mip img"], ["axial", "#axial img"]]
    .forEach(function (item) {
      var node = doc.querySelector(item[1]);
      if (!node) { found[item[0]] = null; return; }
      var box = node.getBoundingClientRect();
      found[item[0]] = {box: [box.left, box.top, box.width, box.height], text: node.innerText || "",
                        decoded: node.tagName === "IMG" ? node.complete && node.naturalWidth > 0 : null};
    });
  document.getElementById("probe").textContent = JSON.stringify(found);
};
</script></body></html>
""".replace("WIDTH", str(WIDTH))


@pytest.fixture(scope="module")
def written(tmp_path_factory, small_phantom):
    out = tmp_path_factory.mktemp("report")
    result = segment(small_phantom.study)
    write_results(result, out, title="test study")
    return out, result


@pytest.mark.slow
def test_report_is_self_contained_and_complete(written):
    out, result = written
    html = (out / "report.html").read_text()
    assert "<img" in html and 'src="data:image/png;base64,' in html
    assert "http://" not in html and "https://" not in html and "<script" not in html  # nothing fetched or run
    for text in ("Research use only", "test study", "Lesions (by SUVmax)", "Processing times", "SUV threshold",
                 "Physiological uptake recognised", "Against the ground truth", "brain", "Acquisition and SUV"):
        assert text in html, text
    first = result.quantification.lesions[0]
    assert f"<td>{first.suvmax:.2f}</td>" in html


def test_strings_are_escaped(small_phantom, tmp_path):
    result = segment(small_phantom.study)
    result.warnings = ["<script>alert(1)</script> & more"]
    written = write_results(result, tmp_path, title="<b>case</b>")
    html = written["report.html"].read_text()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html
    assert "<b>case</b>" not in html and "&lt;b&gt;case&lt;/b&gt;" in html


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--hide-scrollbars", *args]
    return subprocess.run(command, check=True, capture_output=True, timeout=120, text=True)


def _probe(report: Path, tmp_path: Path) -> dict:
    """What Chromium laid out: boxes (CSS px), text and whether the pictures decoded."""
    (report.parent / "probe.html").write_text(PROBE)
    dom = _chromium(tmp_path / "probe-profile", "--allow-file-access-from-files", "--virtual-time-budget=10000",
                    "--dump-dom", (report.parent / "probe.html").resolve().as_uri()).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found and found.group(1) != "not loaded", "the probe did not run"
    return json.loads(html_text.unescape(found.group(1)))


def _crop(pixels: np.ndarray, box: list[float]) -> np.ndarray:
    left, top, width, height = (round(v) for v in box)
    return pixels[top:top + height, left:left + width, :3]


def _has_colour_bar(picture: np.ndarray) -> bool:
    """A column in the right part of the MIP that darkens steadily upwards over much of the height: the bar."""
    grey = picture.mean(axis=2)
    for column in range(int(grey.shape[1] * 0.8), grey.shape[1]):
        profile = grey[:, column]
        steps = np.diff(profile)
        run, best = 0, 0
        for step in steps:
            run = run + 1 if -0.002 <= step <= 0.02 else 0
            best = max(best, run)
        if best > 0.5 * grey.shape[0] and np.ptp(profile) > 0.8:
            return True
    return False


def need_chromium() -> None:
    """Skip without Chromium, except in CI (the CI environment variable set), where its absence is a failure."""
    if CHROMIUM is not None:
        return
    why = "Chromium is not installed (.ci/install-chromium, or apt-get install chromium): the report is not rendered"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and {why}")
    pytest.skip(why)


def test_report_renders_in_headless_chromium(dicom_result, tmp_path):
    need_chromium()
    result, out = dicom_result
    layout = _probe(out / "report.html", tmp_path)
    screenshot = tmp_path / "report.png"
    _chromium(tmp_path / "profile", f"--window-size={WIDTH},{int(layout['height'])}", f"--screenshot={screenshot}",
              (out / "report.html").resolve().as_uri())
    from matplotlib.image import imread

    pixels = imread(str(screenshot))
    assert pixels.shape[1] == WIDTH and pixels.shape[0] >= layout["height"] - 1
    header = pixels[10:60, 10:400, :3]
    assert np.allclose(np.median(header.reshape(-1, 3), axis=0), [0x1F / 255, 0x3A / 255, 0x5F / 255], atol=0.03)
    acquisition = layout["acquisition"]
    assert "uptake time" in acquisition["text"] and "5.0 min" in acquisition["text"]
    assert "petseg-test" in acquisition["text"] and acquisition["box"][3] > 150
    warning = layout["warnings"]
    assert "slice spacing is not uniform" in warning["text"]
    amber = np.median(_crop(pixels, warning["box"]).reshape(-1, 3), axis=0)
    assert np.allclose(amber, to_rgb("#fff8e1"), atol=0.03)  # the warning block shows in its colour
    assert layout["mip"]["decoded"] and _has_colour_bar(_crop(pixels, layout["mip"]["box"]))
    assert layout["axial"]["decoded"] and layout["axial"]["box"][3] > 100
    axial = _crop(pixels, layout["axial"]["box"])
    largest = max(result.quantification.lesions, key=lambda lesion: lesion.volume_ml)
    outline = np.abs(axial - np.array(to_rgb(lesion_colour(largest.id)))).max(axis=2) < 0.12
    assert outline.sum() > 20  # the largest lesion's outline is drawn in its colour
    Path(out / "screenshot.png").write_bytes(screenshot.read_bytes())


def test_without_chromium_ci_fails_and_elsewhere_skips(monkeypatch):
    monkeypatch.setattr(f"{__name__}.CHROMIUM", None)
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI is set and Chromium is not installed"):
        need_chromium()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="Chromium is not installed"):
        need_chromium()
