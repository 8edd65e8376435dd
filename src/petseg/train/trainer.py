"""`petseg train`: one fold of a recipe, from a datalist to a self-describing model folder.

The same code runs on one CPU, one GPU, or several GPUs and nodes under `torchrun` (DDP: NCCL on GPUs,
gloo on CPUs; each rank draws its own share of every epoch's patches; rank 0 alone writes files).
Restartable: the last checkpoint (model, optimiser, scheduler, scaler, RNG, epoch, best metric) is
written atomically after every epoch, and every epoch's patches depend only on (seed, epoch), so
`--resume` after a kill continues exactly where the last finished epoch left off.
"""

from __future__ import annotations

import csv
import datetime
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader, Subset

from petseg import __version__
from petseg.console import debug, info, track
from petseg.data.cache import build_cache
from petseg.data.datalist import DatalistEntry, load_datalist, split_fold
from petseg.device import cpu_supports_bf16, pick_device
from petseg.errors import PetsegError
from petseg.io.atomic import atomic_path, write_json_atomic, write_text_atomic
from petseg.models.networks import build_network, count_parameters
from petseg.train.fingerprint import fingerprint as compute_fingerprint
from petseg.train.losses import build_loss
from petseg.train.optim import build_optimizer, build_scheduler
from petseg.train.recipe import load_recipe, zyx
from petseg.train.sampling import PatchDataset
from petseg.train.step import training_step
from petseg.train.validation import HIGHER_IS_BETTER, validate


@dataclass
class TrainConfig:
    """What `petseg train` was asked to do."""

    recipe: str
    datalist: Path
    fold: int
    out: Path
    overrides: dict[str, str] | None = None
    cache_dir: Path | None = None
    resume: bool = False
    seed: int = 0
    device: str = "auto"
    workers: int = 0
    bf16: bool = False
    stage1_dir: Path | None = None  # a cascade's stage-2 recipe: the stage-1 masks, <case>.nii.gz


def _distributed() -> tuple[int, int]:
    """(rank, world size), initialising the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=30))
    return (torch.distributed.get_rank(), world) if world > 1 else (0, 1)


class Trainer:
    """Trains one fold; `on_step(step)` is called after every optimiser step (tests use it)."""

    def __init__(self, config: TrainConfig, on_step: Callable[[int], None] | None = None) -> None:
        self.config, self.on_step = config, on_step
        self.rank, self.world = _distributed()
        self.device = pick_device(config.device, self.rank)
        self.out = Path(config.out)
        if config.resume and (self.out / "recipe.yaml").exists():
            self.recipe = yaml.safe_load((self.out / "recipe.yaml").read_text(encoding="utf-8"))
        else:
            self.recipe = load_recipe(config.recipe, config.overrides)
        self.training = self.recipe["training"]
        self.patch = zyx(self.training["patch_size"])
        if ("stage1" in self.recipe["inputs"]) != (config.stage1_dir is not None):
            raise PetsegError("a cascade's stage-2 recipe (input stage1) needs --stage1 DIR with the stage-1 masks, "
                              "and only such a recipe takes one")

    # -- data -------------------------------------------------------------------------------------------
    def _split(self) -> tuple[list[DatalistEntry], list[DatalistEntry]]:
        training, validation = split_fold(load_datalist(self.config.datalist)["training"], self.config.fold)
        if self.training.get("positives_only"):
            training = [e for e in training if e.positive is not False]
        if not training:
            raise PetsegError(f"fold {self.config.fold} leaves no lesion-positive training study")
        return training, validation

    def _fingerprint(self, entries: list[DatalistEntry]) -> dict[str, Any]:
        path = self.out / "fingerprint.json"
        if self.rank == 0 and not path.exists():
            write_json_atomic(path, compute_fingerprint(entries, self.config.seed))
        self._barrier()
        return json.loads(path.read_text(encoding="utf-8"))

    def _barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()

    # -- run ----------------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Train; returns the best validation metric (and where it was reached)."""
        config = self.config
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            if not config.resume and (self.out / "checkpoint_last.pt").exists():
                raise PetsegError(f"{self.out} already holds a training run; add --resume to continue it")
            write_text_atomic(self.out / "recipe.yaml", yaml.safe_dump(self.recipe, sort_keys=False))
        self._barrier()
        training_entries, validation_entries = self._split()
        fingerprint = self._fingerprint(training_entries)
        cache_root = Path(config.cache_dir or self.out / "cache")
        stage1 = config.stage1_dir
        if self.rank == 0:
            build_cache(training_entries + validation_entries, self.recipe, fingerprint, cache_root, stage1)
        self._barrier()
        training_cases = build_cache(training_entries, self.recipe, fingerprint, cache_root, stage1)
        validation_cases = build_cache(validation_entries, self.recipe, fingerprint, cache_root, stage1)

        torch.manual_seed(config.seed)
        network = build_network(self.recipe["network"], len(self.recipe["inputs"])).to(self.device)
        loss = build_loss(self.recipe["loss"], float(np.mean(fingerprint["spacing_mm"]["median"]))).to(self.device)
        optimizer = build_optimizer(self.recipe["optimizer"], [*network.parameters(), *loss.parameters()])
        batch = int(self.training.get("batch_size", 2))
        steps = int(self.training.get("steps_per_epoch") or max(len(training_cases) * int(
            self.training.get("patches_per_volume", 1)) // (batch * self.world), 1))
        epochs = int(self.training["epochs"])
        scheduler = build_scheduler(self.recipe["scheduler"], optimizer, epochs, steps)
        per_step_schedule = not isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
        use_amp = bool(self.training.get("amp")) and self.device.type == "cuda"
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
        autocast_dtype = torch.float16 if use_amp else None
        if config.bf16 and self.device.type == "cpu":
            if cpu_supports_bf16():
                autocast_dtype = torch.bfloat16
            else:
                info("this CPU has no native bfloat16 (avx512_bf16); training in float32")
        self.network = network  # the trained network, for callers that keep working in memory
        if self.world > 1 and self.device.type == "cuda":
            network = nn.SyncBatchNorm.convert_sync_batchnorm(network)  # batch statistics over all GPUs
            self.network = network
        model = nn.parallel.DistributedDataParallel(network) if self.world > 1 else network
        select_by = str(self.training.get("select_by", "dice"))
        state = {"epoch": 0, "step": 0, "skipped": 0, "best": {"metric": select_by, "value": None, "epoch": None}}
        if config.resume:
            state = self._restore(network, loss, optimizer, scheduler, scaler, state)
        dataset = PatchDataset(training_cases, self.patch, float(self.training.get("positive_fraction", 0.5)),
                               self.recipe.get("augment"), config.seed, steps * batch * self.world,
                               float(self.training.get("oversample_positives", 1.0)),
                               self.recipe["inputs"].index("stage1") if "stage1" in self.recipe["inputs"] else None)
        shard = Subset(dataset, list(range(self.rank, len(dataset), self.world)))
        pet_channel = self.recipe["inputs"].index("pet") if "pet" in self.recipe["inputs"] else 0
        if self.rank == 0:
            info(f"training {self.recipe['name']} fold {config.fold}: {len(training_cases)} training and "
                 f"{len(validation_cases)} validation studies, {count_parameters(network) / 1e6:.2f} M parameters, "
                 f"{epochs} epochs x {steps} steps, batch {batch} x {self.world} rank(s) on {self.device}")
        writer = self._tensorboard() if self.rank == 0 else None
        for epoch in range(state["epoch"], epochs):
            start = time.perf_counter()
            dataset.set_epoch(epoch)
            torch.manual_seed(config.seed * 1_000_003 + epoch)
            loader = DataLoader(shard, batch_size=batch, shuffle=False, num_workers=config.workers, drop_last=True)
            losses = []
            for sample in track(loader, f"epoch {epoch + 1}/{epochs}", total=len(loader)) if self.rank == 0 \
                    else loader:
                value = self._step(model, loss, optimizer, scaler, autocast_dtype, sample, pet_channel)
                state["step"] += 1
                if value is None:
                    state["skipped"] += 1
                else:
                    losses.append(value)
                if per_step_schedule:
                    scheduler.step()
                if self.on_step is not None:
                    self.on_step(state["step"])
            mean_loss = float(np.mean(losses)) if losses else math.nan
            if not per_step_schedule:
                scheduler.step(mean_loss)
            state["epoch"] = epoch + 1
            row = {"epoch": epoch + 1, "step": state["step"], "lr": optimizer.param_groups[0]["lr"],
                   "train_loss": mean_loss, "skipped_steps": state["skipped"],
                   "seconds": round(time.perf_counter() - start, 2)}
            if self.rank == 0:
                row.update(self._validate_and_select(network, validation_cases, epoch, epochs, state))
                self._save_last(network, loss, optimizer, scheduler, scaler, state)
                self._log(row, writer)
            self._barrier()
        if writer is not None:
            writer.close()
        if self.rank == 0:
            self._describe(training_entries, validation_entries, state, count_parameters(network))
        return state["best"]

    def _step(self, model, loss, optimizer, scaler, dtype, sample, pet_channel: int) -> float | None:
        value = training_step(model, loss, optimizer, sample["image"].to(self.device), sample["label"].to(self.device),
                              pet_channel, scaler, dtype, distributed=self.world > 1)
        if value is None:
            debug("non-finite loss: step skipped")
        return value

    # -- validation, checkpoints, logs ----------------------------------------------------------------------
    def _validate_and_select(self, network, cases, epoch: int, epochs: int, state: dict[str, Any]) -> dict:
        every = int(self.training.get("validate_every", 1))
        if not cases or ((epoch + 1) % every and epoch + 1 != epochs):
            return {}
        metrics = validate(network, cases, self.recipe, self.device)
        write_json_atomic(self.out / "validation.json", {"epoch": epoch + 1, **metrics})
        best = state["best"]
        value = metrics[best["metric"]]
        better = (best["value"] is None or (value > best["value"] if HIGHER_IS_BETTER[best["metric"]]
                                            else value < best["value"]))
        if not math.isnan(value) and better:
            best.update(value=value, epoch=epoch + 1)
            self._save_atomic({"model": network.state_dict(), "epoch": epoch + 1, "metric": best["metric"],
                               "value": value}, self.out / "checkpoint_best.pt")
        return {f"val_{key}": metrics[key] for key in ("dice", "fpv_ml", "top_k_auroc")}

    @staticmethod
    def _save_atomic(content: dict[str, Any], path: Path) -> None:
        with atomic_path(path) as tmp:
            torch.save(content, tmp)

    def _save_last(self, network, loss, optimizer, scheduler, scaler, state: dict[str, Any]) -> None:
        self._save_atomic({"model": network.state_dict(), "loss": loss.state_dict(),
                           "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                           "scaler": scaler.state_dict(), "torch_rng": torch.get_rng_state(),
                           "epoch": state["epoch"], "step": state["step"], "skipped": state["skipped"],
                           "best": state["best"]}, self.out / "checkpoint_last.pt")
        if not (self.out / "checkpoint_best.pt").exists():  # no validation split: the last one is the model
            self._save_atomic({"model": network.state_dict(), "epoch": state["epoch"], "metric": None,
                               "value": None}, self.out / "checkpoint_best.pt")

    def _restore(self, network, loss, optimizer, scheduler, scaler, state: dict[str, Any]) -> dict[str, Any]:
        path = self.out / "checkpoint_last.pt"
        if not path.exists():
            raise PetsegError(f"nothing to resume in {self.out} (no checkpoint_last.pt)")
        saved = torch.load(path, map_location=self.device, weights_only=True)
        network.load_state_dict(saved["model"])
        loss.load_state_dict(saved["loss"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        scaler.load_state_dict(saved["scaler"])
        torch.set_rng_state(saved["torch_rng"].cpu())
        if self.rank == 0:
            info(f"resuming after epoch {saved['epoch']} (step {saved['step']})")
        return {"epoch": saved["epoch"], "step": saved["step"], "skipped": saved["skipped"], "best": saved["best"]}

    def _tensorboard(self):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            debug("tensorboard is not installed: logging to log.csv only")
            return None
        return SummaryWriter(log_dir=str(self.out / "tensorboard"))

    def _log(self, row: dict[str, Any], writer) -> None:
        path = self.out / "log.csv"
        columns = ["epoch", "step", "lr", "train_loss", "skipped_steps", "val_dice", "val_fpv_ml", "val_top_k_auroc",
                   "seconds"]
        new = not path.exists()
        with path.open("a", newline="", encoding="utf-8") as handle:
            out = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            if new:
                out.writeheader()
            out.writerow({key: row.get(key, "") for key in columns})
        if writer is not None:
            for key, value in row.items():
                if key not in ("epoch", "step") and isinstance(value, float) and not math.isnan(value):
                    writer.add_scalar(key, value, row["step"])
        shown = ", ".join(f"{k} {v:.4g}" for k, v in row.items() if isinstance(v, float) and k != "lr")
        info(f"epoch {row['epoch']}: {shown}")

    def _describe(self, training, validation, state: dict[str, Any], parameters: int) -> None:
        write_json_atomic(self.out / "model.json", {
            "petseg_version": __version__, "recipe": self.recipe["name"], "inputs": self.recipe["inputs"],
            "fold": self.config.fold, "datalist": str(Path(self.config.datalist).resolve()),
            "training_cases": [e.case for e in training], "validation_cases": [e.case for e in validation],
            "patch_size_xyz": self.training["patch_size"], "parameters": parameters, "epochs": state["epoch"],
            "steps": state["step"], "skipped_steps": state["skipped"], "best": state["best"], "threshold": 0.5,
            "files": {"weights": "checkpoint_best.pt", "resume": "checkpoint_last.pt", "recipe": "recipe.yaml",
                      "fingerprint": "fingerprint.json", "log": "log.csv", "validation": "validation.json"}})
