"""Pretrain one spike-token model on many sessions, resumably: the work of the ``pretrain`` protocol
and of ``python -m bench.pretraining.distributed`` (torchrun).

The run writes ``<stem>.last.*`` (a checkpoint every ``checkpoint_every`` epochs) while it trains
and ``<stem>.*`` (the final checkpoint) when it ends, then removes the ``.last`` files. A rerun
after a kill finds ``<stem>.last`` and continues from it; one that finds the final checkpoint loads
it instead of training again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from pydantic import BaseModel

from bench import registry
from bench.errors import SuiteError
from bench.models.tokens import session_key
from bench.models.torch_decoder import TorchDecoder
from bench.pretraining.checkpoint import (
    Checkpoint, CheckpointError, TrainingState, load_checkpoint, paths, save_checkpoint,
)
from bench.pretraining.trainer import ResumableLoop
from bench.tasks.base import TaskData
from bench.training.config import TrainConfig
from bench.training.distributed import world


def last_stem(stem: Path) -> Path:
    return Path(stem).with_name(Path(stem).name + ".last")


def _check_same_data(ck: Checkpoint, keys: list[str], where: Path) -> None:
    if ck.sidecar.get("data") != keys:
        raise CheckpointError(
            f"Checkpoint {where} was written for other pretraining sessions ({len(ck.sidecar.get('data', []))} "
            f"sessions, first {ck.sidecar.get('data', [])[:2]}) than this run's ({len(keys)}, first {keys[:2]}); "
            "delete it to pretrain afresh, or restore the suite's datasets.")


# train settings of model selection and stopping, which a fixed pretraining budget has no use for
NOT_FOR_PRETRAINING = ("patience", "min_epochs", "select_on_valid", "max_minutes")


def check_pretraining_config(train: TrainConfig, model: str) -> None:
    """Refuse train settings that pretraining would otherwise ignore without a word."""
    given = [name for name in NOT_FOR_PRETRAINING if name in train.model_fields_set]
    if given:
        settings = ", ".join(f"train.{name} = {getattr(train, name)}" for name in given)
        raise SuiteError(f"Pretraining '{model}': {settings} does not apply. Pretraining trains a fixed budget of "
                         f"train.epochs ({train.epochs}) and keeps the last weights, with no early stopping, best-epoch "
                         "selection or time cap, so that a killed run resumes to the weights of an uninterrupted one; "
                         "remove these settings from the suite's train block (or the model's), and set train.epochs "
                         "to the budget you want.")


def new_decoder(model: str, params: BaseModel, seed: int, device: str) -> TorchDecoder:
    cls = registry.models.get(model)
    if not issubclass(cls, TorchDecoder) or "unit_emb" not in getattr(cls, "embedding_prefixes", ()):
        raise SuiteError(f"Model '{model}' cannot be pretrained for transfer: pretraining and fine-tuning need a "
                         "spike-token model with unit and session embeddings (possm-*, poyo-*).")
    return cls(params, seed=seed, device=device)


def pretrain(model: str, params: BaseModel, sessions: Sequence[TaskData], train: TrainConfig, stem: Path, *,
             seed: int, device: str, progress: bool, provenance: dict, checkpoint_every: int = 1,
             stop_after: int | None = None) -> tuple[TorchDecoder, dict]:
    """The model pretrained on ``sessions`` (all in one vocabulary) and its training report."""
    check_pretraining_config(train, model)
    keys = [session_key(d.recording) for d in sessions]
    final, last = Path(stem), last_stem(stem)
    if paths(final)[1].is_file():
        ck = load_checkpoint(final, model, params.model_dump(mode="json"), device, seed)
        _check_same_data(ck, keys, final)
        return ck.decoder, {"resumed_from_epoch": ck.training.epoch, "epochs_run": ck.training.epoch,
                            "history": ck.training.history, "loaded_final": True}
    decoder = new_decoder(model, params, seed, device)
    resume = None
    if paths(last)[1].is_file():
        resume = load_checkpoint(last, model, params.model_dump(mode="json"), device, seed)
        _check_same_data(resume, keys, last)

    def setup(data: Sequence[TaskData]) -> None:
        decoder.initialise(data)
        if resume is not None:
            decoder.module.load_state_dict(resume.decoder.module.state_dict())

    def save(state: TrainingState, optimizer_state: dict) -> None:
        save_checkpoint(last, decoder, provenance=provenance, training=state, optimizer_state=optimizer_state, data=keys)

    loop = ResumableLoop(decoder, save, checkpoint_every, resume.training if resume else None,
                         resume.optimizer_state if resume else None, stop_after)
    decoder.setup_override, decoder.train_loop_override = setup, loop
    try:
        report = decoder.fit(list(sessions), train, progress=progress)
    finally:
        decoder.setup_override = decoder.train_loop_override = None
    if world()[0] == 0:
        state = TrainingState(epoch=len(loop.history), steps=loop.history[-1]["steps"] if loop.history else 0,
                              history=loop.history, done=True)
        save_checkpoint(final, decoder, provenance=provenance, training=state, data=keys)
        for p in paths(last):
            p.unlink(missing_ok=True)
    if world()[1] > 1:  # the other processes read the final checkpoint only once rank 0 has written it
        import torch.distributed as dist

        dist.barrier()
    report["resumed_from_epoch"] = resume.training.epoch if resume else 0
    return decoder, report
