"""Adapting a pretrained spike-token model to new sessions: unit identification (UI) and full fine-tuning (FT).

The vocabulary grows first (:func:`grow_vocabulary`): every unit and session of the new recordings
gets a new embedding row (units are namespaced by session, so all of a new session's units are
new), and every existing row is kept bit for bit. Then:

- **UI** (POYO's unit identification, POSSM's UI): everything is frozen except the *new* rows of
  the unit and session embedding tables. The old rows get no gradient, and weight decay is off
  for this stage, so they do not move at all (tested). With ``allow_seen``, a session that was in
  the pretraining data (fine-tuned and tested on its own test split, which pretraining never
  trained on) is adapted too: its rows are the pretrained ones, and UI trains those rows.
- **FT**: UI for ``ui_epochs`` epochs, then every weight trains; the pretrained weights (all but
  the embedding tables) at ``pretrained_lr_scale`` times the learning rate.
- **New head** (``new_head``, cross-task / cross-species, e.g. NHP reaching -> human handwriting):
  a task with other outputs gets a fresh readout, trained with the new rows from the start.

Both run through the shared training loop (early stopping on the new session's validation split,
best weights restored), via ``TorchDecoder.fit``'s hooks, so examples, augmentation and the loss
are the model's own. The pretrained target scaling is kept: the readout was learnt in it.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
import torch
from torch import nn

from bench.errors import SuiteError
from bench.models.tokens import session_units
from bench.models.torch_decoder import TorchDecoder
from bench.tasks.base import TaskData, TaskKind
from bench.training.config import TrainConfig
from bench.training.loop import TrainReport, train_loop

EMBEDDINGS = ("unit_emb", "session_emb")
Mode = Literal["ui", "ft"]


def grow_vocabulary(decoder: TorchDecoder, data: Sequence[TaskData]) -> dict[str, int]:
    """Add the recordings' units and sessions to ``decoder``'s vocabulary and embedding tables.
    New unit rows are drawn with the spread of the pretrained rows, a new session row is the mean
    of the pretrained session rows (a neutral start). Returns the table sizes before growing."""
    module, vocab = decoder.module, decoder.vocab
    before = {"unit_emb": len(vocab.units), "session_emb": len(vocab.sessions)}
    vocab.add(d.recording for d in data)
    after = {"unit_emb": len(vocab.units), "session_emb": len(vocab.sessions)}
    gen = torch.Generator().manual_seed(decoder.seed)
    for name in EMBEDDINGS:
        old: nn.Embedding = getattr(module, name)
        n_old, n_new = before[name], after[name]
        if n_new == n_old:
            continue
        weight = old.weight.detach()
        extra = n_new - n_old
        if name == "unit_emb":
            rows = torch.randn(extra, weight.shape[1], generator=gen) * weight.std().cpu()
        else:
            rows = weight.mean(dim=0, keepdim=True).cpu().expand(extra, -1)
        grown = nn.Embedding(n_new, weight.shape[1]).to(weight.device)
        with torch.no_grad():
            grown.weight.copy_(torch.cat([weight, rows.to(weight.device, weight.dtype)]))
        setattr(module, name, grown)
    decoder.unit_ranges = {**getattr(decoder, "unit_ranges", {}), **session_units(vocab, (d.recording for d in data))}
    return before


def adapted_rows(decoder: TorchDecoder, data: Sequence[TaskData]) -> dict[str, torch.Tensor]:
    """The embedding rows UI trains: the unit and session rows of the sessions being adapted (after
    :func:`grow_vocabulary`: the new rows, or a seen session's pretrained ones)."""
    vocab = decoder.vocab
    rows = {"unit_emb": np.concatenate([vocab.unit_index(d.recording) for d in data]),
            "session_emb": np.array([vocab.session_index(d.recording) for d in data])}
    return {name: torch.from_numpy(np.unique(r).astype(np.int64)) for name, r in rows.items()}


def _freeze_old_rows(module: nn.Module, trained: dict[str, torch.Tensor]) -> list:
    """Freeze every weight but the embedding tables; zero the gradient of their rows other than
    ``trained`` (table name -> row indices)."""
    handles = []
    for p in module.parameters():
        p.requires_grad_(False)
    for name in EMBEDDINGS:
        weight = getattr(module, name).weight
        weight.requires_grad_(True)
        frozen = torch.ones(weight.shape[0], dtype=torch.bool)
        frozen[trained[name]] = False
        frozen = frozen.to(weight.device)

        def keep_old(grad: torch.Tensor, frozen: torch.Tensor = frozen) -> torch.Tensor:
            grad = grad.clone()
            grad[frozen] = 0
            return grad

        handles.append(weight.register_hook(keep_old))
    return handles


class AdaptLoop:
    """``TorchDecoder.train_loop_override`` for UI and FT (see the module docstring)."""

    def __init__(self, trained: dict[str, torch.Tensor], mode: Mode, ui_epochs: int, pretrained_lr_scale: float,
                 new_head: bool = False):
        self.trained, self.mode, self.ui_epochs, self.lr_scale = trained, mode, ui_epochs, pretrained_lr_scale
        self.new = EMBEDDINGS + (("readout",) if new_head else ())  # modules trained at the full rate

    def __call__(self, module: nn.Module, examples, collate, loss_fn, valid_loss, cfg: TrainConfig, **kw) -> TrainReport:
        kw.pop("parameters", None)
        ui_epochs = cfg.epochs if self.mode == "ui" else min(self.ui_epochs, cfg.epochs)
        handles = _freeze_old_rows(module, self.trained)
        fresh = [p for n in self.new[len(EMBEDDINGS):] for p in getattr(module, n).parameters()]
        for p in fresh:
            p.requires_grad_(True)
        try:
            emb = [getattr(module, n).weight for n in EMBEDDINGS] + fresh
            ui_cfg = cfg.model_copy(update={"epochs": ui_epochs, "weight_decay": 0.0})
            report = train_loop(module, examples, collate, loss_fn, valid_loss, ui_cfg, parameters=emb, **kw)
        finally:
            for h in handles:
                h.remove()
            for p in module.parameters():
                p.requires_grad_(True)
        rest = cfg.epochs - ui_epochs
        if self.mode == "ft" and rest > 0:
            new = [p for n in self.new for p in getattr(module, n).parameters()]
            new_ids = {id(p) for p in new}
            groups = [{"params": new, "lr_scale": 1.0},
                      {"params": [p for p in module.parameters() if id(p) not in new_ids], "lr_scale": self.lr_scale}]
            second = train_loop(module, examples, collate, loss_fn, valid_loss, cfg.model_copy(update={"epochs": rest}),
                                parameters=groups, **kw)
            second.history = report.history + [{**h, "epoch": h["epoch"] + ui_epochs} for h in second.history]
            second.epochs_run += report.epochs_run
            second.train_seconds += report.train_seconds
            report = second
        return report


def replace_head(decoder: TorchDecoder, data: Sequence[TaskData]) -> None:
    """A fresh readout for another task (cross-task / cross-species transfer): the pretrained
    encoder and backbone are kept, the last linear layer is drawn anew for the new outputs."""
    spec, old = data[0].spec, decoder.module.readout
    torch.manual_seed(decoder.seed)
    decoder.module.readout = nn.Linear(old.in_features, spec.dim).to(old.weight.device)
    decoder.spec = spec
    if spec.kind == TaskKind.regression:
        y = np.concatenate([s.targets for d in data for s in d.segments("train")])
        decoder.target_mean = y.mean(axis=0).astype(np.float32)
        decoder.target_std = (y.std(axis=0) + 1e-6).astype(np.float32)


def adapt(decoder: TorchDecoder, data: Sequence[TaskData], train: TrainConfig, mode: Mode, *, ui_epochs: int = 10,
          pretrained_lr_scale: float = 1.0, new_head: bool = False, progress: bool = False,
          allow_seen: bool = False) -> dict:
    """Fine-tune the pretrained ``decoder`` on the new sessions ``data`` (UI or FT); its report.
    ``new_head``: a task with other outputs than the pretraining's gets a fresh readout, trained
    with the new embedding rows in UI (otherwise such a task is refused). ``allow_seen``: sessions
    of the pretraining data are adapted too (their pretrained rows train in UI); otherwise refused."""
    spec = data[0].spec
    head = (spec.kind, spec.dim, spec.blank) != (decoder.spec.kind, decoder.spec.dim, decoder.spec.blank)
    if head and not new_head:
        raise SuiteError(f"The pretrained '{decoder.registry_name}' decodes {decoder.spec.dim} {decoder.spec.kind.value} "
                         f"outputs, the fine-tuning task {spec.dim} {spec.kind.value} outputs; fine-tune on the task it "
                         "was pretrained on, or set the protocol's new_head: true to train a fresh readout.")
    if abs(data[0].chunk_s - decoder.chunk_s) > 1e-9:
        raise SuiteError(f"The pretrained '{decoder.registry_name}' streams {decoder.chunk_s * 1000:g} ms chunks, the "
                         f"fine-tuning dataset {data[0].chunk_s * 1000:g} ms; set the suite's chunk_ms to the pretraining's.")
    seen = [d.recording.recording_id for d in data if d.recording in decoder.vocab]
    if seen and not allow_seen:
        raise SuiteError(f"Session(s) {seen[:5]} were part of the pretraining data: fine-tuning and testing on them "
                         "would score the pretraining itself. Fine-tune on held-out sessions only, or set the finetune "
                         "protocol's seen_sessions: allow to adapt them knowingly (their records say so).")
    grow_vocabulary(decoder, data)
    if head:
        replace_head(decoder, data)
    decoder.setup_override = lambda sessions: None  # the network is the pretrained one, grown
    decoder.train_loop_override = AdaptLoop(adapted_rows(decoder, data), mode, ui_epochs, pretrained_lr_scale, head)
    try:
        return decoder.fit(list(data), train, progress=progress)
    finally:
        decoder.setup_override = decoder.train_loop_override = None
