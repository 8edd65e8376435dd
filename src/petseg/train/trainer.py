"""`petseg train`: one fold of a recipe, from a datalist to a self-describing model folder.

The same code runs on one CPU, one GPU, or several GPUs and nodes under `torchrun` (DDP: NCCL on GPUs,
gloo on CPUs; each rank draws its own share of every epoch's patches; rank 0 alone writes files).
Restartable: the last checkpoint (model, optimiser, scheduler, scaler, RNG, state) is written atomically
after every epoch, and every epoch's patches depend only on (seed, epoch), so `--resume` after a kill
continues exactly where the last finished epoch left off.

Honest model selection: fold K's studies are held out; they are validated for the log and once more with
the deployed weights (validation.json), never used to choose. The deployed weights are the last epoch's
(`training.checkpoint: last`, as nnU-Net deploys its final checkpoint) or the best epoch on a selection
split carved from the training folds (`best`). `--fold all` trains on every study.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from petseg.console import debug, info, track
from petseg.data.datalist import DatalistEntry, inner_split, load_datalist, split_fold
from petseg.device import pick_device, ranks_on_this_machine, use_threads
from petseg.errors import PetsegError
from petseg.io.atomic import write_json_atomic, write_text_atomic
from petseg.models.checkpoints import BEST, FINAL, LAST, load_checkpoint, save_checkpoint
from petseg.models.networks import build_network, count_parameters
from petseg.recipe import Recipe, as_yaml, load_recipe, read_recipe_file
from petseg.train.cache import CachedCase, build_cache
from petseg.train.describe import describe_model
from petseg.train.fingerprint import fingerprint as compute_fingerprint
from petseg.train.log import TrainingLog
from petseg.train.parts import Parts, build_parts
from petseg.train.sampling import PatchDataset
from petseg.train.state import Best, TrainState
from petseg.train.step import training_step
from petseg.train.validation import validate


@dataclass
class TrainConfig:
    """What `petseg train` was asked to do (`fold`: a fold number or 'all')."""

    recipe: str
    datalist: Path
    fold: int | str
    out: Path
    overrides: dict[str, str] | None = None
    profile: str | None = None  # one of the recipe's profiles (e.g. cpu)
    cache_dir: Path | None = None
    resume: bool = False
    seed: int = 0
    device: str = "auto"
    workers: int = 0
    bf16: bool = False
    stage1_dir: Path | None = None  # a cascade's stage-2 recipe: the stage-1 masks, <case>.nii.gz
    threads: int | None = None  # torch threads; None: this process's share of the CPUs it may use
    tracer: str | None = None  # the tracer of the training studies, recorded in model.json (predict warns on others)


@dataclass
class Cohort:
    """The cached studies of one run: trained on, choosing the checkpoint (selection), held out (the fold)."""

    training: list[CachedCase]
    selection: list[CachedCase]
    held_out: list[CachedCase]


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
        if self.device.type == "cpu":
            use_threads(config.threads, ranks_on_this_machine(self.world))
        self.out = Path(config.out)
        if config.resume and (self.out / "recipe.yaml").exists():
            self.recipe: Recipe = read_recipe_file(self.out / "recipe.yaml")
        else:
            self.recipe = load_recipe(config.recipe, config.overrides, config.profile)
        self.training = self.recipe.training
        self.rule = self.training.checkpoint
        if ("stage1" in self.recipe.inputs) != (config.stage1_dir is not None):
            raise PetsegError("a cascade's stage-2 recipe (input stage1) needs --stage1 DIR with the stage-1 masks, "
                              "and only such a recipe takes one")
        self.network: nn.Module | None = None  # the trained network, for callers that keep working in memory
        self.final_held_out: dict[str, Any] | None = None  # the held-out scores of the last epoch's weights

    # -- data -------------------------------------------------------------------------------------------
    def _entries(self) -> dict[str, list[DatalistEntry]]:
        training, held_out = split_fold(load_datalist(self.config.datalist)["training"], self.config.fold)
        if self.training.positives_only:
            training = [e for e in training if e.positive is not False]
            if not training:
                raise PetsegError(f"fold {self.config.fold} leaves no lesion-positive training study")
        selection: list[DatalistEntry] = []
        if self.rule == "best":
            training, selection = inner_split(training, self.training.selection_fraction, self.config.seed)
            if not selection:
                raise PetsegError("training.checkpoint best needs a selection split: the training folds hold a "
                                  "single patient (use training.checkpoint=last)")
        return {"training": training, "selection": selection, "held_out": held_out}

    def _cohort(self, entries: dict[str, list[DatalistEntry]]) -> tuple[Cohort, dict[str, Any]]:
        path = self.out / "fingerprint.json"
        if self.rank == 0 and not path.exists():
            write_json_atomic(path, compute_fingerprint(entries["training"] + entries["selection"], self.config.seed))
        self._barrier()
        fingerprint = json.loads(path.read_text(encoding="utf-8"))
        root, stage1 = Path(self.config.cache_dir or self.out / "cache"), self.config.stage1_dir
        if self.rank == 0:
            build_cache([e for group in entries.values() for e in group], self.recipe, fingerprint, root, stage1)
        self._barrier()
        cached = {name: build_cache(group, self.recipe, fingerprint, root, stage1) for name, group in entries.items()}
        return Cohort(cached["training"], cached["selection"], cached["held_out"]), fingerprint

    def _barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()

    # -- run ----------------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Train; returns the checkpoint choice (metric, value and epoch of the best epoch, or of the last)."""
        self._prepare_folder()
        entries = self._entries()
        cohort, fingerprint = self._cohort(entries)
        batch, epochs = self.training.batch_size, self.training.epochs
        steps = self.training.steps_per_epoch or max(
            len(cohort.training) * self.training.patches_per_volume // (batch * self.world), 1)
        torch.manual_seed(self.config.seed)  # the initial weights, like every patch, follow from the seed
        parts = build_parts(self.recipe, fingerprint, self.device, self.world, epochs, steps, self.config.bf16)
        self.network = parts.network
        state = TrainState(best=Best(self.training.select_by))
        if self.config.resume:
            state = self._restore(parts)
        dataset = PatchDataset(cohort.training, self.recipe, self.config.seed, steps * batch * self.world)
        if self.rank == 0:
            profile = f" ({self.recipe.profile} profile)" if self.recipe.profile else ""
            info(f"training {self.recipe.name}{profile} fold {self.config.fold}: {len(cohort.training)} training, "
                 f"{len(cohort.selection)} selection and {len(cohort.held_out)} held-out studies, "
                 f"{count_parameters(parts.network) / 1e6:.2f} M parameters, {epochs} epochs x {steps} steps, "
                 f"batch {batch} x {self.world} rank(s) on {self.device} ({torch.get_num_threads()} threads)")
        log = TrainingLog(self.out, self.rank == 0)
        try:
            for epoch in range(state.epoch, epochs):
                row = self._epoch(parts, dataset, epoch, epochs, state, batch)
                if self.rank == 0:
                    row.update(self._validate(parts.network, cohort, epoch, epochs, state))
                    self._save_last(parts, state)
                    log.write(row)
                self._barrier()
        finally:
            log.close()
        if self.rank == 0:
            self._finish(parts.network, cohort, entries, state)
        return asdict(state.best) if self.rule == "best" else {"metric": None, "value": None, "epoch": state.epoch}

    def _prepare_folder(self) -> None:
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            if not self.config.resume and (self.out / LAST).exists():
                raise PetsegError(f"{self.out} already holds a training run; add --resume to continue it")
            write_text_atomic(self.out / "recipe.yaml", as_yaml(self.recipe))
        self._barrier()

    def _epoch(self, parts: Parts, dataset: PatchDataset, epoch: int, epochs: int, state: TrainState,
               batch: int) -> dict[str, Any]:
        """One epoch of optimiser steps; returns its log row."""
        start = time.perf_counter()
        dataset.set_epoch(epoch)
        torch.manual_seed(self.config.seed * 1_000_003 + epoch)
        shard = Subset(dataset, list(range(self.rank, len(dataset), self.world)))
        loader = DataLoader(shard, batch_size=batch, shuffle=False, num_workers=self.config.workers, drop_last=True)
        losses = []
        for sample in track(loader, f"epoch {epoch + 1}/{epochs}", total=len(loader)) if self.rank == 0 else loader:
            value = training_step(parts.model, parts.loss, parts.optimizer, sample["image"].to(self.device),
                                  sample["label"].to(self.device), parts.fill_channels, parts.scaler, parts.autocast,
                                  distributed=self.world > 1)
            state.step += 1
            if value is None:
                state.skipped += 1
                debug("non-finite loss: step skipped")
            else:
                losses.append(value)
            if parts.per_step_schedule:
                parts.scheduler.step()
            if self.on_step is not None:
                self.on_step(state.step)
        mean_loss = float(np.mean(losses)) if losses else math.nan
        if not parts.per_step_schedule:
            parts.scheduler.step(mean_loss)
        state.epoch = epoch + 1
        seconds = time.perf_counter() - start
        return {"epoch": epoch + 1, "step": state.step, "lr": parts.optimizer.param_groups[0]["lr"],
                "train_loss": mean_loss, "skipped_steps": state.skipped, "seconds": round(seconds, 2),
                "samples_per_s": round(len(loader) * batch * self.world / max(seconds, 1e-9), 2)}

    # -- validation, checkpoints ------------------------------------------------------------------------------
    def _validate(self, network: nn.Module, cohort: Cohort, epoch: int, epochs: int, state: TrainState) -> dict:
        """On validation epochs: the selection split chooses the best checkpoint; the held-out fold is logged."""
        every = self.training.validate_every
        if (epoch + 1) % every and epoch + 1 != epochs:
            return {}
        row: dict[str, Any] = {}
        if cohort.selection:
            metrics = validate(network, cohort.selection, self.recipe, self.device, self.threshold)
            row.update({f"select_{key}": metrics[key] for key in ("dice", "fpv_ml", "top_k_auroc")})
            if state.best.improves(metrics[state.best.metric]):  # ties go to the later epoch
                state.best.value, state.best.epoch = float(metrics[state.best.metric]), epoch + 1
                save_checkpoint({"model": network.state_dict(), "epoch": epoch + 1, "metric": state.best.metric,
                                 "value": state.best.value}, self.out / BEST)
        if cohort.held_out:
            metrics = validate(network, cohort.held_out, self.recipe, self.device, self.threshold)
            row.update({f"val_{key}": metrics[key] for key in ("dice", "fpv_ml", "top_k_auroc")})
            self.final_held_out = metrics if epoch + 1 == epochs else None  # the final weights' own scores
        return row

    @property
    def threshold(self) -> float:
        """The probability threshold of the model (the recipe's `inference.threshold`)."""
        return self.recipe.inference.threshold

    def _save_last(self, parts: Parts, state: TrainState) -> None:
        save_checkpoint({"model": parts.network.state_dict(), "loss": parts.loss.state_dict(),
                         "optimizer": parts.optimizer.state_dict(), "scheduler": parts.scheduler.state_dict(),
                         "scaler": parts.scaler.state_dict(), "torch_rng": torch.get_rng_state(),
                         **state.as_dict()}, self.out / LAST)

    def _restore(self, parts: Parts) -> TrainState:
        saved = load_checkpoint(self.out / LAST, self.device)
        try:
            parts.network.load_state_dict(saved["model"])
            parts.loss.load_state_dict(saved["loss"])
            parts.optimizer.load_state_dict(saved["optimizer"])
            parts.scheduler.load_state_dict(saved["scheduler"])
            parts.scaler.load_state_dict(saved["scaler"])
            torch.set_rng_state(saved["torch_rng"].cpu())
            state = TrainState.from_dict(saved)
        except (KeyError, RuntimeError, ValueError, TypeError) as error:
            raise PetsegError(f"{self.out / LAST} does not belong to this recipe's training run ({error}); "
                              "train into a new folder") from None
        if self.rank == 0:
            info(f"resuming after epoch {state.epoch} (step {state.step})")
        return state

    def _finish(self, network: nn.Module, cohort: Cohort, entries: dict[str, list[DatalistEntry]],
                state: TrainState) -> None:
        """The final weights, the deployed checkpoint, its held-out metrics (validation.json) and model.json."""
        save_checkpoint({"model": network.state_dict(), "epoch": state.epoch}, self.out / FINAL)
        weights = BEST if self.rule == "best" and (self.out / BEST).exists() else FINAL
        held_out = self.final_held_out if weights == FINAL else None  # validated at the last epoch already
        if cohort.held_out and held_out is None:
            deployed = build_network(self.recipe.network, len(self.recipe.inputs)).to(self.device)  # type: ignore
            deployed.load_state_dict(load_checkpoint(self.out / weights, self.device)["model"])
            held_out = validate(deployed, cohort.held_out, self.recipe, self.device, self.threshold)
        if held_out is not None:
            write_json_atomic(self.out / "validation.json", {"weights": weights, "epoch": state.epoch, **held_out})
        write_json_atomic(self.out / "model.json", describe_model(
            self.recipe, self.config, entries, state, weights, held_out, count_parameters(network), self.threshold))
