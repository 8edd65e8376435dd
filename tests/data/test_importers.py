from __future__ import annotations

import json
from pathlib import Path

import pytest

from petseg.data.importers import import_autopet, import_folder, import_nnunet, patient_of
from petseg.errors import PetsegError


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_autopet_layout(tmp_path):
    for patient, dates in (("PETCT_0af7ffe12a", ["08-12-2005-NA-PET-CT"]),
                           ("PETCT_1b3c", ["01-01-2001-NA", "02-02-2002-NA"])):
        for date in dates:
            for name in ("CTres", "SUV", "SEG", "PET", "CT"):
                touch(tmp_path / patient / date / f"{name}.nii.gz")
    cases = import_autopet(tmp_path)
    assert len(cases) == 3
    assert cases[0].case == "PETCT_0af7ffe12a_08-12-2005-NA-PET-CT"
    assert cases[0].pet.name == "SUV.nii.gz" and cases[0].ct.name == "CTres.nii.gz"
    assert cases[0].label.name == "SEG.nii.gz"
    assert [c.patient for c in cases] == ["PETCT_0af7ffe12a", "PETCT_1b3c", "PETCT_1b3c"]


def test_autopet_missing_file_is_named(tmp_path):
    touch(tmp_path / "PETCT_1" / "d" / "SUV.nii.gz")
    touch(tmp_path / "PETCT_1" / "d" / "CTres.nii.gz")
    with pytest.raises(PetsegError, match=r"1 missing file\(s\): .*SEG\.nii\.gz"):
        import_autopet(tmp_path)
    with pytest.raises(PetsegError, match="folder not found"):
        import_autopet(tmp_path / "nowhere")


def make_nnunet(root: Path, channels: dict[str, str]) -> Path:
    (root / "dataset.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "dataset.json").write_text(json.dumps({"channel_names": channels, "labels": {"background": 0, "lesion": 1},
                                                   "file_ending": ".nii.gz"}), encoding="utf-8")
    for case in ("fdg_0a1b_05-02-2002-NA", "fdg_0a1b_06-03-2003-NA", "psma_ff00_2017-11-03"):
        touch(root / "imagesTr" / f"{case}_0000.nii.gz")
        touch(root / "imagesTr" / f"{case}_0001.nii.gz")
        touch(root / "labelsTr" / f"{case}.nii.gz")
    touch(root / "imagesTs" / "test1_0000.nii.gz")
    touch(root / "imagesTs" / "test1_0001.nii.gz")
    return root


@pytest.mark.parametrize(("channels", "pet_suffix"),
                         [({"0": "CT", "1": "PET"}, "_0001"), ({"0": "PET", "1": "CT"}, "_0000")])
def test_nnunet_channel_order_comes_from_dataset_json(tmp_path, channels, pet_suffix):
    cases = import_nnunet(make_nnunet(tmp_path, channels))
    assert len(cases) == 4
    assert all(c.pet.name.endswith(f"{pet_suffix}.nii.gz") for c in cases)
    assert cases[0].patient == cases[1].patient == "fdg_0a1b"
    assert cases[2].patient == "psma_ff00"
    test = [c for c in cases if c.label is None]
    assert [c.case for c in test] == ["test1"]


def test_nnunet_errors(tmp_path):
    root = make_nnunet(tmp_path, {"0": "CT", "1": "PET"})
    (root / "labelsTr" / "psma_ff00_2017-11-03.nii.gz").unlink()
    with pytest.raises(PetsegError, match=r"missing file.*psma_ff00"):
        import_nnunet(root)
    (root / "dataset.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(PetsegError, match="not valid JSON"):
        import_nnunet(root)
    (root / "dataset.json").write_text(json.dumps({"channel_names": {"0": "MRI"}}), encoding="utf-8")
    with pytest.raises(PetsegError, match="no PET channel"):
        import_nnunet(root)


def test_plain_folder(tmp_path):
    touch(tmp_path / "a" / "SUV.nii.gz")
    touch(tmp_path / "a" / "ct.mha")
    touch(tmp_path / "a" / "label.nrrd")
    touch(tmp_path / "b" / "pet.nii")
    cases = import_folder(tmp_path)
    assert [(c.case, c.pet.name, c.ct and c.ct.name, c.label and c.label.name) for c in cases] == [
        ("a", "SUV.nii.gz", "ct.mha", "label.nrrd"), ("b", "pet.nii", None, None)]


def test_plain_folder_errors(tmp_path):
    touch(tmp_path / "a" / "suv.nii.gz")
    touch(tmp_path / "a" / "pet.nii.gz")
    touch(tmp_path / "b" / "notes.txt")
    with pytest.raises(PetsegError, match=r"2 problem\(s\).*ambiguous.*no PET file"):
        import_folder(tmp_path)


def test_patient_regex():
    assert patient_of("fdg_0a1b_2001", r"^((?:fdg|psma)_[0-9a-f]+)_") == "fdg_0a1b"
    assert patient_of("case7", r"^((?:fdg|psma)_[0-9a-f]+)_") == "case7"
    assert patient_of("sub-03_ses-2", r"^(sub-\d+)") == "sub-03"
