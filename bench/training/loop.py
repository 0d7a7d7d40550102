"""The one training loop for torch decoders: seeded, device-aware, scheduled, early-stopped.

Models supply their examples, a collate function and a loss; the loop owns the optimiser
(train.optimizer: AdamW, or LAMB for the recipes that use it, bench.training.optimizers), the learning-rate
schedule, gradient clipping, validation after every epoch, early stopping with restoration of
the best weights (never before ``min_epochs``; ``select_on_valid: false`` keeps the last weights),
a wall-clock cap and the progress bar.

The epoch and batch step (optimiser, schedule, forward / loss / backward / step, divergence
checks, data-parallel splitting under torchrun) are ``Trainer``'s, which ``train_loop`` and the
resumable pretraining loop (``bench.pretraining.trainer``) both drive.
"""

from __future__ import annotations

import copy
import math
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from bench.errors import BenchError
from bench.training.config import TrainConfig
from bench.training.distributed import DataParallel
from bench.training.optimizers import make_optimizer


@dataclass
class TrainReport:
    epochs_run: int = 0
    max_epochs: int = 0  # the epoch cap (train.epochs): whether a run stopped at it is judged from the curve
    best_epoch: int = 0  # the epoch (0-based) whose weights were kept
    best_valid_loss: float = math.inf
    stopped_early: bool = False
    hit_time_cap: bool = False
    train_seconds: float = 0.0
    history: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "history"} | {
            "final_train_loss": self.history[-1]["train_loss"] if self.history else None
        }


# Called after every epoch of every training loop (see ``on_epoch_end``).
EpochCallback = Callable[[dict], None]
_epoch_callbacks: ContextVar[tuple[EpochCallback, ...]] = ContextVar("epoch_callbacks", default=())


@contextmanager
def on_epoch_end(callback: EpochCallback) -> Iterator[None]:
    """Within the block, call ``callback(entry)`` after each epoch of any training loop, with
    ``entry`` = {epoch, train_loss, valid_loss, lr, time (unix seconds)}. One hook for experiment
    tracking (curves) and tuning (pruning on the validation loss) without threading arguments
    through every model's ``fit``; an exception it raises (e.g. a pruned trial) ends the training."""
    token = _epoch_callbacks.set(_epoch_callbacks.get() + (callback,))
    try:
        yield
    finally:
        _epoch_callbacks.reset(token)


# A loss this many times its first batch's value (or above it, when the first is under 1) means
# the weights have blown up: no decoder recovers from that, and scoring it would store garbage.
EXPLOSION_FACTOR = 1e4


class TrainingDiverged(BenchError):
    """The training or validation loss became non-finite or exploded: the run stops and is recorded
    failed (``bench.suite.execute``), never scored with the weights it had."""


def check_loss(value: float, first: float, which: str, epoch: int, cfg: TrainConfig, desc: str) -> None:
    """Raise TrainingDiverged when ``value`` is not finite or ``EXPLOSION_FACTOR`` times ``first``."""
    limit = EXPLOSION_FACTOR * max(first, 1.0)
    if math.isfinite(value) and value <= limit:
        return
    what = f"became {value}" if not math.isfinite(value) else f"exploded to {value:.3g} (first batch {first:.3g})"
    raise TrainingDiverged(f"training of {desc} diverged: the {which} loss {what} in epoch {epoch + 1} at lr "
                           f"{cfg.lr:g}; lower the learning rate (train.lr) or check the data for extreme values.")


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))


def lr_factor(cfg: TrainConfig, progress: float, epoch: int) -> float:
    """Multiplier of the base learning rate at a fraction ``progress`` of training."""
    if cfg.warmup_epochs and epoch < cfg.warmup_epochs:
        return (epoch + 1) / (cfg.warmup_epochs + 1)
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "flat_cosine":
        if progress < 0.5:
            return 1.0
        progress = (progress - 0.5) / 0.5
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def to_device(batch: Any, device: str) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def param_groups(parameters: Sequence[Any]) -> list[dict]:
    """Optimiser groups of the trainable parameters: ``parameters`` holds tensors (one group) or
    dicts ``{"params": [...], "lr_scale": x}`` (e.g. a lower rate for pretrained weights when
    fine-tuning); empty groups are dropped."""
    items = list(parameters)
    if not items or not isinstance(items[0], dict):
        items = [{"params": items}]
    groups = [{"params": [p for p in g["params"] if p.requires_grad], "lr_scale": float(g.get("lr_scale", 1.0))}
              for g in items]
    return [g for g in groups if g["params"]]


class Trainer:
    """The optimiser, schedule and batch step that every training loop shares: ``train_loop``
    adds model selection, early stopping and the time cap; ``bench.pretraining.trainer`` adds
    checkpoints and resumption. One copy of forward, loss, backward and step, so a change to it
    (an optimiser, clipping, data-parallel weighting) reaches every model.

    ``parallel`` (``bench.training.distributed.DataParallel``, under torchrun): each process
    takes its share of every global batch and weights its loss so the step is the global batch's.
    ``steps`` counts optimiser steps and ``first_loss`` is the divergence check's reference; a
    resumed run sets both (and ``report.history``) before its first epoch.
    """

    def __init__(self, module: torch.nn.Module, loss_fn: Callable[[Any], torch.Tensor], valid_loss: Callable[[], float],
                 cfg: TrainConfig, *, device: str = "cpu", desc: str = "train",
                 parameters: Sequence[torch.nn.Parameter] | Sequence[dict] | None = None,
                 parallel: DataParallel | None = None) -> None:
        self.module, self.loss_fn, self.valid_loss, self.cfg = module, loss_fn, valid_loss, cfg
        self.device, self.desc, self.parallel = device, desc, parallel
        groups = param_groups(parameters if parameters is not None else module.parameters())
        self.params = [p for g in groups for p in g["params"]]
        self.lr_scales = [g["lr_scale"] for g in groups]  # kept apart: a loaded optimiser state replaces the groups
        self.optimizer = make_optimizer(cfg.optimizer, groups, cfg.lr, cfg.weight_decay)
        self.report = TrainReport(max_epochs=cfg.epochs)
        self.steps = 0
        self.first_loss: float | None = None  # the reference of the divergence check
        self.t0 = time.perf_counter()

    def step(self, batch: Any, epoch: int, counts: bool = True) -> float:
        """One optimiser step on a collated batch (this process's share of it under DDP; one that
        does not ``count`` only takes part in the gradient all-reduce); returns the batch's loss
        (the global batch's under DDP)."""
        loss = self.loss_fn(batch)
        if self.parallel is None:
            batch_loss = float(loss.detach())
        else:
            loss, batch_loss = self.parallel.weigh(loss, batch, counts)
        self.first_loss = batch_loss if self.first_loss is None else self.first_loss
        check_loss(batch_loss, self.first_loss, "training", epoch, self.cfg, self.desc)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip)
        self.optimizer.step()
        self.steps += 1
        return batch_loss

    def epoch(self, epoch: int, examples: Sequence[Any] | Callable[[int], Sequence[Any]],
              collate: Callable[[list[Any]], Any], rng: np.random.Generator) -> dict:
        """One pass over the epoch's examples in an order drawn from ``rng``, then validation:
        the epoch's entry {epoch, train_loss, valid_loss} (see ``record``)."""
        cfg = self.cfg
        for group, scale in zip(self.optimizer.param_groups, self.lr_scales):
            group["lr"] = cfg.lr * scale * lr_factor(cfg, epoch / cfg.epochs, epoch)
        self.module.train()
        epoch_examples = examples(epoch) if callable(examples) else examples
        if len(epoch_examples) == 0:
            raise BenchError(f"training of {self.desc}: epoch {epoch + 1} has no training examples (no training "
                             "segment, or every training window drawn this epoch holds no output query, e.g. windows "
                             "that miss a classification trial's single readout); check the dataset's train split and "
                             "the model's training windows (train.window_s).")
        n_batches = max(1, math.ceil(len(epoch_examples) / cfg.batch_size))
        order = rng.permutation(len(epoch_examples))
        total = 0.0
        for b in range(n_batches):
            idx, counts = order[b * cfg.batch_size : (b + 1) * cfg.batch_size], True
            if self.parallel is not None:
                idx, counts = self.parallel.shard(idx)
            total += self.step(to_device(collate([epoch_examples[i] for i in idx]), self.device), epoch, counts)
        self.module.eval()
        with torch.no_grad():
            v = float(self.valid_loss())
        check_loss(v, self.first_loss, "validation", epoch, cfg, self.desc)
        return {"epoch": epoch, "train_loss": total / n_batches, "valid_loss": v}

    def record(self, entry: dict) -> dict:
        """Append the epoch's entry to the history and tell the ``on_epoch_end`` callbacks."""
        self.report.history.append(entry)
        self.report.epochs_run = len(self.report.history)
        for callback in _epoch_callbacks.get():
            callback({**entry, "lr": self.optimizer.param_groups[0]["lr"], "time": time.time()})
        return entry


def train_loop(
    module: torch.nn.Module,
    examples: Sequence[Any] | Callable[[int], Sequence[Any]],
    collate: Callable[[list[Any]], Any],
    loss_fn: Callable[[Any], torch.Tensor],
    valid_loss: Callable[[], float],
    cfg: TrainConfig,
    *,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    desc: str = "train",
    parameters: Sequence[torch.nn.Parameter] | Sequence[dict] | None = None,
) -> TrainReport:
    """Train ``module`` in place; on return it holds the weights of the best validation epoch.
    A non-finite or exploding loss raises TrainingDiverged (the weights are then of no use).

    ``examples`` is a sequence, or a function of the epoch that returns that epoch's examples
    (e.g. training windows drawn afresh every epoch).
    """
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    module.to(device)
    trainer = Trainer(module, loss_fn, valid_loss, cfg, device=device, desc=desc, parameters=parameters)
    report = trainer.report
    best_state = None  # the weights to keep; None until an epoch may be selected (min_epochs)
    since_best = 0
    bar = tqdm(range(cfg.epochs), desc=desc, disable=not progress, leave=False, dynamic_ncols=True)
    for epoch in bar:
        entry = trainer.record(trainer.epoch(epoch, examples, collate, rng))
        v = entry["valid_loss"]
        selectable = cfg.select_on_valid and epoch + 1 >= cfg.min_epochs
        if selectable and v < report.best_valid_loss - 1e-6:
            report.best_valid_loss, report.best_epoch, since_best = v, epoch, 0
            best_state = copy.deepcopy(module.state_dict())
        elif selectable:
            since_best += 1
        bar.set_postfix(train=f"{entry['train_loss']:.4f}", valid=f"{v:.4f}", best=report.best_epoch)
        if since_best >= cfg.patience:
            report.stopped_early = True
            break
        if cfg.max_minutes and time.perf_counter() - trainer.t0 > 60 * cfg.max_minutes:
            report.hit_time_cap = True
            break
    bar.close()
    if best_state is None:  # no selection, or stopped (time cap) before min_epochs: the last weights
        report.best_epoch, report.best_valid_loss = report.epochs_run - 1, report.history[-1]["valid_loss"]
    else:
        module.load_state_dict(best_state)
    module.eval()
    report.train_seconds = time.perf_counter() - trainer.t0
    return report
