"""Experiment protocols: what one run of a suite does with a model on a dataset.

A suite names its protocol (``protocol: {name: latency, params: {rounds: 3}}``; default
``train_eval``, the leaderboard's train -> evaluate -> time). Every protocol turns planned runs
(model x dataset x seed, ``bench.suite.plan``) into records of the one record schema, so planning,
resuming, atomic writing and reports are the runner's, whatever the protocol. A protocol's
non-default parameters enter the run identity; ``train_eval`` with its defaults adds nothing, so
leaderboard keys are those of before protocols existed.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import pandas as pd
from pydantic import BaseModel, ConfigDict

from bench.errors import SuiteError

if TYPE_CHECKING:
    from pathlib import Path

    from bench.results.records import Record
    from bench.suite.execute import DatasetCache
    from bench.suite.loader import LoadedSuite
    from bench.suite.plan import PlannedRun
    from bench.suite.schema import ModelSpec

# name -> module defining ``PROTOCOL`` (imported when first used: protocols import the runner)
_MODULES = {
    "train_eval": "bench.protocols.train_eval",
    "latency": "bench.protocols.latency",
    "training_time": "bench.protocols.training_time",
    "learning_curve": "bench.protocols.learning_curve",
    "parameters": "bench.protocols.parameters",
    "window_position": "bench.protocols.window_position",
    "pretrain": "bench.protocols.pretrain",
    "finetune": "bench.protocols.finetune",
}


class ProtocolParams(BaseModel):
    """A protocol's parameters (none by default); unknown fields are suite errors, non-finite numbers too."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


@dataclass(frozen=True)
class RunContext:
    """What a protocol gets besides its runs: the suite, its datasets, the device, its parameters."""

    suite: "LoadedSuite"
    cache: "DatasetCache"
    device: str
    progress: bool
    params: BaseModel
    # the run folder: where a protocol may keep per-session checkpoints (None: nowhere, no resume)
    out: Path | None = None


@dataclass(frozen=True)
class Table:
    """One table of a protocol's report: written as ``<name>.md`` (and ``.csv`` with a frame)."""

    name: str
    markdown: str
    frame: pd.DataFrame | None = None


@dataclass(frozen=True)
class Protocol:
    name: str
    Params: type[ProtocolParams]
    execute: Callable[[Sequence["PlannedRun"], RunContext], Iterator["Record"]]
    # the report's tables from the suite's current records; None: the leaderboard tables
    tables: Callable[[list["Record"], "LoadedSuite"], list[Table]] | None = None
    # True: the runs of one dataset and seed execute together in one process, never in parallel
    # workers (timings interleave the models so that drifts of a shared machine hit all alike)
    together: bool = False
    version: int = 1
    # figures of the report, written into the report folder: (records, suite, folder) -> files
    figures: Callable[[list["Record"], "LoadedSuite", "Path"], list["Path"]] | None = None
    # the options its tables read (protocol.report), checked by `bench validate`; None: not checked
    Report: type[ProtocolParams] | None = None
    # its parameters as they enter the identity of one model's runs, given the suite (e.g. that
    # model's named pretraining run, resolved to its key); None: the parameters as validated
    identity_params: Callable[[BaseModel, "LoadedSuite", "ModelSpec"], dict] | None = None


def protocol_names() -> list[str]:
    return list(_MODULES)


def get_protocol(name: str) -> Protocol:
    if name not in _MODULES:
        raise SuiteError(f"Unknown protocol '{name}'; expected one of: {', '.join(_MODULES)}.")
    return importlib.import_module(_MODULES[name]).PROTOCOL
