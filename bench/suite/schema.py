"""The YAML suite definition, validated in two passes.

1. Shape (pydantic): fields, types, defaults. 2. Meaning: names exist in the registries, each
component's ``params`` validate against its own ``Params`` model, and every model supports the
task kind of every dataset it is paired with. Errors name the file, the field path and what
was expected.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# Names become folder and file names (runs/<suite>/, records, tables): one path component, never
# hidden, '.' or '..', so that no suite can write outside the run folder the user chose.
SAFE_NAME = r"^[A-Za-z0-9_+-][A-Za-z0-9_.+-]{0,63}$"
SAFE_NAME_RULE = "1 to 64 letters, digits, '_', '-', '+' or '.', not starting with '.'"
# A label (a table row) may be free text, but never a path: no separator, no leading '.'.
SAFE_LABEL = r"^[^/\\\x00-\x1f.][^/\\\x00-\x1f]{0,63}$"
MAX_SEED = 2**31 - 1


# Registered names (models, tasks, sources, protocols) are short; a longer one is refused before the
# registry lookup, whose message would quote it whole.
RegisteredName = Annotated[str, Field(min_length=1, max_length=100)]


class TaskSpec(Strict):
    name: RegisteredName
    params: dict[str, Any] = Field(default_factory=dict)


def _from_name(value: Any) -> Any:
    """``task: x`` / ``protocol: x`` are short for ``{name: x}``."""
    return {"name": value} if isinstance(value, str) else value


class DatasetSpec(Strict):
    name: str = Field(pattern=SAFE_NAME, description="label used in tables, e.g. c_co_2016 (" + SAFE_NAME_RULE + ")")
    source: RegisteredName = Field(description="registered data source, e.g. simulator, hdf5, import")
    params: dict[str, Any] = Field(default_factory=dict)
    task: TaskSpec | None = None
    sessions: list[Annotated[int, Field(ge=0, le=100_000)]] | None = Field(
        None, min_length=1, max_length=100_000, description="indices (from 0, in the source's order) of the recordings to use; "
        "default all. Part of the run identity when set",
    )
    chunk_ms: float | None = Field(
        None, ge=1, le=60_000, description="this dataset's streaming chunk in ms (default: the suite's chunk_ms), so that "
        "recordings binned at different widths share one suite",
    )

    _coerce_task = field_validator("task", mode="before")(classmethod(lambda cls, v: _from_name(v)))


class ModelSpec(Strict):
    name: RegisteredName = Field(description="registered model name")
    label: str | None = Field(None, pattern=SAFE_LABEL, description="row name in tables (defaults to name; at "
                              "most 64 characters, no '/', '\\' or leading '.')")
    params: dict[str, Any] = Field(default_factory=dict)
    train: dict[str, Any] = Field(default_factory=dict)
    dataset_params: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="parameters for one dataset, over `params` (keys: dataset names), "
        "e.g. the bin width of a dataset recorded at another bin",
    )
    needs_gpu: bool = Field(
        False, description="train only on a CUDA device (whatever the suite's device); without one the run "
        "records the untrained model's parameters, streaming check and CPU latency, and tables mark its "
        "metric 'needs GPU'. For models whose training budget a CPU cannot meet within the suite's time",
    )
    seeds: list[Annotated[int, Field(ge=0, le=MAX_SEED)]] | None = Field(
        None, min_length=1, max_length=10_000, description="this model's seeds, instead of the suite's (e.g. one seed "
        "for a model too costly to repeat; tables then flag its cells 'fewer seeds')",
    )

    @property
    def display(self) -> str:
        return self.label or self.name


class LatencySpec(Strict):
    enabled: bool = True
    jobs: int = Field(1, ge=1, le=256, description="runs trained in parallel worker processes (each with `threads` threads)")
    threads: int = Field(1, ge=1, le=1024)
    warmup: int = Field(20, ge=0, le=100_000)
    n_chunks: int = Field(300, ge=10, le=1_000_000)
    budget_ms: float = Field(10.0, gt=0, le=3_600_000)
    cuda: bool = Field(True, description="also measure on CUDA when a GPU is present")


class ProtocolSpec(Strict):
    """What each run of the suite does (``bench.protocols``): its name, its parameters (part of the
    run identity where they differ from the defaults) and options of its tables (not part of it)."""

    name: RegisteredName = "train_eval"
    params: dict[str, Any] = Field(default_factory=dict)
    report: dict[str, Any] = Field(default_factory=dict, description="table options, e.g. reference models")


class TrackingSpec(Strict):
    """mlflow tracking of every run (``bench.tracking``); not part of any run's identity."""

    enabled: bool = True
    uri: str | None = Field(None, description="tracking URI; default a SQLite store in the run folder (mlflow.db)")
    experiment: str | None = Field(None, description="experiment name (default: the suite's name)")


class ExecutorSpec(Strict):
    """Where the runs execute: this machine's process pool, or Ray tasks (``bench.suite.ray_executor``)."""

    name: Literal["local", "ray"] = "local"
    address: str | None = Field(None, description="ray: a cluster's address (host:port, ray://host:port or auto); "
                                "default a local Ray runtime with `jobs` CPUs")


class TuneSpec(Strict):
    """``bench tune``: the search space of each model (by label) and how the study runs (``bench.tune``)."""

    trials: int = Field(20, ge=1, le=100_000, description="trials of a study (default of --trials)")
    pruner: Literal["median", "none"] = Field("median", description="median: stop a trial whose validation loss "
                                              "is worse than the median of earlier trials at the same epoch")
    startup_trials: int = Field(5, ge=0, le=100_000, description="trials never pruned, and sampled at random")
    warmup_epochs: int = Field(1, ge=0, le=100_000, description="epochs of each fit never pruned")
    space: dict[str, dict[str, dict[str, Any]]] = Field(
        default_factory=dict, description="model label -> parameter -> distribution, e.g. {gru: {hidden: {int: "
        "[16, 64]}, lr: {loguniform: [1e-4, 1e-2]}}}; model parameters by name, training settings as train.<name> "
        "(or by name when no model parameter has it); a model not listed uses the space its class declares",
    )


def _from_flag(value: Any) -> Any:
    """``tracking: true`` / ``tracking: URI`` are short for ``{enabled: ...}`` / ``{uri: ...}``."""
    return {"enabled": value} if isinstance(value, bool) else {"uri": value} if isinstance(value, str) else value


class SuiteSpec(Strict):
    name: str = Field(pattern=SAFE_NAME, description="the run folder's name, runs/<name> (" + SAFE_NAME_RULE + ")")
    description: str = ""
    task: TaskSpec
    protocol: ProtocolSpec = Field(default_factory=ProtocolSpec, description="train_eval (default), latency, ...")
    chunk_ms: float = Field(50.0, ge=1, le=60_000)
    seeds: list[Annotated[int, Field(ge=0, le=MAX_SEED)]] = Field(default_factory=lambda: [0], min_length=1,
                                                                 max_length=10_000)
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    jobs: int = Field(1, ge=1, le=256, description="runs trained in parallel worker processes (each with `threads` threads)")
    threads: int = Field(
        1, ge=1, le=1024, description="torch CPU threads for training and evaluation (latency uses latency.threads); "
        "1 is robust on shared machines, where oversubscribed threads slow small models by 10x or more"
    )
    train: dict[str, Any] = Field(default_factory=dict)
    latency: LatencySpec = Field(default_factory=LatencySpec)
    check_streaming: bool = Field(True, description="compare streamed and offline outputs on one test segment")
    leaderboard: str | None = Field(
        None, description="folder of the suite's committed leaderboard (relative to the suite file); `bench run` "
        "prints its table beside it, cell by cell",
    )
    datasets: list[DatasetSpec] = Field(min_length=1)
    models: list[ModelSpec] = Field(min_length=1)
    tracking: TrackingSpec | None = Field(None, description="log every run to mlflow (true, a URI, or the fields)")
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec, description="local (default) or ray")
    tune: TuneSpec | None = Field(None, description="search spaces for `bench tune`")

    _coerce_tracking = field_validator("tracking", mode="before")(classmethod(lambda cls, v: _from_flag(v)))
    _coerce_executor = field_validator("executor", mode="before")(classmethod(lambda cls, v: _from_name(v)))

    _coerce_task = field_validator("task", mode="before")(classmethod(lambda cls, v: _from_name(v)))
    _coerce_protocol = field_validator("protocol", mode="before")(classmethod(lambda cls, v: _from_name(v)))

    @model_validator(mode="after")
    def _unique_names(self) -> "SuiteSpec":
        for kind, names in (("datasets", [d.name for d in self.datasets]), ("models", [m.display for m in self.models])):
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"{kind} names must be unique; repeated: {', '.join(dup)} (give models a distinct 'label')")
        datasets = {d.name for d in self.datasets}
        for m in self.models:
            unknown = sorted(set(m.dataset_params) - datasets)
            if unknown:
                raise ValueError(f"model '{m.display}': dataset_params names no dataset of the suite: "
                                 f"{', '.join(unknown)} (datasets: {', '.join(sorted(datasets))})")
        return self

    def task_for(self, dataset: DatasetSpec) -> TaskSpec:
        return dataset.task or self.task

    def chunk_ms_for(self, dataset: DatasetSpec) -> float:
        return dataset.chunk_ms or self.chunk_ms
