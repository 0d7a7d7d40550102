"""Shared plumbing for torch decoders: examples, padding, target scaling, fit and predict.

A subclass provides ``build`` (the nn.Module for the task's sessions), ``encode`` (one segment ->
a dict of numpy arrays, first axis padded when batched), and ``forward`` (a padded batch ->
outputs at the queries, shape (B, Q, D)). Training itself is ``bench.training.loop.train_loop``.
"""

from __future__ import annotations

from typing import Callable, ClassVar, Sequence, Union

import numpy as np
import torch

from bench.errors import SuiteError
from bench.models.base import Decoder
from bench.models.windows import tiled_windows
from bench.tasks.base import OutputSpec, Segment, TaskData, TaskKind
from bench.training.config import TrainConfig
from bench.training.losses import task_loss
from bench.training.loop import seed_everything, train_loop

# a training set: examples, or a function of the epoch that returns that epoch's examples
Examples = Union[list[dict], Callable[[int], list[dict]]]


def pad_collate(examples: list[dict]) -> dict[str, torch.Tensor]:
    """Stack dicts of arrays, zero-padding every axis to the largest example (False for masks)."""
    out = {}
    for key in examples[0]:
        arrays = [np.asarray(e[key]) for e in examples]
        shape = tuple(max(a.shape[d] for a in arrays) for d in range(arrays[0].ndim))
        padded = np.zeros((len(arrays),) + shape, dtype=arrays[0].dtype)
        for i, a in enumerate(arrays):
            padded[(i,) + tuple(slice(0, n) for n in a.shape)] = a
        out[key] = torch.as_tensor(padded)
    return out


class TorchDecoder(Decoder):
    """Base for decoders trained with the shared loop."""

    # parameter-name prefixes excluded from n_parameters (per-unit / per-session tables)
    embedding_prefixes: ClassVar[tuple[str, ...]] = ()
    # the search space `bench tune` uses when a suite declares none (bench.tune): the training
    # settings every torch model has; a model adds its own with {**TorchDecoder.tune_space, ...}
    tune_space: ClassVar[dict[str, dict]] = {
        "train.lr": {"loguniform": [1e-4, 1e-2]},
        "train.weight_decay": {"loguniform": [1e-6, 1e-2]},
    }

    module: torch.nn.Module
    spec: OutputSpec
    chunk_s: float
    # set by bench.pretraining on an instance: ``setup_override(sessions)`` prepares the network
    # instead of ``initialise`` (a pretrained one, grown for new sessions), ``train_loop_override``
    # trains instead of the shared loop (resumable / distributed pretraining, unit identification)
    setup_override: Callable[[Sequence[TaskData]], None] | None = None
    train_loop_override: Callable[..., object] | None = None

    # ---------------------------------------------------------------- to implement
    def build(self, sessions: Sequence[TaskData]) -> torch.nn.Module:
        raise NotImplementedError

    def encode(self, segment: Segment) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    # ---------------------------------------------------------------- shared
    def _example(self, seg: Segment) -> dict[str, np.ndarray]:
        ex = self.encode(seg)
        targets = seg.targets
        if self.spec.kind == TaskKind.regression:
            targets = ((targets - self.target_mean) / self.target_std).astype(np.float32)
        ex["targets"] = targets
        ex["weights"] = seg.weights.astype(np.float32)
        return ex

    def training_examples(self, segments: Sequence[Segment], train: TrainConfig) -> Examples:
        """The training examples: the segments cut into the training config's windows (whole
        segments without ``window_s``), the same every epoch. Models that draw other windows,
        or fresh ones every epoch, return a function of the epoch instead."""
        if train.window_s is not None:
            if self.spec.kind == TaskKind.sequence:  # a window would cut a sentence from its labels
                raise SuiteError(
                    f"Model '{self.registry_name}': train.window_s = {train.window_s} s crops training segments, "
                    "but a sequence task (CTC) trains on whole sentences; remove window_s from the suite's train block."
                )
            segments = tiled_windows(segments, train.window_s, train.window_step_s, self.chunk_s)
        return [self._example(w) for w in segments]

    def augment(self, batch: dict[str, torch.Tensor], rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """Training-time augmentation of a collated batch (e.g. unit dropout); none by default."""
        return batch

    def _loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return task_loss(self.spec.kind, self.forward(batch), batch["targets"], batch["weights"], self.spec.blank)

    def initialise(self, sessions: Sequence[TaskData]) -> None:
        """Set up output spec, target scaling and the untrained network for these sessions."""
        seed_everything(self.seed)
        self.spec = sessions[0].spec
        self.chunk_s = sessions[0].chunk_s
        if self.spec.kind == TaskKind.regression:
            y = np.concatenate([s.targets for d in sessions for s in d.segments("train")])
            self.target_mean = y.mean(axis=0).astype(np.float32)
            self.target_std = (y.std(axis=0) + 1e-6).astype(np.float32)
        self.module = self.build(sessions)

    def fit(self, sessions: Sequence[TaskData], train: TrainConfig, progress: bool = True) -> dict:
        (self.setup_override or self.initialise)(sessions)
        self.train_config = train
        train_segments = [s for d in sessions for s in d.segments("train")]
        valid_segments = [s for d in sessions for s in d.segments("valid")] or train_segments
        examples = self.training_examples(train_segments, train)
        valid_examples = [self._example(s) for s in valid_segments]
        valid_batch = pad_collate(valid_examples)

        def valid_loss() -> float:
            from bench.training.loop import to_device

            return float(self._loss(to_device(valid_batch, self.device)))

        rng = self.augment_rng = np.random.default_rng(self.seed)  # an attribute: resuming restores its state

        def train_collate(items: list[dict]) -> dict[str, torch.Tensor]:
            return self.augment(pad_collate(items), rng)

        report = (self.train_loop_override or train_loop)(
            self.module, examples, train_collate, self._loss, valid_loss, train,
            seed=self.seed, device=self.device, progress=progress, desc=f"{self.registry_name}",
        )
        return report.to_dict()

    def to(self, device: str) -> bool:
        self.module.to(device)
        self.device = device
        return True

    def output_affine(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(scale, shift)`` that maps the network's outputs back to target units (None:
        identity), so a streaming path can also fold them into its readout weights."""
        if self.spec.kind == TaskKind.regression:
            return self.target_std, self.target_mean
        return None

    def denormalise(self, out: np.ndarray) -> np.ndarray:
        affine = self.output_affine()
        return out if affine is None else out * affine[0] + affine[1]

    @torch.no_grad()
    def predict(self, segments: Sequence[Segment], batch_size: int = 32) -> list[np.ndarray]:
        self.module.eval()
        results: list[np.ndarray] = []
        for i in range(0, len(segments), batch_size):
            part = segments[i : i + batch_size]
            batch = pad_collate([self.encode(s) for s in part])
            batch = {k: v.to(self.device) for k, v in batch.items()}
            out = self.forward(batch).float().cpu().numpy()
            for j, seg in enumerate(part):
                results.append(self.denormalise(out[j, : seg.query_times.size]))
        return results

    def n_parameters(self) -> int:
        return sum(
            p.numel()
            for name, p in self.module.named_parameters()
            if not any(name.startswith(prefix) for prefix in self.embedding_prefixes)
        )
