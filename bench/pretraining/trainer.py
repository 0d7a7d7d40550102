"""The pretraining loop: a fixed epoch budget that checkpoints, resumes exactly, and runs data-parallel.

It plugs into ``TorchDecoder.fit`` through ``train_loop_override``, so examples, collation,
augmentation and the loss are each model's own, as in the shared loop, whose schedule
(``lr_factor``) and divergence check it reuses. What differs, and why it is a loop of its own:

- **Resumable.** After every ``checkpoint_every`` epochs it writes the network, the AdamW moments,
  the epoch, the step count and every random state (epoch order, augmentation, torch) as a
  checkpoint; given that checkpoint it continues where the killed run stopped and ends with the
  same weights as a run never interrupted (tested; a model that draws its training windows every
  epoch from a generator of its own, as POSSM's sampler does, has its draws replayed up to there). Pretraining runs for a fixed budget and keeps
  its last weights (no early stopping, no restoring the best epoch: a budget a resumed run can
  finish identically, and what POSSM / POYO pretraining does).
- **Distributed.** Under ``torchrun`` (``torch.distributed`` initialised, gloo on CPUs, NCCL on
  GPUs) the network is wrapped in ``DistributedDataParallel``; each of the W processes takes every
  W-th example of each global batch and weights its loss by its share of the batch's loss weight,
  so the averaged gradient is the gradient of the global batch: the loss trajectory is that of one
  process on the same global batch (tested with 2 gloo processes, float tolerance), with the
  batch size meaning the *global* batch. Per-process augmentation (unit dropout) and dropout draw
  different random numbers than one process would: equal in distribution, not bit for bit.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.distributed as dist

from bench.models.torch_decoder import TorchDecoder
from bench.pretraining.checkpoint import TrainingState
from bench.tasks.base import TaskKind
from bench.training.config import TrainConfig
from bench.training.loop import TrainReport, check_loss, lr_factor, seed_everything, to_device


class Interrupted(Exception):
    """Raised by ``stop_after`` (tests): the run stops as if killed after that epoch's checkpoint."""


def world() -> tuple[int, int]:
    """(rank, world size): (0, 1) unless torch.distributed is initialised (torchrun)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


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
    writes a checkpoint (rank 0 only); ``resume``: the state and AdamW moments to continue from."""

    decoder: TorchDecoder
    save: Callable[[TrainingState, dict], None]
    checkpoint_every: int = 1
    resume: TrainingState | None = None
    resume_optimizer: dict | None = None
    stop_after: int | None = None  # tests: raise Interrupted after this many epochs (after the checkpoint)
    history: list[dict] = field(default_factory=list)

    def _share(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """This process's share of the global batch's loss normaliser (weight sum, or samples for CTC)."""
        if self.decoder.spec.kind == TaskKind.sequence:
            return torch.tensor(float(batch["weights"].shape[0]))
        return batch["weights"].sum().detach().float().cpu()

    def __call__(self, module: torch.nn.Module, examples, collate, loss_fn, valid_loss, cfg: TrainConfig, *,
                 seed: int = 0, device: str = "cpu", progress: bool = True, desc: str = "pretrain",
                 parameters: Sequence[torch.nn.Parameter] | None = None) -> TrainReport:
        rank, size = world()
        seed_everything(seed)
        rng = np.random.default_rng(seed)
        module.to(device)
        params = [p for p in (parameters if parameters is not None else module.parameters()) if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        report = TrainReport()
        start, steps, first_loss = 0, 0, None
        if self.resume is not None:
            start, steps = self.resume.epoch, self.resume.steps
            report.history = list(self.resume.history)
            if self.resume_optimizer is not None:
                opt.load_state_dict(self.resume_optimizer)
            _restore_rng(self.resume.rng, rng, self.decoder)
            first_loss = self.resume.rng.get("first_loss")
            if callable(examples):  # models that draw windows every epoch from their own generator: replay it
                for epoch in range(start):
                    examples(epoch)
        wrapped = module
        if size > 1:
            wrapped = torch.nn.parallel.DistributedDataParallel(module)
            self.decoder.module = wrapped  # the decoder's forward (and so loss_fn) runs through DDP
        t0 = time.perf_counter()
        try:
            for epoch in range(start, cfg.epochs):
                for group in opt.param_groups:
                    group["lr"] = cfg.lr * lr_factor(cfg, epoch / cfg.epochs, epoch)
                module.train()
                epoch_examples = examples(epoch) if callable(examples) else examples
                n_batches = max(1, math.ceil(len(epoch_examples) / cfg.batch_size))
                order = rng.permutation(len(epoch_examples))
                total = 0.0
                for b in range(n_batches):
                    idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
                    mine = idx[rank::size]
                    batch = to_device(collate([epoch_examples[i] for i in mine]), device)
                    loss = loss_fn(batch)
                    if size > 1:  # weight by this process's share, so the averaged gradient is the global one
                        share = self._share(batch)
                        total_share = share.clone()
                        dist.all_reduce(total_share)
                        loss = loss * (share / total_share.clamp_min(1e-8) * size).to(loss.device)
                        global_loss = loss.detach().cpu().clone() / size
                        dist.all_reduce(global_loss)
                        batch_loss = float(global_loss)
                    else:
                        batch_loss = float(loss.detach())
                    first_loss = batch_loss if first_loss is None else first_loss
                    check_loss(batch_loss, first_loss, "training", epoch, cfg, desc)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    if cfg.grad_clip:
                        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                    opt.step()
                    steps += 1
                    total += batch_loss
                module.eval()
                with torch.no_grad():
                    v = float(valid_loss())
                check_loss(v, first_loss, "validation", epoch, cfg, desc)
                report.history.append({"epoch": epoch, "train_loss": total / n_batches, "valid_loss": v,
                                       "steps": steps, "seconds": time.perf_counter() - t0})
                if v < report.best_valid_loss:
                    report.best_valid_loss, report.best_epoch = v, epoch
                done = epoch + 1 == cfg.epochs
                if rank == 0 and ((epoch + 1) % self.checkpoint_every == 0 or done):
                    state = TrainingState(epoch=epoch + 1, steps=steps, history=report.history, done=done,
                                          rng={**_rng_state(rng, self.decoder), "first_loss": first_loss})
                    self.decoder.module = module
                    self.save(state, opt.state_dict())
                    self.decoder.module = wrapped
                if self.stop_after is not None and epoch + 1 >= self.stop_after and not done:
                    raise Interrupted(f"stopped after epoch {epoch + 1} (test)")
        finally:
            self.decoder.module = module
        report.epochs_run = len(report.history)
        report.train_seconds = time.perf_counter() - t0
        report.best_valid_loss = min((h["valid_loss"] for h in report.history), default=math.inf)
        self.history = report.history
        module.eval()
        return report
