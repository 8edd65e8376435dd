"""petseg's nnU-Net predictor against nnU-Net's own (nnUNetPredictor.predict_from_files_sequential on the same
NIfTI files): at gate 0 the same label map voxel for voxel (two folds, a resampled grid, mirroring); at the
default gate the same lesions with fewer windows run; nnU-Net's post-processing and a probability threshold."""

from __future__ import annotations

import numpy as np
import pytest

from petseg.data.study import load_study
from petseg.errors import PetsegError
from petseg.metrics.components import Overlap
from petseg.models.settings import InferenceOptions
from petseg.nnunet.folder import NnunetOptions
from petseg.nnunet.predictor import NnunetPredictor
from tests.nnunet.conftest import nnunet_reference

pytestmark = pytest.mark.slow
NO_MIRRORING = NnunetOptions(mirror_axes=())


def study_of(case, ct=True):
    return load_study(str(case.pet), str(case.ct) if ct else None, str(case.label), tracer="fdg")


def predictor(model, gate=None, nnunet=NO_MIRRORING, **options):
    return NnunetPredictor(model, InferenceOptions(gate_suv=gate, threads=1, **options), nnunet)


@pytest.mark.parametrize("grid", ["grid", "aniso"])
def test_gate_0_is_nnunet_voxel_for_voxel_with_two_folds(tiny, grid):
    case = tiny.cases[grid]
    run = predictor(tiny.petct, gate=0.0).run(study_of(case), 0.0)
    reference = nnunet_reference(tiny.petct, case.channels, (0, 1))
    assert run.windows.run == run.windows.total > 0
    assert (reference > 0).sum() > 100  # the tiny model finds the spheres: the comparison means something
    assert np.array_equal(run.segmentation, reference)


def test_gate_0_is_nnunet_with_mirroring_and_one_fold(tiny):
    case = tiny.cases["small"]
    chosen = predictor(tiny.petct, gate=0.0, nnunet=NnunetOptions(folds=("1",)))  # the checkpoint's axes: xyz
    assert chosen.describe_mirroring() == "xyz"
    run = chosen.run(study_of(case), 0.0)
    assert np.array_equal(run.segmentation, nnunet_reference(tiny.petct, case.channels, (1,), mirroring=True))


@pytest.mark.parametrize("grid", ["grid", "aniso"])
def test_the_default_gate_keeps_nnunets_lesions_with_fewer_windows(tiny, grid):
    case = tiny.cases[grid]
    study = study_of(case)
    gated = predictor(tiny.petct)
    assert gated.window_gate(study) == 1.5 and not gated.gate_core()  # FDG's default, not calibrated: whole windows
    reference = nnunet_reference(tiny.petct, case.channels, (0, 1)) > 0
    runs = {}
    for core in (True, False):
        run = gated.run(study, 1.5, core=core)
        mask = run.segmentation > 0
        overlap = Overlap.of(reference, mask, study.suv.voxel_ml)
        assert 2 * (mask & reference).sum() / (mask.sum() + reference.sum()) >= 0.99
        assert overlap.gt_touched().all()  # no lesion of nnU-Net's mask lost
        runs[core] = run.windows
    assert runs[True].total == runs[False].total
    assert runs[True].run < runs[False].run < (0.6 if grid == "grid" else 0.9) * runs[False].total


def test_postprocessing_and_threshold(tiny):
    from nnunetv2.postprocessing.remove_connected_components import apply_postprocessing

    from petseg.nnunet.runtime import load_postprocessing

    case = tiny.cases["grid"]
    study = study_of(case)
    chosen = predictor(tiny.petct, gate=0.0)
    pp_file = tiny.petct / "crossval_results_folds_0_1" / "postprocessing.pkl"
    assert chosen.postprocessing[0] == pp_file
    reference = nnunet_reference(tiny.petct, case.channels, (0, 1))
    expected = apply_postprocessing(reference, *load_postprocessing(pp_file)) > 0
    prediction = chosen.predict(study)
    assert np.array_equal(prediction.mask.array > 0, expected) and expected.sum() < (reference > 0).sum()
    assert chosen.describe(prediction)["postprocessing"]["file"] == str(pp_file)
    at_half = predictor(tiny.petct, gate=0.0, threshold=0.5).predict(study)
    assert np.array_equal(at_half.mask.array, prediction.mask.array)  # two classes: argmax is p(lesion) > 0.5
    low = predictor(tiny.petct, gate=0.0, threshold=0.05).predict(study)
    assert low.probability is not None and low.mask.array.sum() >= prediction.mask.array.sum()


def test_a_model_needing_a_ct_refuses_a_pet_only_study(tiny):
    with pytest.raises(PetsegError, match=r"needs channel 0 'CT' .* the study has none"):
        predictor(tiny.petct).predict(study_of(tiny.cases["small"], ct=False))


def test_the_anatomy_step_removes_nnunets_components_in_recognised_physiology(tiny, monkeypatch):
    """--anatomy on an nnU-Net model: a component lying in uptake the SUV method recognises (here: the SUV method
    made to call nnU-Net's lesion the bladder) is removed, named in `method.suppressed` and drawn as a label map; one
    only touching that uptake (under half of it inside) stays; --no-anatomy keeps nnU-Net's mask."""
    from petseg.infer.anatomy import Physiology

    study = study_of(tiny.cases["grid"])
    plain = predictor(tiny.petct, gate=0.0, anatomy=False).predict(study)
    lesion = plain.mask.array > 0
    assert lesion.sum() > 2
    forced = predictor(tiny.petct, gate=0.0, anatomy=True)
    monkeypatch.setattr("petseg.infer.anatomy.physiology", lambda _: Physiology(lesion.astype(np.uint16), ["bladder"]))
    cleaned = forced.predict(study)
    method = forced.describe(cleaned)
    assert not cleaned.mask.array.any() and [item["reason"] for item in method["suppressed"]] == ["bladder"]
    assert method["anatomy"] == {"min_fraction": 0.5}
    assert (cleaned.removed.label_map(cleaned.mask).array > 0).sum() == lesion.sum()
    touching = np.zeros(lesion.shape, bool)
    touching[tuple(np.argwhere(lesion)[0])] = True  # one voxel of the lesion in the liver
    monkeypatch.setattr("petseg.infer.anatomy.physiology", lambda _: Physiology(touching.astype(np.uint16), ["liver"]))
    kept = forced.predict(study)
    assert np.array_equal(kept.mask.array > 0, lesion) and forced.describe(kept)["suppressed"] == []
    assert "suppressed" not in predictor(tiny.petct, gate=0.0, anatomy=False).describe(plain)
