"""The default protocol: train, evaluate, check streaming and time each model; the leaderboard's.

For each session of the dataset: fit the model on train (model selection on valid), predict the
test split, score it; on the first session also check that streaming reproduces the offline
outputs and measure per-chunk latency. Each session keeps its learning curve (train / valid loss
and the task's metric on the valid split per epoch); the valid split is checked big enough to
select an epoch on before anything trains (``bench.training.validation_split``). After each
session the results so far are checkpointed in the run folder, so a killed run resumes at the
next session (``bench.protocols.session_checkpoint``). A model marked ``needs_gpu`` trains on CUDA whatever the
suite's device; without a GPU its run is recorded untrained (``trained: false``): parameters,
streaming check and CPU latency of the set-up model, which do not depend on the weights.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from bench import registry
from bench.latency import cuda_available
from bench.metrics.regression import aggregate_sessions
from bench.models.base import Decoder
from bench.models.torch_decoder import TorchDecoder
from bench.protocols import Protocol, ProtocolParams, RunContext
from bench.results.provenance import finish_provenance, provenance
from bench.protocols.session_checkpoint import SessionCheckpoint, load_checkpoint, save_checkpoint
from bench.results.records import EpochPoint, Record, SessionResult, Summary
from bench.suite.execute import DatasetCache, make_record, measure_latency, output_scale, streaming_diff
from bench.suite.loader import LoadedSuite
from bench.suite.plan import PlannedRun, trains_here
from bench.tasks.base import TaskData
from bench.training.loop import on_epoch_end
from bench.training.validation_split import check_validation_split

UNTRAINED_REASON = ("needs_gpu and no CUDA device on this machine: metric not measured; parameters, streaming "
                    "check and latency are of the untrained model")


def execute_run(run: PlannedRun, suite: LoadedSuite, cache: DatasetCache, device: str, progress: bool,
                out: Path | None = None) -> Record:
    if not trains_here(run):
        return execute_untrained(run, suite, cache)
    if run.model.needs_gpu:
        device = "cuda"
    started = provenance(device)
    cls = registry.models.get(run.model.name)
    task = suite.task(run.dataset)
    params = suite.model_params(run.model, run.dataset)
    train_cfg = suite.train_config(run.model)
    datas = cache.task_data(run.dataset)
    if issubclass(cls, TorchDecoder):  # trained by the shared loop, which selects on valid
        check_validation_split(run.model.display, datas, train_cfg, f"Suite file {suite.path}, dataset "
                                                                    f"'{run.dataset.name}'")
    chunk_s = suite.chunk_s(run.dataset)
    groups = [datas] if cls.multi_session else [[d] for d in datas]
    state = _resumed(out, run, groups)
    resumed = state.groups_done
    for gi, group in enumerate(groups[resumed:], start=resumed):
        model: Decoder = cls(params, seed=run.seed, device=device)
        t0 = time.perf_counter()
        with epoch_curve(model, group, task) as curve:
            fit_report = model.fit(group, train_cfg, progress=progress)
        train_s = time.perf_counter() - t0
        state.n_parameters.append(model.n_parameters())
        for data in group:
            t1 = time.perf_counter()
            test = data.segments("test")
            preds = model.predict(test)
            metrics = task.score(test, preds)
            state.sessions.append(SessionResult(
                recording_id=data.recording.recording_id, n_units=data.recording.n_units, metrics=metrics,
                n_parameters=state.n_parameters[-1], fit=fit_report, train_seconds=train_s / len(group),
                eval_seconds=time.perf_counter() - t1, curve=list(curve),
            ))
            if not state.stream_checked and suite.spec.check_streaming and model.streams_like_predict:
                state.streaming_max_abs_diff = streaming_diff(model, test[0], preds[0], chunk_s)
                state.streaming_output_scale, state.stream_checked = output_scale(preds[0]), True
                model.to(device)
            if not state.latency and suite.spec.latency.enabled:
                state.latency["cpu"] = measure_latency(model, data, suite, "cpu")
                if suite.spec.latency.cuda and cuda_available() and model.to("cuda"):
                    state.latency["cuda"] = measure_latency(model, data, suite, "cuda")
                model.to(device)
        state.groups_done = gi + 1
        if state.groups_done < len(groups):
            save_checkpoint(out, run.name, state)
    sessions = state.sessions
    values = [s.metrics[task.primary_metric] for s in sessions]
    prov = finish_provenance(started)
    if resumed:
        prov["resumed_after_sessions"] = [s.recording_id for s in sessions[:resumed]]
    return make_record(
        run, suite, trained=True, summary=Summary(**aggregate_sessions(values)), sessions=sessions,
        n_parameters=int(np.median(state.n_parameters)), latency=state.latency,
        streaming_max_abs_diff=state.streaming_max_abs_diff, streaming_output_scale=state.streaming_output_scale,
        train_seconds=float(sum(s.train_seconds for s in sessions)),
        eval_seconds=float(sum(s.eval_seconds for s in sessions)), provenance=prov,
    )


def _resumed(out: Path | None, run: PlannedRun, groups: list[list[TaskData]]) -> SessionCheckpoint:
    """The run's checkpoint when it covers the first sessions of these groups, else a fresh start."""
    fresh = SessionCheckpoint(key=run.key, groups_done=0, sessions=[], n_parameters=[], latency={},
                              stream_checked=False, streaming_max_abs_diff=None, streaming_output_scale=None)
    state = load_checkpoint(out, run.name, run.key)
    if state is None or not 0 < state.groups_done < len(groups):
        return fresh
    expected = [d.recording.recording_id for g in groups[: state.groups_done] for d in g]
    return state if [s.recording_id for s in state.sessions] == expected else fresh


@contextmanager
def epoch_curve(model: Decoder, group: list[TaskData], task) -> Iterator[list[EpochPoint]]:
    """Within the block, the learning curve of ``model``'s training fit (its last, when ``fit``
    trains more than once): per epoch the loop's train / valid losses and the task's primary
    metric on the valid split (mean over the group's sessions), predicted with the epoch's weights.
    The metric's prediction runs with the random generators saved and restored, so training
    draws exactly what it would without it."""
    points: list[EpochPoint] = []
    valid = [(d.segments("valid")) for d in group if d.segments("valid")]

    def valid_metric() -> float | None:
        if not valid:
            return None
        np_state = np.random.get_state()
        try:
            with torch.random.fork_rng(devices=[]):
                values = [task.score(segs, model.predict(segs))[task.primary_metric] for segs in valid]
        except Exception:  # a metric the valid split cannot give (e.g. too few samples): no point, no failure
            return None
        finally:
            np.random.set_state(np_state)
        return float(np.mean(values)) if all(np.isfinite(values)) else None

    def on_epoch(entry: dict) -> None:
        if entry["epoch"] == 0:
            points.clear()
        points.append(EpochPoint(epoch=entry["epoch"], train_loss=entry.get("train_loss"),
                                 valid_loss=entry.get("valid_loss"), valid_metric=valid_metric()))

    with on_epoch_end(on_epoch):
        yield points


def execute_untrained(run: PlannedRun, suite: LoadedSuite, cache: DatasetCache) -> Record:
    """Record what does not need training: parameters, streaming == offline on one test segment,
    per-chunk CPU latency. Set up on the first training group only (one session, or all of them
    for a multi-session model), as the trained path measures latency on its first session."""
    started = provenance("cpu")
    cls = registry.models.get(run.model.name)
    datas = cache.task_data(run.dataset)
    group = datas if cls.multi_session else datas[:1]
    model: Decoder = cls(suite.model_params(run.model, run.dataset), seed=run.seed, device="cpu")
    model.initialise(group)
    test = group[0].segments("test")
    stream_diff = scale = None
    if suite.spec.check_streaming and model.streams_like_predict:
        offline = model.predict(test[:1])[0]
        stream_diff, scale = streaming_diff(model, test[0], offline, suite.chunk_s(run.dataset)), output_scale(offline)
    latency = {"cpu": measure_latency(model, group[0], suite, "cpu")} if suite.spec.latency.enabled else {}
    return make_record(
        run, suite, trained=False, untrained_reason=UNTRAINED_REASON, summary=None, sessions=[],
        n_parameters=int(model.n_parameters()), latency=latency, streaming_max_abs_diff=stream_diff,
        streaming_output_scale=scale, train_seconds=0.0, eval_seconds=0.0, provenance=finish_provenance(started),
    )


def execute(runs: Sequence[PlannedRun], ctx: RunContext) -> Iterator[Record]:
    for run in runs:
        yield execute_run(run, ctx.suite, ctx.cache, ctx.device, ctx.progress, ctx.out)


PROTOCOL = Protocol("train_eval", ProtocolParams, execute)
