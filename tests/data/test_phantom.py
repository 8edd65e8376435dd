from __future__ import annotations

import filecmp

import cc3d
import numpy as np
import pytest

from petseg.data.datalist import load_datalist
from petseg.data.phantom import make_phantom_study, write_phantom_cohort
from petseg.data.phantom.generate import plan_cohort, psf_noise_gain
from petseg.data.phantom.grid import Grid
from petseg.errors import PetsegError


def test_label_holds_exactly_the_placed_lesions(small_phantom):
    study = small_phantom.study
    components, count = cc3d.connected_components(study.label.array, connectivity=18, return_N=True)
    assert count == len(small_phantom.lesions) >= 5
    voxel_ml = study.suv.voxel_ml
    sizes = np.bincount(components.ravel())[1:] * voxel_ml
    for lesion in small_phantom.lesions:
        index = np.rint(study.suv.physical_to_index(np.array(lesion.center_mm))).astype(int)
        component = components[tuple(index)]
        assert component > 0, f"lesion {lesion.id} centre is not labelled"
        assert sizes[component - 1] == pytest.approx(lesion.volume_ml, abs=1e-6)
        inside = study.suv.array[components == component]
        assert inside.max() == pytest.approx(lesion.suvmax, abs=0.01)


def test_geometry_and_tissue_values(small_phantom):
    study = small_phantom.study
    assert study.suv.shape == (122, 96, 96) and study.suv.spacing == (6.0, 6.0, 8.0)
    assert study.suv.array.dtype == np.float32 and study.suv.array.min() >= 0
    assert study.ct.same_grid(study.suv) and study.label.same_grid(study.suv)
    ct = study.ct.array
    assert ct.min() >= -1024 and np.median(ct[0:2, 0:2, 0:2]) < -950  # air in the corner
    assert np.percentile(ct, 99.9) > 500  # bone
    organs = small_phantom.organs
    for organ in ("brain", "liver", "lung", "kidney", "bladder", "myocardium", "spleen", "bowel", "marrow"):
        assert organs[organ]["volume_ml"] > 0, organ
    assert 1200 < organs["brain"]["volume_ml"] < 2500
    assert 1500 < organs["liver"]["volume_ml"] < 3000
    assert Grid.of_size("full").shape == (326, 400, 400)
    assert Grid.of_size("full").spacing == (2.0364, 2.0364, 3.0)
    with pytest.raises(PetsegError, match="unknown phantom size"):
        make_phantom_study(size="huge")


def test_medium_grid_holds_the_same_body():
    medium = make_phantom_study(seed=1, patient=0, size="medium", n_lesions=3)
    assert medium.study.suv.shape == (196, 144, 144) and medium.study.suv.spacing == (4.0, 4.0, 5.0)
    assert 1200 < medium.organs["brain"]["volume_ml"] < 2500 and len(medium.lesions) == 3


def test_physiological_uptake_is_hotter_than_some_lesions():
    hotter = 0
    for patient in range(4):
        phantom = make_phantom_study(seed=5, patient=patient, n_lesions=8)
        physiological = max(phantom.organs[o]["suv"] for o in ("brain", "bladder", "myocardium", "kidney_urine"))
        hotter += sum(lesion.suvmax < physiological for lesion in phantom.lesions)
    assert hotter >= 4


def test_psma_uptake_pattern():
    phantom = make_phantom_study(seed=2, tracer="psma", n_lesions=4)
    organs = phantom.organs
    assert organs["salivary"]["suv"] > 10 and organs["kidney"]["suv"] > 20
    assert organs["brain"]["suv"] < 0.5
    assert {lesion.site for lesion in phantom.lesions} <= {"prostate_bed", "lymph_node", "bone"}


def test_negative_study_has_an_empty_label():
    phantom = make_phantom_study(seed=0, patient=3, n_lesions=0)
    assert phantom.lesions == [] and phantom.study.label.array.sum() == 0


def test_min_lesion_size_keeps_lesions_above_the_grid_resolution():
    plain = make_phantom_study(seed=5, n_lesions=12)
    large = make_phantom_study(seed=5, n_lesions=12, min_lesion_mm=20)
    assert min(lesion.diameter_mm for lesion in plain.lesions) < 20
    assert large.lesions and min(lesion.diameter_mm for lesion in large.lesions) >= 20


def test_noise_level_matches_the_model():
    # White noise blurred by the PSF keeps this fraction of its standard deviation.
    assert psf_noise_gain((0.0, 0.0, 0.0)) == pytest.approx(1.0)
    assert 0.05 < psf_noise_gain((1.0, 1.4, 1.4)) < 0.2


@pytest.mark.slow
def test_same_seed_same_bytes_and_patient_grouped_datalist(tmp_path):
    first = write_phantom_cohort(tmp_path / "a", n=6, seed=11, negatives=0.34, folds=3)
    second = write_phantom_cohort(tmp_path / "b", n=6, seed=11, negatives=0.34, folds=3)
    names = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(names) == 6 * 4 + 1
    for name in names:
        assert filecmp.cmp(tmp_path / "a" / name, tmp_path / "b" / name, shallow=False), name
    datalist = load_datalist(first)["training"]
    assert len(datalist) == 6 and second.name == "datalist.json"
    assert sum(not e.positive for e in datalist) == 2
    folds_of = {}
    for entry in datalist:
        folds_of.setdefault(entry.patient, set()).add(entry.fold)
    assert all(len(f) == 1 for f in folds_of.values())
    label = (tmp_path / "a" / datalist[0].case / "label.nii.gz")
    assert label.exists()


def test_different_seeds_differ():
    a = make_phantom_study(seed=1, patient=0, n_lesions=3)
    b = make_phantom_study(seed=2, patient=0, n_lesions=3)
    assert not np.array_equal(a.study.suv.array, b.study.suv.array)


def test_follow_up_keeps_the_anatomy():
    base = make_phantom_study(seed=4, patient=1, visit=0, n_lesions=2)
    follow = make_phantom_study(seed=4, patient=1, visit=1, n_lesions=2)
    assert base.organs["liver"]["volume_ml"] == follow.organs["liver"]["volume_ml"]
    assert not np.array_equal(base.study.label.array, follow.study.label.array)


def test_cohort_plan_and_bad_arguments():
    plan = plan_cohort(20, seed=0, negatives=0.25)
    assert len(plan) == 20 and sum(neg for _, _, neg in plan) == 5
    assert any(visit == 1 for _, visit, _ in plan)
    with pytest.raises(PetsegError):
        plan_cohort(0, 0, 0.2)
    with pytest.raises(PetsegError):
        plan_cohort(3, 0, 1.5)
    with pytest.raises(PetsegError, match="unknown tracer"):
        make_phantom_study(tracer="fluciclovine")


@pytest.mark.slow
def test_fewer_patients_than_folds_gives_fewer_folds_and_says_so(tmp_path, capsys):
    from petseg.cli.main import run

    assert len({patient for patient, _, _ in plan_cohort(6, 1, 0.2)}) == 4
    assert run(["phantom", "-o", str(tmp_path / "c"), "-n", "6", "--seed", "1", "--folds", "5"]) == 0
    assert "6 studies of 4 patient(s) make 4 fold(s), not 5" in capsys.readouterr().err
    folds = [e.fold for e in load_datalist(tmp_path / "c" / "datalist.json")["training"]]
    assert sorted(set(folds)) == [0, 1, 2, 3]  # no empty fold
