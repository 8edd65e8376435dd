from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from petseg.data.datalist import (
    CaseFiles,
    assign_folds,
    build_datalist,
    load_datalist,
    select,
    write_datalist,
)
from petseg.errors import PetsegError


def cohort(n_patients=40, seed=0):
    rng = np.random.default_rng(seed)
    patients, positive = [], []
    for p in range(n_patients):
        visits = int(rng.integers(1, 4))
        patients += [f"P{p}"] * visits
        positive += [bool(rng.random() < 0.6)] * visits
    return patients, positive


def test_folds_never_split_a_patient_and_are_balanced():
    patients, positive = cohort()
    folds = assign_folds(patients, positive, 5, seed=3)
    by_patient = defaultdict(set)
    for patient, fold in zip(patients, folds, strict=True):
        by_patient[patient].add(fold)
    assert all(len(f) == 1 for f in by_patient.values())
    totals = Counter(folds)
    pos = Counter(f for f, p in zip(folds, positive, strict=True) if p)
    neg = Counter(f for f, p in zip(folds, positive, strict=True) if not p)
    assert set(totals) == set(range(5))
    assert max(totals.values()) - min(totals.values()) <= 3
    assert max(pos.values()) - min(pos.values()) <= 3
    assert max(neg.values()) - min(neg.values()) <= 3


def test_folds_are_deterministic_and_seed_dependent():
    patients, positive = cohort()
    assert assign_folds(patients, positive, 5, 1) == assign_folds(patients, positive, 5, 1)
    assert assign_folds(patients, positive, 5, 1) != assign_folds(patients, positive, 5, 2)


def test_too_few_patients_for_the_folds():
    with pytest.raises(PetsegError, match="cannot make 5 folds from 2 patient"):
        assign_folds(["a", "a", "b"], [True, False, True], 5)


def make_cases(root: Path, n=6, with_labels=True) -> list[CaseFiles]:
    cases = []
    for i in range(n):
        d = root / "cases" / f"c{i}"
        d.mkdir(parents=True)
        for name in ("ct.nii.gz", "suv.nii.gz", "label.nii.gz"):
            (d / name).write_bytes(b"")
        cases.append(CaseFiles(f"c{i}", f"p{i // 2}", d / "suv.nii.gz", d / "ct.nii.gz",
                               d / "label.nii.gz" if with_labels or i % 2 else None))
    return cases


def test_datalist_round_trip_with_relative_paths(tmp_path):
    cases = make_cases(tmp_path)
    data = build_datalist(cases, tmp_path / "lists", n_folds=3, positive=[True, False] * 3)
    assert data["training"][0]["image"] == "../cases/c0/ct.nii.gz"
    assert data["training"][0]["image2"] == "../cases/c0/suv.nii.gz"
    write_datalist(data, tmp_path / "lists" / "d.json")
    loaded = load_datalist(tmp_path / "lists" / "d.json")
    entry = loaded["training"][0]
    assert entry.pet.resolve() == cases[0].pet.resolve()
    assert entry.ct.resolve() == cases[0].ct.resolve()
    assert {e.fold for e in loaded["training"]} == {0, 1, 2}
    fold = select(loaded, "fold:1")
    assert fold and all(e.fold == 1 for e in fold)
    with pytest.raises(PetsegError, match="unknown split"):
        select(loaded, "validation")


def test_unlabelled_cases_go_to_testing(tmp_path):
    cases = make_cases(tmp_path, with_labels=False)
    data = build_datalist(cases, tmp_path, n_folds=2, positive=[True] * 6)
    assert len(data["training"]) == 3 and len(data["testing"]) == 3
    assert "label" not in data["testing"][0] and "fold" not in data["testing"][0]


def test_duplicate_cases_and_bad_json_are_clear_errors(tmp_path):
    cases = make_cases(tmp_path, n=2)
    with pytest.raises(PetsegError, match="duplicate case"):
        build_datalist([cases[0], cases[0]], tmp_path, 2, positive=[True, True])
    bad = tmp_path / "bad.json"
    bad.write_text('{"training": [', encoding="utf-8")
    with pytest.raises(PetsegError, match=r"not valid JSON.*line 1"):
        load_datalist(bad)
    (tmp_path / "other.json").write_text(json.dumps({"foo": 1}), encoding="utf-8")
    with pytest.raises(PetsegError, match="not a datalist"):
        load_datalist(tmp_path / "other.json")
    with pytest.raises(PetsegError, match="file not found"):
        load_datalist(tmp_path / "missing.json")


def test_positives_are_read_from_labels(tmp_path):
    from petseg.io.images import Volume, write_volume

    cases = []
    for i, value in enumerate((0, 1, 0, 1)):
        array = np.zeros((4, 4, 4), np.uint8)
        array[1, 1, 1] = value
        label = write_volume(Volume(array, (1, 1, 1)), tmp_path / f"l{i}.nii.gz")
        cases.append(CaseFiles(f"c{i}", f"p{i}", tmp_path / "pet.nii.gz", None, label))
    data = build_datalist(cases, tmp_path, n_folds=2)
    assert [e["positive"] for e in data["training"]] == [False, True, False, True]
    assert "image" not in data["training"][0]
    assert sorted(Counter(e["fold"] for e in data["training"] if e["positive"]).values()) == [1, 1]


def test_merged_datalists_keep_folds_and_patients_and_record_their_source(tmp_path):
    from petseg.cli.main import run
    from petseg.data.datalist import merge_datalists

    def write(folder, cases, ct=False, testing=()):
        training = [{"case": case, "patient": patient, "image2": f"{case}/suv.nii.gz", "label": f"{case}/label.nii.gz",
                     "positive": True, "fold": fold, **({"image": f"{case}/ct.nii.gz"} if ct else {})}
                    for case, patient, fold in cases]
        folder.mkdir(parents=True)
        (folder / "datalist.json").write_text(json.dumps({
            "training": training, "testing": [{"case": case, "image2": f"{case}/suv.nii.gz"} for case in testing]}))
        return folder / "datalist.json"

    crops = write(tmp_path / "crops", [("c1", "p1", 0), ("c2", "p1", 0), ("c3", "p2", 1)], testing=["t1"])
    bodies = write(tmp_path / "bodies", [("b1", "p1", 1), ("b2", "p3", 0)], ct=True)
    out = tmp_path / "merged" / "datalist.json"
    assert run(["datalist", "--merge", str(crops), "--merge", str(bodies), "-o", str(out)]) == 0
    merged = load_datalist(out)
    by_case = {e.case: e for e in merged["training"]}
    assert {c: (e.patient, e.fold, e.source) for c, e in by_case.items()} == {
        "c1": ("crops:p1", 0, "crops"), "c2": ("crops:p1", 0, "crops"), "c3": ("crops:p2", 1, "crops"),
        "b1": ("bodies:p1", 1, "bodies"), "b2": ("bodies:p3", 0, "bodies")}  # p1 of each source stays apart
    assert by_case["b1"].ct.resolve() == (tmp_path / "bodies" / "b1" / "ct.nii.gz").resolve()
    assert [e.case for e in merged["testing"]] == ["t1"]
    with pytest.raises(PetsegError, match="share case name"):
        merge_datalists([crops, crops], tmp_path)
