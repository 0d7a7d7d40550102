"""Read a suite YAML file and validate it completely before anything runs."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from pydantic import BaseModel, ValidationError

from bench import registry
from bench.data.recording import Recording
from bench.errors import SuiteError
from bench.models.base import Decoder
from bench.suite.schema import DatasetSpec, ModelSpec, SuiteSpec
from bench.suite.yaml_limits import clip, read_yaml, short
from bench.training.config import TrainConfig


def _loc(loc: tuple, prefix: str = "") -> str:
    parts = [prefix] if prefix else []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        else:
            text = str(item)  # a key may hold control characters: never print them raw
            parts.append(clip(text if text.isprintable() else repr(text)[1:-1], 40))
    return ".".join(parts) or "(top level)"


def _expected(model: type[BaseModel] | None, loc: tuple) -> str:
    """Describe the allowed values / type of the field at ``loc`` when it is a simple field."""
    if model is None or not loc:
        return ""
    field = model.model_fields.get(str(loc[-1])) if len(loc) == 1 else None
    if field is None:
        return ""
    ann = field.annotation
    if typing.get_origin(ann) is typing.Literal:
        return f" Allowed values: {', '.join(repr(a) for a in typing.get_args(ann))}."
    return f" Expected type: {getattr(ann, '__name__', str(ann)).replace('typing.', '')}."


def format_validation_error(exc: ValidationError, file: Path, prefix: str = "", model: type[BaseModel] | None = None) -> str:
    lines = []
    for err in exc.errors()[:5]:
        where = _loc(tuple(err["loc"]), prefix)
        msg = clip(err["msg"])
        if err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "extra_forbidden":
            allowed = ", ".join(sorted(model.model_fields)) if model is not None and len(err["loc"]) == 1 else ""
            msg = "unknown field" + (f" (allowed fields: {allowed})" if allowed else "")
        value = f" (got {short(err['input'])})" if err["type"] not in ("missing", "extra_forbidden") and "input" in err else ""
        lines.append(f"field '{where}': {msg}{value}.{_expected(model, tuple(err['loc']))}")
    return f"Suite file {file}: " + " ".join(lines)


def validate_params(model: type[BaseModel], params: dict, file: Path, where: str) -> BaseModel:
    try:
        return model(**params)
    except ValidationError as exc:
        raise SuiteError(format_validation_error(exc, file, where, model)) from None
    except TypeError as exc:
        raise SuiteError(f"Suite file {file}: field '{where}' must be a mapping of parameters "
                         f"({clip(str(exc))}).") from None


@dataclass
class LoadedSuite:
    """A suite with every component resolved and its parameters validated."""

    path: Path
    spec: SuiteSpec
    overrides: dict | None = None  # top-level fields replaced after reading the file (command-line options)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def train_config(self, model: ModelSpec) -> TrainConfig:
        merged = {**self.spec.train, **model.train}
        i = self.spec.models.index(model)
        return validate_params(TrainConfig, merged, self.path, f"models[{i}].train (merged with suite train)")

    def model_params(self, model: ModelSpec, dataset: DatasetSpec | None = None) -> BaseModel:
        """The model's parameters, with its ``dataset_params`` for ``dataset`` over ``params``."""
        i = self.spec.models.index(model)
        extra = model.dataset_params.get(dataset.name, {}) if dataset is not None else {}
        where = f"models[{i}].params" + (f" (with dataset_params.{dataset.name})" if extra else "")
        return validate_params(registry.models.get(model.name).Params, {**model.params, **extra}, self.path, where)

    def chunk_s(self, dataset: DatasetSpec) -> float:
        return self.spec.chunk_ms_for(dataset) / 1000.0

    def task(self, dataset: DatasetSpec):
        spec = self.spec.task_for(dataset)
        cls = registry.tasks.get(spec.name)
        i = self.spec.datasets.index(dataset)
        where = f"datasets[{i}].task.params" if dataset.task else "task.params"
        return cls(validate_params(cls.Params, spec.params, self.path, where))

    def protocol_params(self) -> BaseModel:
        from bench.protocols import get_protocol

        protocol = get_protocol(self.spec.protocol.name)
        if protocol.Report is not None:  # table options, read only after the runs: checked before them
            validate_params(protocol.Report, self.spec.protocol.report, self.path, "protocol.report")
        return validate_params(protocol.Params, self.spec.protocol.params, self.path, "protocol.params")

    def source(self, dataset: DatasetSpec, cache_dir: Path | None = None):
        cls = registry.data_sources.get(dataset.source)
        i = self.spec.datasets.index(dataset)
        params = validate_params(cls.Params, dataset.params, self.path, f"datasets[{i}].params")
        return cls(params, cache_dir=cache_dir, base_dir=self.base_dir)


def load_suite(path: str | Path, overrides: dict | None = None) -> LoadedSuite:
    """Parse and fully validate a suite; raises SuiteError naming file, field and expectation.
    ``overrides`` replace top-level fields of the file (e.g. a command's ``--models``)."""
    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"Suite file {path} does not exist.")
    raw: Any = read_yaml(path)
    if not isinstance(raw, dict):
        raise SuiteError(f"Suite file {path} must contain a mapping with fields name, task, datasets and models.")
    raw = {**raw, **(overrides or {})}
    try:
        spec = SuiteSpec(**raw)
    except ValidationError as exc:
        raise SuiteError(format_validation_error(exc, path, model=SuiteSpec)) from None
    suite = LoadedSuite(path, spec, overrides or None)
    _check_names(suite)
    if spec.tune is not None:  # search spaces name parameters of the suite's models
        from bench.tune import check_tune

        check_tune(suite)
    return suite


def _check_names(suite: LoadedSuite) -> None:
    spec, path = suite.spec, suite.path

    def lookup(reg, name: str, where: str):
        try:
            return reg.get(name)
        except SuiteError as exc:
            raise SuiteError(f"Suite file {path}: field '{where}': {exc}") from None

    lookup(registry.tasks, spec.task.name, "task.name")
    try:
        suite.protocol_params()
    except SuiteError as exc:
        if str(exc).startswith("Unknown protocol"):
            raise SuiteError(f"Suite file {path}: field 'protocol.name': {exc}") from None
        raise
    for i, ds in enumerate(spec.datasets):
        lookup(registry.data_sources, ds.source, f"datasets[{i}].source")
        suite.source(ds)
        if ds.task:
            lookup(registry.tasks, ds.task.name, f"datasets[{i}].task.name")
        suite.task(ds)
    for i, m in enumerate(spec.models):
        cls = lookup(registry.models, m.name, f"models[{i}].name")
        suite.train_config(m)
        for ds in spec.datasets:
            model = cls(suite.model_params(m, ds))
            try:
                model.check_chunk(suite.chunk_s(ds))
            except SuiteError as exc:
                where = f"models[{i}].params" + (f" / dataset_params.{ds.name}" if ds.name in m.dataset_params else "")
                raise SuiteError(f"Suite file {path}: field '{where}' (dataset '{ds.name}', chunk "
                                 f"{spec.chunk_ms_for(ds):g} ms): {exc}") from None
        if m.needs_gpu and cls.initialise is Decoder.initialise:
            raise SuiteError(
                f"Suite file {path}: field 'models[{i}].needs_gpu': model '{m.name}' cannot be set up untrained "
                "(it has no `initialise`), so it cannot record latency without a GPU; remove needs_gpu."
            )
        for ds in spec.datasets:
            task_cls = registry.tasks.get(spec.task_for(ds).name)
            if task_cls.kind not in cls.supported_kinds:
                kinds = ", ".join(sorted(k.value for k in cls.supported_kinds))
                raise SuiteError(
                    f"Suite file {path}: model '{m.name}' (models[{i}]) cannot do task "
                    f"'{task_cls.registry_name}' of dataset '{ds.name}': that task is {task_cls.kind.value}, "
                    f"and '{m.name}' supports only: {kinds}. Remove the pairing or give the dataset "
                    "another task."
                )


def check_model_inputs(suite: LoadedSuite, dataset: DatasetSpec, recordings: Sequence[Recording],
                       models: Sequence[ModelSpec] | None = None) -> None:
    """Refuse, before any training, a model paired with a dataset whose recordings lack a stream the
    model reads (spike events, or a feature stream named in its parameters), naming both. Needs the
    materialised recordings: which streams a dataset has is known only from its files."""
    for m in suite.spec.models if models is None else models:
        i = suite.spec.models.index(m)
        model = registry.models.get(m.name)(suite.model_params(m, dataset))
        for rec in recordings:
            missing = model.missing_inputs(rec)
            if missing:
                reads = ", ".join(f"{name} (as {kind.value})" for name, kind in model.read_streams().items())
                raise SuiteError(
                    f"Suite file {suite.path}: model '{m.display}' (models[{i}]) cannot run on dataset "
                    f"'{dataset.name}': it reads {reads}, and recording {rec.path or rec.recording_id} has no "
                    f"{' or '.join(repr(s) for s in missing)} (its streams: {', '.join(rec.streams) or 'none'}). "
                    "Pair the model with a dataset that has them, or set its input streams (input_streams / "
                    "feature_streams) to streams this dataset has."
                )
