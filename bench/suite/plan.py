"""The runs of a suite and their identity: every model x dataset x seed, each with its key.

The key is made from the settings that differ from their defaults plus declared versions
(``bench.results.identity``), so it survives new parameters with defaults and changes with a
behaviour change. ``config`` keeps every resolved setting for the reader of the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench import registry
from bench.latency import cuda_available
from bench.protocols import get_protocol
from bench.results.identity import component, field_defaults, identity_key, non_default
from bench.results.records import record_name
from bench.suite.loader import LoadedSuite
from bench.suite.schema import DatasetSpec, LatencySpec, ModelSpec
from bench.training.config import TrainConfig


@dataclass(frozen=True)
class PlannedRun:
    model: ModelSpec
    dataset: DatasetSpec
    seed: int
    key: str
    identity: dict
    config: dict

    @property
    def name(self) -> str:
        """File name of the run's record."""
        return record_name(self.model.display, self.dataset.name, self.seed, self.key)


def model_defaults(name: str) -> dict[str, Any]:
    """The parameter values a suite gets for model ``name`` when it sets none."""
    return field_defaults(registry.models.get(name).Params)


def run_identity(*, model: str, model_params: dict, train: dict, task: str, task_params: dict, source: str,
                 source_params: dict, chunk_ms: float, latency: dict, device: str, needs_gpu: bool,
                 seed: int, protocol: str = "train_eval", protocol_params: dict | None = None,
                 sessions: list[int] | None = None) -> dict[str, Any]:
    """Identity of one run from its resolved settings (plain JSON values, defaults included). The
    default protocol with its defaults and a dataset's full session list add nothing to it."""
    model_cls, task_cls = registry.models.get(model), registry.tasks.get(task)
    source_cls = registry.data_sources.get(source)
    run: dict[str, Any] = {"chunk_ms": chunk_ms}
    if device != "cpu":
        run["device"] = device
    if needs_gpu:
        run["needs_gpu"] = True
    lat = non_default(latency, field_defaults(LatencySpec))
    if lat:
        run["latency"] = lat
    identity = {
        "model": component(model, model_cls, non_default(model_params, model_defaults(model)),
                           registry.plugin_provider(model_cls), kind=task_cls.kind.value),
        "task": component(task, task_cls, non_default(task_params, field_defaults(task_cls.Params)),
                          registry.plugin_provider(task_cls)),
        "data": component(source, source_cls, non_default(source_params, field_defaults(source_cls.Params)),
                          registry.plugin_provider(source_cls)),
        "train": non_default(train, field_defaults(TrainConfig)),
        "run": run,
        "seed": seed,
    }
    if sessions is not None:
        identity["data"]["sessions"] = list(sessions)
    protocol_cls = get_protocol(protocol)
    changed = non_default(protocol_params or {}, field_defaults(protocol_cls.Params))
    if protocol != "train_eval" or changed:
        identity["protocol"] = component(protocol, protocol_cls, changed)
    return identity


def plan_runs(suite: LoadedSuite) -> list[PlannedRun]:
    spec = suite.spec
    protocol, params = get_protocol(spec.protocol.name), suite.protocol_params()
    of_model = {m.display: protocol.identity_params(params, suite, m) if protocol.identity_params
                else params.model_dump(mode="json") for m in spec.models}
    runs = []
    for ds in spec.datasets:
        task_spec = spec.task_for(ds)
        task_params = suite.task(ds).params.model_dump(mode="json")
        source_params = suite.source(ds).params.model_dump(mode="json")
        for m in spec.models:
            protocol_params = of_model[m.display]
            config = {
                "model": m.name,
                "model_params": suite.model_params(m, ds).model_dump(mode="json"),
                "train": suite.train_config(m).model_dump(mode="json"),
                "task": {"name": task_spec.name, "params": task_params},
                "dataset": {"source": ds.source, "params": source_params},
                "chunk_ms": spec.chunk_ms_for(ds),
                "latency": spec.latency.model_dump(mode="json"),
                "device": spec.device,
                "needs_gpu": m.needs_gpu,
                "protocol": {"name": spec.protocol.name, "params": protocol_params},
            }
            if ds.sessions is not None:
                config["dataset"]["sessions"] = ds.sessions
            for seed in m.seeds if m.seeds is not None else spec.seeds:
                identity = run_identity(
                    model=m.name, model_params=config["model_params"], train=config["train"], task=task_spec.name,
                    task_params=task_params, source=ds.source, source_params=source_params, chunk_ms=spec.chunk_ms_for(ds),
                    latency=config["latency"], device=spec.device, needs_gpu=m.needs_gpu, seed=seed,
                    protocol=spec.protocol.name, protocol_params=protocol_params, sessions=ds.sessions,
                )
                runs.append(PlannedRun(m, ds, seed, identity_key(identity), identity, config))
    return runs


def trains_here(run: PlannedRun) -> bool:
    """False for a ``needs_gpu`` run on a machine without CUDA (it is then recorded untrained)."""
    return not run.model.needs_gpu or cuda_available()


@dataclass
class StoredRecords:
    """Stored records sorted against the plan: current ones, stale ones (a planned run of the same
    model, dataset and seed now has another key: the differences say why) and the rest."""

    current: list
    stale: list  # (record, [differences])
    unplanned: list


def sort_records(runs: list[PlannedRun], records: list) -> StoredRecords:
    from bench.results.identity import differences

    by_name = {r.name: r for r in runs}
    by_slot = {(r.model.display, r.dataset.name, r.seed): r for r in runs}
    out = StoredRecords([], [], [])
    for rec in records:
        if rec.file_name in by_name:
            out.current.append(rec)
        elif (rec.label, rec.dataset, rec.seed) in by_slot:
            out.stale.append((rec, differences(rec.identity, by_slot[(rec.label, rec.dataset, rec.seed)].identity)))
        else:
            out.unplanned.append(rec)
    return out
