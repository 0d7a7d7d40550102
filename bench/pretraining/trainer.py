"""The pretraining loop: the shared loop's epochs over a fixed budget, checkpointed and resumable.

It plugs into ``TorchDecoder.fit`` through ``train_loop_override``, so examples, collation,
augmentation and the loss are each model's own, and every epoch is the shared loop's
(``bench.training.loop.Trainer``: optimiser, schedule, batch step, divergence check, the
``on_epoch_end`` callbacks; data-parallel under torchrun, ``bench.training.distributed``). What
pretraining adds, and why it is not ``train_loop``:

- **A fixed budget, the last weights.** No early stopping, no restoring the best epoch: a budget
  a resumed run can finish identically, and what POSSM / POYO pretraining does.
- **Resumable.** After every ``checkpoint_every`` epochs it writes the network, the optimiser's
  moments, the epoch, the step count and every random state (epoch order, augmentation, torch)
  as a checkpoint; given that checkpoint it continues where the killed run stopped and ends with
  the same weights as a run never interrupted (tested; a model that draws its training windows
  every epoch from a generator of its own, as POSSM's sampler does, has its draws replayed up to
  there).
- **Data-parallel.** Under ``torchrun`` the network is wrapped in ``DistributedDataParallel`` for
  the decoder's forward, and rank 0 alone writes checkpoints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from bench.models.torch_decoder import TorchDecoder
from bench.pretraining.checkpoint import TrainingState
from bench.training.config import TrainConfig
from bench.training.distributed import DataParallel
from bench.training.loop import Trainer, TrainReport, seed_everything
from bench.training.losses import loss_normaliser


class Interrupted(Exception):
    """Raised by ``stop_after`` (tests): the run stops as if killed after that epoch's checkpoint."""


def _rng_state(rng: np.random.Generator, decoder: TorchDecoder) -> dict[str, Any]:
    aug = getattr(decoder, "augment_rng", None)
    return {"order": rng.bit_generator.state, "augment": aug.bit_generator.state if aug is not None else None,
            "torch": torch.get_rng_state().tolist()}


def _restore_rng(state: dict[str, Any], rng: np.random.Generator, decoder: TorchDecoder) -> None:
    rng.bit_generator.state = state["order"]
    if state.get("augment") is not None and getattr(decoder, "augment_rng", None) is not None:
        decoder.augment_rng.bit_generator.state = state["augment"]
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))


@dataclass
class ResumableLoop:
    """``TorchDecoder.train_loop_override`` for pretraining. ``save(state, optimizer_state)``
    writes a checkpoint (rank 0 only); ``resume``: the state and optimiser moments to continue from."""

    decoder: TorchDecoder
    save: Callable[[TrainingState, dict], None]
    checkpoint_every: int = 1
    resume: TrainingState | None = None
    resume_optimizer: dict | None = None
    stop_after: int | None = None  # tests: raise Interrupted after this many epochs (after the checkpoint)
    history: list[dict] = field(default_factory=list)

    def _resume(self, trainer: Trainer, examples, rng: np.random.Generator) -> int:
        """Put ``trainer`` and the random states where the checkpoint left them; the next epoch."""
        state = self.resume
        if state is None:
            return 0
        trainer.steps, trainer.report.history = state.steps, list(state.history)
        trainer.report.epochs_run = len(trainer.report.history)
        if self.resume_optimizer is not None:
            trainer.optimizer.load_state_dict(self.resume_optimizer)
        _restore_rng(state.rng, rng, self.decoder)
        trainer.first_loss = state.rng.get("first_loss")
        if callable(examples):  # models that draw windows every epoch from their own generator: replay it
            for epoch in range(state.epoch):
                examples(epoch)
        return state.epoch

    def __call__(self, module: torch.nn.Module, examples, collate, loss_fn, valid_loss, cfg: TrainConfig, *,
                 seed: int = 0, device: str = "cpu", progress: bool = True, desc: str = "pretrain",
                 parameters: Sequence[torch.nn.Parameter] | None = None) -> TrainReport:
        seed_everything(seed)
        rng = np.random.default_rng(seed)
        module.to(device)
        kind = self.decoder.spec.kind
        parallel = DataParallel.of_world(lambda batch: loss_normaliser(kind, batch["weights"]))
        trainer = Trainer(module, loss_fn, valid_loss, cfg, device=device, desc=desc, parameters=parameters,
                          parallel=parallel)
        start = self._resume(trainer, examples, rng)
        rank = parallel.rank if parallel else 0
        wrapped = parallel.wrap(module) if parallel else module
        self.decoder.module = wrapped  # the decoder's forward (and so loss_fn) runs through DDP
        bar = tqdm(range(start, cfg.epochs), desc=desc, disable=not progress or rank != 0, leave=False,
                   dynamic_ncols=True)
        try:
            for epoch in bar:
                entry = trainer.epoch(epoch, examples, collate, rng)
                trainer.record({**entry, "steps": trainer.steps, "seconds": time.perf_counter() - trainer.t0})
                bar.set_postfix(train=f"{entry['train_loss']:.4f}", valid=f"{entry['valid_loss']:.4f}")
                done = epoch + 1 == cfg.epochs
                if rank == 0 and ((epoch + 1) % self.checkpoint_every == 0 or done):
                    state = TrainingState(epoch=epoch + 1, steps=trainer.steps, history=trainer.report.history,
                                          done=done, rng={**_rng_state(rng, self.decoder),
                                                          "first_loss": trainer.first_loss})
                    self.decoder.module = module  # the checkpoint holds the bare network's names
                    self.save(state, trainer.optimizer.state_dict())
                    self.decoder.module = wrapped
                if self.stop_after is not None and epoch + 1 >= self.stop_after and not done:
                    raise Interrupted(f"stopped after epoch {epoch + 1} (test)")
        finally:
            bar.close()
            self.decoder.module = module
        report = trainer.report
        if report.history:  # the last weights are kept
            report.best_epoch, report.best_valid_loss = len(report.history) - 1, report.history[-1]["valid_loss"]
        report.train_seconds = time.perf_counter() - trainer.t0
        self.history = report.history
        module.eval()
        return report
