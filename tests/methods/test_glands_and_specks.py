"""Glands only as symmetric pairs, never a single node; noise specks are not lesions, small nodes stay."""

from __future__ import annotations

import numpy as np

from petseg.methods.suv import segment_suv
from tests.methods.bodies import found, standard_body

NODE = (-40, 10, -225)  # 2.6 ml, SUVmax about 7, level II, near the mirror image of the left tonsil


def test_a_single_node_at_a_gland_site_is_a_lesion_and_the_tonsils_are_a_pair():
    body = standard_body(10)
    body.node(NODE, 2.6, 7.0)
    study = body.study()
    result = segment_suv(study)
    assert found(study, result.mask.array, NODE)
    glands = [item["centroid_mm"] for item in result.suppressed if item["reason"] == "paired gland"]
    tonsils = [c for c in glands if abs(abs(c[0]) - 16) < 5 and abs(c[2] + 215) < 5]
    assert len(tonsils) == 2 and sorted(np.sign(c[0]) for c in tonsils) == [-1, 1]
    assert all(np.linalg.norm(np.subtract(c, NODE)) > 10 for c in glands)


def test_noise_specks_are_dropped_and_a_small_node_stays():
    body = standard_body(11, noise=0.3)  # a noisy reconstruction: many grains at liver-level uptake
    body.node(NODE, 2.6, 7.0)
    study = body.study()
    result = segment_suv(study)
    assert found(study, result.mask.array, NODE)
    specks = [item for item in result.suppressed if item["reason"] == "noise speck"]
    assert len(specks) > 20 and max(item["volume_ml"] for item in specks) <= 1.0
    false_positive = (result.mask.array > 0) & (study.label.array == 0)
    assert false_positive.sum() * study.suv.voxel_ml < 2.0
    assert all(item["suvmax"] < 3.0 + 5.0 * 0.6 for item in specks)
    assert np.max(study.suv.array[study.label.array > 0]) > 6.0
