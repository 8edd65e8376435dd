"""Per-component maxima agree with scipy's (which sorts the whole volume to get them)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from petseg.metrics.components import component_maxima, label_components


def test_component_maxima_equal_scipys():
    rng = np.random.default_rng(3)
    values = rng.normal(size=(30, 30, 30)).astype(np.float32)
    components, count = label_components(values > 1.5)
    assert count > 10
    expected = ndimage.maximum(values, components, index=np.arange(1, count + 1))
    assert np.array_equal(component_maxima(components, count, values), np.asarray(expected, np.float32))
    assert component_maxima(np.zeros((4, 4, 4), np.uint32), 0, values[:4, :4, :4]).size == 0
