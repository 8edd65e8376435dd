from __future__ import annotations

import csv
import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from petseg.cli.main import run
from petseg.data.phantom import write_phantom_cohort
from petseg.errors import PetsegError, PetsegWarning
from petseg.train.state import Best
from petseg.train.trainer import TrainConfig, Trainer

pytestmark = pytest.mark.slow  # trains networks

QUICK = {"training.epochs": "3", "training.steps_per_epoch": "3", "training.patch_size": "[32, 32, 32]",
         "training.validate_every": "1"}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cohort")
    return write_phantom_cohort(folder, n=5, seed=8, negatives=0.2, folds=2)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def config(cohort, cache, out, **changes) -> TrainConfig:
    settings = {"recipe": "tiny_unet", "datalist": cohort, "fold": 0, "out": out, "overrides": {**QUICK},
                "cache_dir": cache, **changes}
    return TrainConfig(**settings)


def test_model_folder_is_self_describing(tmp_path, cohort, cache):
    out = tmp_path / "run"
    Trainer(config(cohort, cache, out)).run()
    for name in ("recipe.yaml", "fingerprint.json", "checkpoint_final.pt", "checkpoint_last.pt", "log.csv",
                 "model.json", "validation.json"):
        assert (out / name).is_file(), name
    model = json.loads((out / "model.json").read_text())
    assert model["recipe"] == "tiny_unet" and model["fold"] == 0 and model["epochs"] == 3 and model["steps"] == 9
    assert set(model["held_out_cases"]).isdisjoint(model["training_cases"]) and model["selection_cases"] == []
    assert model["checkpoint"] == {"rule": "last", "weights": "checkpoint_final.pt", "epoch": 3}
    assert "ct_present" in model["expects"] and model["held_out"]["dice"] == model["held_out"]["dice"]  # not NaN
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3] and all(r["val_dice"] != "" for r in rows)
    assert all(float(r["samples_per_s"]) > 0 for r in rows)
    fingerprint = json.loads((out / "fingerprint.json").read_text())
    assert fingerprint["intensity"]["pet"]["p99.5"] > fingerprint["intensity"]["pet"]["p0.5"]
    assert "model" in torch.load(out / "checkpoint_final.pt", weights_only=True)
    assert json.loads((out / "validation.json").read_text())["weights"] == "checkpoint_final.pt"
    with pytest.raises(PetsegError, match="--resume"):
        Trainer(config(cohort, cache, out)).run()


def test_resume_after_a_kill_matches_an_uninterrupted_run(tmp_path, cohort, cache):
    straight = Trainer(config(cohort, cache, tmp_path / "straight"))
    straight.run()

    def kill(step: int) -> None:
        if step == 7:  # in the middle of the third epoch, after the second epoch's checkpoint
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Trainer(config(cohort, cache, tmp_path / "resumed"), on_step=kill).run()
    assert torch.load(tmp_path / "resumed" / "checkpoint_last.pt", weights_only=True)["epoch"] == 2
    resumed = Trainer(config(cohort, cache, tmp_path / "resumed", resume=True))
    resumed.run()
    for a, b in zip(straight.network.state_dict().values(), resumed.network.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def _ddp_rank(rank: int, world: int, port: int, cohort, cache, out) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    trainer = Trainer(config(cohort, cache, out, device="cpu"))
    trainer.run()
    parameters = {name: p.detach() for name, p in trainer.network.named_parameters()}
    torch.save(parameters, out / f"rank{rank}.pt")  # (batch-norm running statistics stay per rank on CPUs)
    torch.distributed.destroy_process_group()


def test_ddp_with_two_gloo_processes_keeps_ranks_identical(tmp_path, cohort, cache):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "ddp"
    out.mkdir()
    mp.spawn(_ddp_rank, args=(2, port, cohort, cache, out), nprocs=2, join=True)
    zero = torch.load(out / "rank0.pt", weights_only=True)
    one = torch.load(out / "rank1.pt", weights_only=True)
    for key in zero:
        torch.testing.assert_close(zero[key], one[key], rtol=0, atol=0)
    model = json.loads((out / "model.json").read_text())
    assert model["steps"] == 9  # 3 steps an epoch on each rank, each rank a share of the patches


def test_best_checkpoint_is_chosen_on_a_selection_split_not_the_held_out_fold(tmp_path, cohort, cache):
    out = tmp_path / "best"
    Trainer(config(cohort, cache, out, fold=1, overrides={**QUICK, "training.checkpoint": "best",
                                                          "training.selection_fraction": "0.5"})).run()
    model = json.loads((out / "model.json").read_text())
    selection, held_out, training = (set(model[k]) for k in ("selection_cases", "held_out_cases", "training_cases"))
    assert selection and held_out and not (selection & held_out) and not (selection & training)
    assert model["checkpoint"]["rule"] == "best" and model["checkpoint"]["weights"] == "checkpoint_best.pt"
    assert 1 <= model["checkpoint"]["epoch"] <= 3 and "selection split" in model["checkpoint"]["chosen_on"]
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert all(r["select_dice"] != "" and r["val_dice"] != "" for r in rows)


def test_ties_go_to_the_later_epoch():
    best = Best("dice")
    assert best.improves(0.0)
    best.value, best.epoch = 0.0, 1
    assert best.improves(0.0) and not best.improves(float("nan")) and not best.improves(-0.1)
    lowest = Best("fpv_ml", value=5.0, epoch=2)
    assert lowest.improves(5.0) and lowest.improves(1.0) and not lowest.improves(6.0)


def test_fold_all_trains_on_every_study(tmp_path, cohort, cache):
    out = tmp_path / "all"
    Trainer(config(cohort, cache, out, fold="all")).run()
    model = json.loads((out / "model.json").read_text())
    assert len(model["training_cases"]) == 5 and model["held_out_cases"] == [] and model["held_out"] is None
    assert model["fold"] == "all" and not (out / "validation.json").exists()
    with pytest.raises(PetsegError, match="fold 7 holds no study"):
        Trainer(config(cohort, cache, tmp_path / "seven", fold=7)).run()


def test_studies_without_a_usable_ct_train_and_predict(tmp_path, cohort):
    """A PET/CT recipe on a cohort where one study has no CT and one a CT that cannot be read."""
    datalist = json.loads(cohort.read_text())
    for entry in datalist["training"]:
        for key in ("image", "image2", "label"):
            entry[key] = str((cohort.parent / entry[key]).resolve())
    del datalist["training"][0]["image"]  # PET-only
    broken = tmp_path / "broken_ct.nii.gz"
    broken.write_bytes(b"not an image")
    datalist["training"][3]["image"] = str(broken)  # a CT that fails
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps(datalist))
    out = tmp_path / "mixed"
    with pytest.warns(PetsegWarning, match="broken_ct.nii.gz not used"):  # reported; the study goes on PET-only
        Trainer(config(mixed, tmp_path / "cache", out)).run()
    model = json.loads((out / "model.json").read_text())
    assert "ct_present" in model["inputs"] and len(model["training_cases"]) + len(model["held_out_cases"]) == 5
    predictions = tmp_path / "predictions"
    assert run(["--quiet", "predict", "--model", str(out), "--datalist", str(mixed), "--split", "training",
                "-o", str(predictions)]) == 0
    for entry in datalist["training"]:
        assert (predictions / f"{entry['case']}.nii.gz").is_file(), entry["case"]


def test_plan_and_train_commands(tmp_path, cohort, cache, capsys):
    assert run(["plan", "--datalist", str(cohort), "-o", str(tmp_path / "fp.json")]) == 0
    assert json.loads((tmp_path / "fp.json").read_text())["cases"] == 5
    out = tmp_path / "cli"
    assert run(["train", "--recipe", "tiny_unet", "--datalist", str(cohort), "--fold", "1", "-o", str(out),
                "--cache", str(cache), "--param", "training.epochs=1", "--param", "training.steps_per_epoch=2",
                "--param", "training.patch_size=[32, 32, 32]"]) == 0
    assert (out / "model.json").is_file()
    assert run(["train", "--recipe", "nope", "--datalist", str(cohort), "-o", str(tmp_path / "x")]) == 2
    assert "unknown recipe" in capsys.readouterr().err


def test_tiny_recipe_learns_lesions_it_has_not_seen(tmp_path):
    """About two minutes here: 1000 steps on 32 small phantoms (lesions >= 20 mm, above the 6-8 mm grid's
    resolution), scored on the 8 studies of the held-out fold. An untrained network scores ~0.02 (epoch 1)."""
    cohort = write_phantom_cohort(tmp_path / "cohort", n=40, seed=11, negatives=0.1, folds=5, min_lesion_mm=20)
    out = tmp_path / "learn"
    Trainer(TrainConfig(recipe="tiny_unet", datalist=cohort, fold=0, out=out, cache_dir=tmp_path / "cache",
                        overrides={"training.epochs": "10", "training.steps_per_epoch": "100",
                                   "training.patch_size": "[32, 32, 32]", "training.validate_every": "1"})).run()
    rows = list(csv.DictReader((out / "log.csv").open()))
    losses = [float(r["train_loss"]) for r in rows]
    assert losses[-1] < 0.7 * losses[0]  # the loss falls
    # Held out, the trained weights do clearly better than after one epoch (the same validation code scores both).
    assert json.loads((out / "model.json").read_text())["held_out"]["dice"] >= float(rows[0]["val_dice"]) + 0.05


def test_a_full_disk_while_saving_a_checkpoint_is_one_line(tmp_path, monkeypatch):
    import errno
    import io

    from petseg.models.checkpoints import save_checkpoint

    class Full(io.FileIO):
        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("builtins.open", lambda path, mode="r", *a, **k: Full(path, mode))
    with pytest.raises(PetsegError, match=r"no space left on device while writing .*checkpoint_last\.pt"):
        save_checkpoint({"model": {}}, tmp_path / "checkpoint_last.pt")
    assert not (tmp_path / "checkpoint_last.pt").exists()


def test_a_truncated_or_foreign_checkpoint_on_resume_is_one_line(tmp_path, cohort, cache):
    out = tmp_path / "run"
    Trainer(config(cohort, cache, out, overrides={**QUICK, "training.epochs": "1"})).run()
    data = (out / "checkpoint_last.pt").read_bytes()
    (out / "checkpoint_last.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(PetsegError, match="not a petseg checkpoint, or it is truncated") as caught:
        Trainer(config(cohort, cache, out, resume=True)).run()
    assert "weights_only=False" not in str(caught.value)  # never advice to load unsafely
    torch.save({"something": "else"}, out / "checkpoint_last.pt")
    with pytest.raises(PetsegError, match="not a petseg checkpoint"):
        Trainer(config(cohort, cache, out, resume=True)).run()
