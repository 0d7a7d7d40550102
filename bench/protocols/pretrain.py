"""The ``pretrain`` protocol: one spike-token model trained on every session of a (pooled) dataset,
kept as a checkpoint that fine-tuning runs name.

Each run (model x dataset x seed) trains one model on all the dataset's sessions at once (use the
``pool`` source for sessions across datasets and animals) with the resumable loop of
``bench.pretraining.trainer`` (fixed epoch budget, last weights kept), writing its checkpoint to
``<run folder>/checkpoints/<record file stem>`` (``.safetensors`` + ``.json``). The stem ends with
the run's key, so a fine-tuning suite that names the checkpoint names the pretraining run. A
killed run resumes from its last epoch when the same command runs again.

Record fields (for ``bench paper`` and other readers): ``protocol: pretrain``; ``sessions``: the
test metrics of each pretraining session (the model's fit, not transfer); ``scores``:
``checkpoint`` (path relative to the run folder), ``checkpoint_sha256``, ``n_sessions``,
``n_units``, ``epochs``, ``steps``, ``resumed_from_epoch``, ``loss_curve`` (per epoch: epoch,
train_loss, valid_loss, steps, seconds).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator, Sequence

from pydantic import Field

from bench.errors import SuiteError
from bench.metrics.regression import aggregate_sessions
from bench.protocols import Protocol, ProtocolParams, RunContext
from bench.protocols.common import run_device
from bench.results.provenance import finish_provenance, provenance
from bench.results.records import Record, SessionResult, Summary
from bench.suite.execute import make_record, streaming_diff
from bench.suite.plan import PlannedRun, trains_here

CHECKPOINTS = "checkpoints"


class PretrainParams(ProtocolParams):
    checkpoint_every: int = Field(1, ge=1, le=100_000, description="epochs between resume checkpoints")


def checkpoint_stem(out: Path, run: PlannedRun) -> Path:
    return Path(out) / CHECKPOINTS / Path(run.name).stem


def execute(runs: Sequence[PlannedRun], ctx: RunContext) -> Iterator[Record]:
    out = getattr(ctx, "out", None)
    if out is None:
        raise SuiteError("The pretrain protocol writes checkpoints into the run folder; run it with `bench run`.")
    yield from execute_in(runs, ctx, Path(out))


def execute_in(runs: Sequence[PlannedRun], ctx: RunContext, out: Path) -> Iterator[Record]:
    """The records of ``runs``, their checkpoints written under ``out`` (also the entry of
    ``bench.pretraining.distributed``, where every process runs this and rank 0 writes)."""
    from bench.pretraining.checkpoint import paths, read_sidecar
    from bench.pretraining.pretrain import pretrain
    from bench.protocols.train_eval import execute_untrained

    for run in runs:
        if not trains_here(run):
            yield execute_untrained(run, ctx.suite, ctx.cache)
            continue
        device = run_device(run, ctx)
        started = provenance(device)
        data = ctx.cache.task_data(run.dataset)
        task = ctx.suite.task(run.dataset)
        stem = checkpoint_stem(out, run)
        t0 = time.perf_counter()
        model, report = pretrain(
            run.model.name, ctx.suite.model_params(run.model, run.dataset), data, ctx.suite.train_config(run.model),
            stem, seed=run.seed, device=device, progress=ctx.progress, checkpoint_every=ctx.params.checkpoint_every,
            provenance={**started, "run_key": run.key, "run": run.name, "suite": ctx.suite.spec.name,
                        "identity": run.identity})
        train_s = time.perf_counter() - t0
        sessions = []
        for d in data:
            t1 = time.perf_counter()
            test = d.segments("test")
            sessions.append(SessionResult(
                recording_id=d.recording.recording_id, n_units=d.recording.n_units,
                metrics=task.score(test, model.predict(test)), n_parameters=model.n_parameters(), fit={},
                train_seconds=train_s / len(data), eval_seconds=time.perf_counter() - t1))
        test0 = data[0].segments("test")
        diff = streaming_diff(model, test0[0], model.predict(test0[:1])[0], data[0].chunk_s) \
            if ctx.suite.spec.check_streaming and model.streams_like_predict else None
        sidecar = read_sidecar(stem)
        yield make_record(
            run, ctx.suite, summary=Summary(**aggregate_sessions([s.metrics[task.primary_metric] for s in sessions])),
            sessions=sessions, n_parameters=model.n_parameters(), latency={}, streaming_max_abs_diff=diff,
            train_seconds=train_s, eval_seconds=float(sum(s.eval_seconds for s in sessions)),
            scores={"checkpoint": str(paths(stem)[1].relative_to(out))[: -len(".json")],
                    "checkpoint_sha256": sidecar["weights"]["sha256"], "n_sessions": len(data),
                    "n_units": len(model.vocab.units), "epochs": sidecar["training"]["epoch"],
                    "steps": sidecar["training"]["steps"], "resumed_from_epoch": report.get("resumed_from_epoch", 0),
                    "loss_curve": sidecar["training"]["history"]},
            provenance=finish_provenance(started))


PROTOCOL = Protocol("pretrain", PretrainParams, execute)
