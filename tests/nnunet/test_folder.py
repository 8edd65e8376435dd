"""nnU-Net model folders and zips: recognised, folds chosen, post-processing found, zips unpacked safely once."""

from __future__ import annotations

import os
import zipfile

import pytest

from petseg.errors import PetsegError
from petseg.nnunet.archive import unpack_model_zip
from petseg.nnunet.folder import NnunetOptions, fold_label, is_nnunet_model, not_a_model, open_folder
from tests.nnunet.conftest import fake_model


def test_folders_are_told_apart(tmp_path):
    model = fake_model(tmp_path)
    assert is_nnunet_model(model) and not is_nnunet_model(model.parent) and not is_nnunet_model(tmp_path / "x")
    assert "holds nnU-Net model folders (nnUNetTrainer__nnUNetPlans__3d_fullres)" in str(not_a_model(model.parent))
    (tmp_path / "empty").mkdir()
    assert "neither a petseg model folder" in str(not_a_model(tmp_path / "empty"))


def test_folds_default_to_every_fold_holding_the_checkpoint_fold_all_included(tmp_path):
    model = fake_model(tmp_path, folds=("1", "0", "all", "3"))
    (model / "fold_3" / "checkpoint_final.pth").unlink()  # an unfinished fold
    assert open_folder(model).folds == ("0", "1", "all")
    assert open_folder(model, NnunetOptions(folds=("1", "00"))).folds == ("1", "0")
    with pytest.raises(PetsegError, match=r"fold 3 of .* is missing .*holds fold\(s\) 0, 1, all"):
        open_folder(model, NnunetOptions(folds=("0", "3")))
    with pytest.raises(PetsegError, match=r"no fold_\*/checkpoint_best\.pth"):
        open_folder(model, NnunetOptions(checkpoint="checkpoint_best.pth"))
    with pytest.raises(PetsegError, match="--checkpoint names a file"):
        open_folder(model, NnunetOptions(checkpoint="../x.pth"))


def test_description_names_the_model():
    assert fold_label(("0", "1", "2", "3", "4")) == "folds 0-4"
    assert fold_label(("0", "2")) == "folds 0,2" and fold_label(("all",)) == "fold all"


def test_a_folder_without_plans_says_what_is_missing(tmp_path):
    model = fake_model(tmp_path)
    (model / "plans.json").unlink()
    with pytest.raises(PetsegError, match=r"plans\.json is missing"):
        open_folder(model)
    (model / "plans.json").write_text("{not json")
    with pytest.raises(PetsegError, match="not valid JSON"):
        open_folder(model)
    (model / "plans.json").write_text('{"image_reader_writer": "NibabelIOWithReorient"}')
    with pytest.raises(PetsegError, match="planned with nnU-Net's image reader NibabelIOWithReorient"):
        open_folder(model)


def test_postprocessing_of_exactly_these_folds_else_the_only_one(tmp_path):
    model = fake_model(tmp_path, folds=("0", "1", "2"))
    assert open_folder(model).postprocessing_file() is None
    (model / "crossval_results_folds_0_1_2").mkdir()
    (model / "crossval_results_folds_0_1_2" / "postprocessing.pkl").write_bytes(b"x")
    assert open_folder(model, NnunetOptions(folds=("0",))).postprocessing_file().parent.name.endswith("0_1_2")
    (model / "crossval_results_folds_0").mkdir()
    (model / "crossval_results_folds_0" / "postprocessing.pkl").write_bytes(b"x")
    assert open_folder(model, NnunetOptions(folds=("0",))).postprocessing_file().parent.name.endswith("_0")
    assert open_folder(model, NnunetOptions(folds=("1",))).postprocessing_file() is None  # two others: none chosen


def _zip(model, path, extra=None):
    """What nnUNetv2_export_model_to_zip writes: Dataset.../Trainer__Plans__configuration/..., here of every
    trainer folder of `model`'s dataset."""
    with zipfile.ZipFile(path, "w") as archive:
        for file in model.parent.rglob("*"):
            if file.is_file():
                archive.write(file, file.relative_to(model.parent.parent).as_posix())
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path


def test_a_zip_is_unpacked_once_into_the_cache_keyed_by_its_content(tmp_path, monkeypatch):
    monkeypatch.setenv("PETSEG_CACHE", str(tmp_path / "cache"))
    model = fake_model(tmp_path / "src")
    first = unpack_model_zip(_zip(model, tmp_path / "a.zip"))
    assert first.name == model.name and first.is_relative_to(tmp_path / "cache" / "nnunet")
    (first / "marker").write_text("kept")  # a second unpacking would lose it
    second = open_folder(_zip(model, tmp_path / "renamed.zip"))  # same bytes, another name
    assert second.path == first and (first / "marker").is_file() and second.source.name == "renamed.zip"
    assert [p.name for p in first.parent.parent.iterdir()] == [first.parent.name]  # no staging folder left


@pytest.mark.parametrize("member", ["../evil.txt", "/abs/evil.txt"])
def test_a_zip_reaching_outside_its_folder_is_refused(tmp_path, monkeypatch, member):
    monkeypatch.setenv("PETSEG_CACHE", str(tmp_path / "cache"))
    with pytest.raises(PetsegError, match="would be written outside"):
        unpack_model_zip(_zip(fake_model(tmp_path / "src"), tmp_path / "m.zip", {member: "x"}))
    assert not (tmp_path / "evil.txt").exists()


def test_a_zip_with_a_link_or_several_models_or_none_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("PETSEG_CACHE", str(tmp_path / "cache"))
    model = fake_model(tmp_path / "src")
    path = _zip(model, tmp_path / "link.zip")
    with zipfile.ZipFile(path, "a") as archive:
        info = zipfile.ZipInfo("Dataset990_Fake/link")
        info.external_attr = (0o120777 << 16)
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(PetsegError, match="is a symbolic link"):
        unpack_model_zip(path)
    other = fake_model(tmp_path / "other")
    os.rename(other, model.parent / "nnUNetTrainer__nnUNetPlans__2d")
    with pytest.raises(PetsegError, match="holds 2 nnU-Net model folders; give one of them"):
        unpack_model_zip(_zip(model, tmp_path / "two.zip"))
    with zipfile.ZipFile(tmp_path / "none.zip", "w") as archive:
        archive.writestr("readme.txt", "no model")
    with pytest.raises(PetsegError, match="holds no nnU-Net model folder"):
        unpack_model_zip(tmp_path / "none.zip")
    (tmp_path / "cut.zip").write_bytes(path.read_bytes()[:200])
    with pytest.raises(PetsegError, match="not a zip"):
        unpack_model_zip(tmp_path / "cut.zip")
