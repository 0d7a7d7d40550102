"""The YAML suite definition, validated in two passes.

1. Shape (pydantic): fields, types, defaults. 2. Meaning: names exist in the registries, each
component's ``params`` validate against its own ``Params`` model, and every model supports the
task kind of every dataset it is paired with. Errors name the file, the field path and what
was expected.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskSpec(Strict):
    name: str
    params: dict[str, Any] = Field(default_factory=dict)


def _from_name(value: Any) -> Any:
    """``task: x`` / ``protocol: x`` are short for ``{name: x}``."""
    return {"name": value} if isinstance(value, str) else value


class DatasetSpec(Strict):
    name: str = Field(description="label used in tables, e.g. c_co_2016")
    source: str = Field(description="registered data source, e.g. simulator, hdf5, import")
    params: dict[str, Any] = Field(default_factory=dict)
    task: TaskSpec | None = None
    sessions: list[int] | None = Field(
        None, min_length=1, description="indices (from 0, in the source's order) of the recordings to use; "
        "default all. Part of the run identity when set",
    )
    chunk_ms: float | None = Field(
        None, gt=0, description="this dataset's streaming chunk in ms (default: the suite's chunk_ms), so that "
        "recordings binned at different widths share one suite",
    )

    _coerce_task = field_validator("task", mode="before")(classmethod(lambda cls, v: _from_name(v)))


class ModelSpec(Strict):
    name: str = Field(description="registered model name")
    label: str | None = Field(None, description="row name in tables (defaults to name)")
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

    @property
    def display(self) -> str:
        return self.label or self.name


class LatencySpec(Strict):
    enabled: bool = True
    jobs: int = Field(1, ge=1, description="runs trained in parallel worker processes (each with `threads` threads)")
    threads: int = Field(1, ge=1)
    warmup: int = Field(20, ge=0)
    n_chunks: int = Field(300, ge=10)
    budget_ms: float = Field(10.0, gt=0)
    cuda: bool = Field(True, description="also measure on CUDA when a GPU is present")


class ProtocolSpec(Strict):
    """What each run of the suite does (``bench.protocols``): its name, its parameters (part of the
    run identity where they differ from the defaults) and options of its tables (not part of it)."""

    name: str = "train_eval"
    params: dict[str, Any] = Field(default_factory=dict)
    report: dict[str, Any] = Field(default_factory=dict, description="table options, e.g. reference models")


class SuiteSpec(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    task: TaskSpec
    protocol: ProtocolSpec = Field(default_factory=ProtocolSpec, description="train_eval (default), latency, ...")
    chunk_ms: float = Field(50.0, gt=0)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    jobs: int = Field(1, ge=1, description="runs trained in parallel worker processes (each with `threads` threads)")
    threads: int = Field(
        1, ge=1, description="torch CPU threads for training and evaluation (latency uses latency.threads); "
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
