"""What several protocols do alike: fit a run's model on each training group of its dataset."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator

from bench import registry
from bench.latency import cuda_available
from bench.models.base import Decoder
from bench.protocols import RunContext
from bench.suite.plan import PlannedRun
from bench.tasks.base import TaskData
from bench.training.config import TrainConfig


@dataclass
class Fitted:
    model: Decoder
    group: list[TaskData]  # the sessions it was trained on (one, or all for a multi-session model)
    fit: dict
    train_seconds: float


def run_device(run: PlannedRun, ctx: RunContext) -> str:
    """CUDA for a ``needs_gpu`` model where one is present, else the suite's device."""
    return "cuda" if run.model.needs_gpu and cuda_available() else ctx.device


def training_groups(run: PlannedRun, ctx: RunContext, sessions: list[TaskData] | None = None) -> list[list[TaskData]]:
    """One group per session, or all sessions in one group for a multi-session model."""
    datas = ctx.cache.task_data(run.dataset) if sessions is None else sessions
    return [datas] if registry.models.get(run.model.name).multi_session else [[d] for d in datas]


def new_model(run: PlannedRun, ctx: RunContext, seed: int | None = None) -> Decoder:
    cls = registry.models.get(run.model.name)
    return cls(ctx.suite.model_params(run.model, run.dataset), seed=run.seed if seed is None else seed, device=run_device(run, ctx))


def fit_groups(run: PlannedRun, ctx: RunContext, train: TrainConfig | None = None,
               sessions: list[TaskData] | None = None) -> Iterator[Fitted]:
    """The run's model fitted on each training group in turn (``train``: default the suite's)."""
    train = train or ctx.suite.train_config(run.model)
    for group in training_groups(run, ctx, sessions):
        model = new_model(run, ctx)
        t0 = time.perf_counter()
        report = model.fit(group, train, progress=ctx.progress)
        yield Fitted(model, group, report, time.perf_counter() - t0)


def primary_score(task, segments, predictions) -> float:
    """The task's primary metric of ``predictions`` on ``segments``."""
    return task.score(segments, predictions)[task.primary_metric]
