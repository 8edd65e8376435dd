"""The report must look right in a browser: rendered by headless Chromium where it is installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from petseg.api import segment, write_results

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def written(tmp_path_factory, small_phantom):
    out = tmp_path_factory.mktemp("report")
    result = segment(small_phantom.study)
    write_results(result, out, title="test study")
    return out, result


def test_report_is_self_contained_and_complete(written):
    out, result = written
    html = (out / "report.html").read_text()
    assert "<img" in html and 'src="data:image/png;base64,' in html
    assert "http://" not in html and "https://" not in html  # nothing fetched from the network
    for text in ("Research use only", "test study", "Lesions (by SUVmax)", "Processing times", "SUV threshold",
                 "Physiological uptake recognised", "Against the ground truth", "brain"):
        assert text in html, text
    first = result.quantification.lesions[0]
    assert f"<td>{first.suvmax:.2f}</td>" in html


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium): the report "
                    "is not rendered in a browser")
def test_report_renders_in_headless_chromium(written, tmp_path):
    out, _ = written
    screenshot = tmp_path / "report.png"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--window-size=1280,1600",
               f"--screenshot={screenshot}", (out / "report.html").resolve().as_uri()]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    from matplotlib.image import imread

    pixels = imread(str(screenshot))
    assert pixels.shape[0] >= 1600 and pixels.shape[1] >= 1280
    header = pixels[10:60, 10:400, :3]
    assert np.allclose(np.median(header.reshape(-1, 3), axis=0), [0x1F / 255, 0x3A / 255, 0x5F / 255], atol=0.03)
    assert pixels[:, :, :3].std() > 0.1  # a page with content, not a blank screen
    Path(out / "screenshot.png").write_bytes(screenshot.read_bytes())
