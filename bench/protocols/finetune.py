"""The ``finetune`` protocol: pretrained models adapted to new sessions (UI, FT) beside models trained
from scratch, at several training-set sizes (data efficiency) and along the adaptation (compute
efficiency).

Parameters (``protocol: {name: finetune, params: {...}}``): ``checkpoints`` maps a model *label*
of the suite to its pretraining checkpoint: either the pretraining suite's run,
``{pretrain_suite: transfer_pretrain.yaml, label: o-possm-gru}`` (resolved to that run's key and
checkpoint as the pretraining plans it, ``bench.protocols.pretrained_ref``: it follows a re-keyed
pretraining), or a checkpoint stem (relative to the suite file; written by the ``pretrain``
protocol as ``<run folder>/checkpoints/<record stem>``, whose name ends with the pretraining
run's key). A model with a checkpoint runs every mode of ``modes`` (``ui``: unit
identification; ``ft``: UI for ``ui_epochs`` epochs, then everything, pretrained weights at
``pretrained_lr_scale`` times the rate); a model without one trains from scratch (mode
``scratch``) on the same data. ``train_trials``: the training-set sizes, in training trials
(segments of the train split) of the new session, e.g. ``[8, 16, 32, 64, 128, all]``; each size
is a random subset (seeded by the run's seed), smaller sets nested in larger ones; validation
and test splits are the session's own, whole. ``eval_every`` > 0 also scores the test split every
that many epochs of adaptation, with the gradient steps and seconds spent so far.
``seen_sessions``: a session that was in the pretraining data is refused before anything trains
(``refuse``, the default) or adapted and tested on its own test split (``allow``: POYO-mp's and
o-POSSM's FT rows on datasets whose sessions were pretrained on; the record lists them).

One record per model, dataset and seed. Fields a reader needs (``bench paper``): ``protocol:
finetune``; each ``sessions[i].points[j]`` is one adaptation: ``setting`` = {``mode``,
``train_trials`` (as requested: a number or "all"), ``n_train`` (trials actually used)},
``metrics`` (the task's test metrics, e.g. ``r2``), ``fit`` (epochs, best epoch), ``train_seconds``,
``scores.steps`` (gradient steps) and, with ``eval_every``, ``scores.curve`` = [{epoch, steps,
seconds, <metric>}]. ``scores.pretrained`` of the record = {label's checkpoint, its pretraining
run key, weights SHA-256, and the pretraining suite's
reference where the suite names one}; ``scores.seen_in_pretraining``: the record's sessions that
were in the pretraining data (empty: all held out). The record's summary is its first mode at the largest size.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Iterator, Literal, Sequence

import numpy as np
from pydantic import Field, field_validator

from bench.errors import SuiteError
from bench.metrics.regression import aggregate_sessions
from bench.protocols import Protocol, ProtocolParams, RunContext
from bench.protocols.common import new_model, run_device
from bench.protocols.finetune_tables import figures, tables
from bench.protocols.pretrained_ref import (PretrainedRun, identity_params, relative, require_checkpoint,
                                            resolve)
from bench.results.provenance import finish_provenance, provenance
from bench.results.records import CurvePoint, Record, SessionResult, Summary
from bench.suite.execute import make_record, streaming_diff
from bench.suite.plan import PlannedRun
from bench.tasks.base import TaskData
from bench.training.loop import on_epoch_end

Mode = Literal["ui", "ft"]


class FinetuneParams(ProtocolParams):
    checkpoints: dict[str, str | PretrainedRun] = Field(
        default_factory=dict, description="model label -> its pretraining checkpoint: {pretrain_suite, label} (the "
        "pretraining suite's run) or a checkpoint stem (relative to the suite file)")
    modes: list[Mode] = Field(["ui", "ft"], min_length=1, description="adaptations of each checkpointed model")
    ui_epochs: int = Field(10, ge=0, le=100_000, description="ft: epochs of unit identification before unfreezing")
    pretrained_lr_scale: float = Field(1.0, gt=0, le=10, description="ft: learning-rate factor of the pretrained "
                                       "weights after unfreezing")
    train_trials: list[int | Literal["all"]] = Field(["all"], min_length=1, max_length=64,
                                                     description="training-set sizes in trials of the new session")
    new_head: bool = Field(False, description="a task with other outputs than the pretraining's (cross-species, e.g. "
                           "handwriting after NHP reaching) gets a fresh readout; otherwise it is refused")
    eval_every: int = Field(0, ge=0, le=100_000, description="score the test split every k epochs of adaptation "
                            "(compute-efficiency curve); 0: at the end only")
    seen_sessions: Literal["refuse", "allow"] = Field(
        "refuse", description="a session that was in the pretraining data: refused before anything trains, or "
        "adapted and tested on its test split (which pretraining never trained on), listed in the record's "
        "scores.seen_in_pretraining")

    @field_validator("train_trials")
    @classmethod
    def _sizes(cls, sizes: list) -> list:
        if any(isinstance(n, int) and n < 1 for n in sizes) or len(set(map(str, sizes))) != len(sizes):
            raise ValueError(f"train_trials lists distinct positive trial counts or 'all'; got {sizes[:10]}")
        return sizes


def subset(data: TaskData, n: int | str, seed: int) -> TaskData:
    """``data`` with the first ``n`` trials of a seeded permutation of its train split (nested sizes)."""
    train = data.segments("train")
    if n == "all" or n >= len(train):
        return data
    order = np.random.default_rng([seed, 17]).permutation(len(train))[: int(n)]
    return replace(data, splits={**data.splits, "train": [train[i] for i in sorted(order)]})


def checkpoint_path(ctx: RunContext, label: str) -> Path | None:
    value = ctx.params.checkpoints.get(label)
    return None if value is None else resolve(value, ctx.suite, label).stem


def check_checkpoints(runs: Sequence[PlannedRun], ctx: RunContext) -> tuple[dict[str, dict], dict[tuple, list[str]]]:
    """Every named checkpoint exists, is readable and fits its model, and no session it was
    pretrained on is adapted unless the suite allows it, before anything trains. Returns each
    label's checkpoint summary and, per (label, dataset), its sessions seen in pretraining."""
    from bench.pretraining.checkpoint import check_architecture, read_sidecar

    labels = {m.display for m in ctx.suite.spec.models} | _file_labels(ctx.suite)
    unknown = sorted(set(ctx.params.checkpoints) - labels)
    if unknown:
        raise SuiteError(f"Suite file {ctx.suite.path}: protocol.params.checkpoints names models {unknown}, which are "
                         f"not model labels of the suite ({', '.join(sorted(labels))}).")
    info, pretrained_on = {}, {}
    for run in runs:
        value = ctx.params.checkpoints.get(run.model.display)
        if value is None or run.model.display in info:
            continue
        resolved = resolve(value, ctx.suite, run.model.display)
        require_checkpoint(value, resolved, ctx.suite, run.model.display)
        stem = resolved.stem
        sidecar = read_sidecar(stem)
        check_architecture(sidecar, run.model.name, ctx.suite.model_params(run.model, run.dataset).model_dump(mode="json"),
                           f"Suite file {ctx.suite.path}: checkpoint of model '{run.model.display}' ({stem})")
        key = sidecar.get("provenance", {}).get("run_key")
        if resolved.run_key is not None and key != resolved.run_key:
            raise SuiteError(f"Suite file {ctx.suite.path}: the checkpoint {stem} of model '{run.model.display}' was "
                             f"written by pretraining run key {key}, not by {resolved.run_key}, the run its suite plans "
                             "now; the file was replaced or copied in by hand. Rerun the pretraining suite.")
        info[run.model.display] = {"checkpoint": relative(stem, ctx.suite.base_dir), "key": key,
                                   "sha256": sidecar["weights"]["sha256"],
                                   "pretraining_sessions": len(sidecar.get("data", [])),
                                   **({"reference": value.model_dump(mode="json", exclude_none=True)}
                                      if isinstance(value, PretrainedRun) else {})}
        pretrained_on[run.model.display] = set(sidecar.get("data", []))
    return info, _seen_sessions(runs, ctx, pretrained_on)


def _file_labels(suite) -> set[str]:
    """The model labels of the suite file, where a command's ``--models`` runs only some of them."""
    if not (suite.overrides and "models" in suite.overrides):
        return set()
    from bench.suite.yaml_limits import read_yaml

    models = (read_yaml(suite.path) or {}).get("models") or []
    return {m.get("label") or m.get("name") for m in models if isinstance(m, dict)}


def _seen_sessions(runs: Sequence[PlannedRun], ctx: RunContext, pretrained_on: dict[str, set]) -> dict[tuple, list[str]]:
    """(label, dataset) -> the dataset's sessions its checkpoint was pretrained on, for every dataset
    of the suite (not only these runs', which may be one: a suite that would adapt a seen session
    is refused by its first run, before it trains)."""
    from bench.models.tokens import session_key

    seen = {}
    for label, keys in pretrained_on.items():
        for ds in ctx.suite.spec.datasets:
            ids = sorted(rec.recording_id for rec in ctx.cache.recordings(ds) if session_key(rec) in keys)
            seen[(label, ds.name)] = ids
            if ids and ctx.params.seen_sessions == "refuse":
                raise SuiteError(
                    f"Suite file {ctx.suite.path}: dataset '{ds.name}' holds session(s) {ids[:5]} that the "
                    f"pretrained model '{label}' was pretrained on; adapting and testing on them measures a model "
                    "that has seen those sessions' training trials. Give held-out sessions (the dataset's sessions "
                    "field), or set protocol.params.seen_sessions: allow to adapt them knowingly (their records list "
                    "them under scores.seen_in_pretraining).")
    return seen


class _Progress:
    """Counts gradient steps (one augmented training batch each) and, every ``every`` epochs,
    scores the test split: the compute-efficiency curve of one adaptation."""

    def __init__(self, model, task, test, every: int):
        self.model, self.task, self.test, self.every = model, task, test, every
        self.steps, self.curve, self.t0, self.epochs = 0, [], time.perf_counter(), 0
        augment = model.augment

        def counted(batch, rng):
            self.steps += 1
            return augment(batch, rng)

        model.augment = counted

    def __call__(self, entry: dict) -> None:
        self.epochs += 1
        if self.every and self.epochs % self.every == 0:
            training = self.model.module.training
            score = self.task.score(self.test, self.model.predict(self.test))[self.task.primary_metric]
            self.model.module.train(training)
            self.curve.append({"epoch": self.epochs, "steps": self.steps,
                               "seconds": time.perf_counter() - self.t0, self.task.primary_metric: score})


def adapt_once(run: PlannedRun, ctx: RunContext, data: TaskData, mode: str, device: str) -> tuple[object, dict, _Progress]:
    """One adaptation of the run's model to ``data``: from scratch, or from its checkpoint (UI / FT)."""
    from bench.pretraining.checkpoint import load_checkpoint
    from bench.pretraining.finetune import adapt

    task, train = ctx.suite.task(run.dataset), ctx.suite.train_config(run.model)
    if mode == "scratch":
        model = new_model(run, ctx)
    else:
        params = ctx.suite.model_params(run.model, run.dataset)
        model = load_checkpoint(checkpoint_path(ctx, run.model.display), run.model.name, params.model_dump(mode="json"),
                                device, seed=run.seed).decoder
    watch = _Progress(model, task, data.segments("test"), ctx.params.eval_every)
    with on_epoch_end(watch):
        if mode == "scratch":
            fit = model.fit([data], train, progress=ctx.progress)
        else:
            fit = adapt(model, [data], train, mode, ui_epochs=ctx.params.ui_epochs,
                        pretrained_lr_scale=ctx.params.pretrained_lr_scale, new_head=ctx.params.new_head,
                        progress=ctx.progress, allow_seen=ctx.params.seen_sessions == "allow")
    return model, fit, watch


def execute(runs: Sequence[PlannedRun], ctx: RunContext) -> Iterator[Record]:
    pretrained, seen = check_checkpoints(runs, ctx)
    for run in runs:
        device = run_device(run, ctx)
        started = provenance(device)
        task = ctx.suite.task(run.dataset)
        modes = list(ctx.params.modes) if run.model.display in pretrained else ["scratch"]
        sessions, stream_diff = [], None
        for data in ctx.cache.task_data(run.dataset):
            points = []
            for n in ctx.params.train_trials:
                part = subset(data, n, run.seed)
                for mode in modes:
                    t0 = time.perf_counter()
                    model, fit, watch = adapt_once(run, ctx, part, mode, device)
                    train_s = time.perf_counter() - t0
                    test = data.segments("test")
                    points.append(CurvePoint(
                        setting={"mode": mode, "train_trials": n, "n_train": len(part.segments("train"))},
                        metrics=task.score(test, model.predict(test)), fit=fit, train_seconds=train_s,
                        scores={"steps": watch.steps, "curve": watch.curve}))
            if not sessions and ctx.suite.spec.check_streaming and model.streams_like_predict:
                test = data.segments("test")  # the last adaptation (largest size, last mode) streams as it predicts
                stream_diff = streaming_diff(model, test[0], model.predict(test[:1])[0], data.chunk_s)
            largest = [p for p in points if p.setting["train_trials"] == _largest(ctx.params.train_trials)]
            head = next(p for p in largest if p.setting["mode"] == modes[0])
            sessions.append(SessionResult(
                recording_id=data.recording.recording_id, n_units=data.recording.n_units, metrics=head.metrics,
                n_parameters=int(model.n_parameters()), fit=head.fit, train_seconds=sum(p.train_seconds for p in points),
                eval_seconds=0.0, points=points))
        values = [s.metrics[task.primary_metric] for s in sessions]
        yield make_record(
            run, ctx.suite, summary=Summary(**aggregate_sessions(values)), sessions=sessions,
            n_parameters=sessions[0].n_parameters, latency={}, streaming_max_abs_diff=stream_diff,
            train_seconds=float(sum(s.train_seconds for s in sessions)), eval_seconds=0.0,
            scores={"modes": modes, **({"pretrained": pretrained[run.model.display],
                                        "seen_in_pretraining": seen[(run.model.display, run.dataset.name)]}
                                       if modes != ["scratch"] else {})},
            provenance=finish_provenance(started))


def _largest(sizes: list) -> int | str:
    return "all" if "all" in sizes else max(sizes)


PROTOCOL = Protocol("finetune", FinetuneParams, execute, tables=tables, figures=figures, identity_params=identity_params)
