from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_hex, to_rgb

from petseg.api import segment
from petseg.report.colours import LESION_COLOURS, REASON_COLOURS, TRUTH_COLOUR
from petseg.report.mip import body_views, physiology_codes, write_mip


def _lab(hex_colour: str) -> np.ndarray:
    """CIELAB (D65) of an sRGB colour."""
    rgb = np.asarray(to_rgb(hex_colour))
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    f = np.cbrt(np.maximum(xyz / np.array([0.95047, 1.0, 1.08883]), (6 / 29) ** 3))
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_reason_colours_never_clash_with_lesions_or_truth():
    lesions = [_lab(to_hex(c)) for c in LESION_COLOURS]
    reasons = {reason: _lab(colour) for reason, colour in REASON_COLOURS.items()}
    for colour in reasons.values():
        assert min(np.linalg.norm(colour - lesion) for lesion in lesions) >= 40
        assert np.linalg.norm(colour - _lab(TRUTH_COLOUR)) >= 65
    names = list(reasons)
    assert min(np.linalg.norm(reasons[a] - reasons[b]) for i, a in enumerate(names) for b in names[i + 1:]) >= 22
    assert set(REASON_COLOURS) == {"brain", "myocardium", "bladder", "kidney", "ureter", "urinary tract", "testis",
                                   "paired gland", "noise speck", "diffuse uptake", "bowel or ureter",
                                   "liver or spleen", "renal collecting system",
                                   "injection site"}  # every reason the SUV method gives


@pytest.mark.slow
def test_mip_shades_suppressed_regions_with_a_legend(tmp_path, small_phantom):
    result = segment(small_phantom.study)
    (coronal, reasons), (sagittal, _) = (physiology_codes(result, view) for view in body_views(result.study.suv))
    assert {"brain", "bladder"} <= set(reasons)
    assert coronal.shape[0] == sagittal.shape[0] and coronal.max() >= 1
    bladder = reasons.index("bladder") + 1
    assert (coronal == bladder).any() and (sagittal == bladder).any()
    path = write_mip(result, tmp_path / "mip.png")
    image = plt.imread(path)
    target = np.array(to_rgb(REASON_COLOURS["bladder"]))
    assert np.any(np.all(np.abs(image[..., :3] - target) < 0.02, axis=-1))  # outline or legend in the colour
    plain = segment(small_phantom.study)
    plain.suppressed = None
    assert write_mip(plain, tmp_path / "plain.png").read_bytes()[:4] == b"\x89PNG"
