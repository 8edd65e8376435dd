"""Bad nnU-Net models and options on the command line: one line each, exit 2, nothing written."""

from __future__ import annotations

import subprocess
import sys

import pytest

from petseg.cli.common import join_fold_values
from petseg.cli.main import run
from tests.nnunet.conftest import fake_model, one_line_error, write_case


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return write_case(tmp_path_factory.mktemp("case"), 7, (24, 24, 24), (4.0, 4.0, 4.0))


def segment(case, out, *model_args):
    return run(["segment", "--pet", str(case.pet), "--ct", str(case.ct), "-o", str(out), *model_args])


def test_a_folder_that_is_neither_kind_is_one_line(tmp_path, case, capsys):
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "model.pt").write_bytes(b"x")
    assert segment(case, tmp_path / "out", "--model", str(tmp_path / "weights")) == 2
    assert "neither a petseg model folder (recipe.yaml, model.json) nor an nnU-Net v2 model folder" in \
        one_line_error(capsys)
    assert not (tmp_path / "out").exists()


def test_a_missing_fold_is_one_line(tmp_path, case, capsys):
    model = fake_model(tmp_path)
    assert segment(case, tmp_path / "out", "--model", str(model), "--folds", "0", "3") == 2
    assert "fold 3 of" in one_line_error(capsys)


def test_a_truncated_checkpoint_is_one_line(tmp_path, case, capsys):
    pytest.importorskip("nnunetv2")
    model = fake_model(tmp_path, checkpoint=b"PK\x03\x04 truncated")
    assert segment(case, tmp_path / "out", "--model", str(model)) == 2
    assert "fold_0/checkpoint_final.pth cannot be loaded as an nnU-Net checkpoint" in one_line_error(capsys)


def test_a_missing_nnunetv2_is_one_line(tmp_path, case, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "nnunetv2.inference.predict_from_raw_data", None)
    assert segment(case, tmp_path / "out", "--model", str(fake_model(tmp_path))) == 2
    assert "needs nnunetv2" in one_line_error(capsys)


def test_a_channel_petseg_cannot_feed_is_one_line(tmp_path, case, capsys):
    model = fake_model(tmp_path, channels={"0": "T1", "1": "PET"})
    assert segment(case, tmp_path / "out", "--model", str(model)) == 2
    assert "channel 0 is 'T1'; petseg gives nnU-Net models a CT" in one_line_error(capsys)


def test_kinds_are_not_mixed_and_nnunet_options_need_an_nnunet_model(tmp_path, case, capsys):
    petseg_model = tmp_path / "petseg_run"
    petseg_model.mkdir()
    (petseg_model / "recipe.yaml").write_text("name: tiny_unet\n")
    nnunet_model = fake_model(tmp_path)
    assert segment(case, tmp_path / "o1", "--model", str(nnunet_model), "--model", str(petseg_model)) == 2
    assert "mixes nnU-Net models" in one_line_error(capsys)
    assert segment(case, tmp_path / "o2", "--model", str(nnunet_model), "--model", str(nnunet_model)) == 2
    assert "give one nnU-Net model" in one_line_error(capsys)
    assert segment(case, tmp_path / "o3", "--model", str(petseg_model), "--folds", "0") == 2
    assert "--folds and --checkpoint apply to nnU-Net model folders" in one_line_error(capsys)
    assert segment(case, tmp_path / "o4", "--model", str(nnunet_model), "--ensemble", "vote") == 2
    assert "--ensemble vote applies to petseg models only" in one_line_error(capsys)
    assert segment(case, tmp_path / "o6", "--model", str(nnunet_model), "--suv-outline") == 2
    assert "--suv-outline applies to petseg models only" in one_line_error(capsys)
    assert segment(case, tmp_path / "o5", "--model", str(nnunet_model), "--tta", "xq") == 2
    assert "--tta takes axes among x, y, z" in one_line_error(capsys)


def test_folds_are_written_as_nnunet_writes_them():
    assert join_fold_values(["predict", "--folds", "0", "1", "all", "--model", "m"]) == \
        ["predict", "--folds", "0,1,all", "--model", "m"]
    assert join_fold_values(["--threads", "2", "3"]) == ["--threads", "2", "3"]  # other options are left alone


def test_the_cli_does_not_import_nnunetv2_until_an_nnunet_model_runs():
    code = ("import sys; from petseg.cli.main import run; run(['segment', '--help']); run(['predict', '--help']); "
            "print('nnunetv2' in sys.modules, any(m.startswith('petseg.nnunet.') for m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "False False"
