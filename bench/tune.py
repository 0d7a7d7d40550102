"""``bench tune``: a persistent optuna study of one model's settings on one dataset of a suite.

Each trial samples the model's parameters and training settings from a search space (the
suite's ``tune.space.<model label>``, else the space the model class declares as ``tune_space``),
trains the model on every training group of the dataset with the shared training loop, and
scores it by its best validation loss (mean over groups). The loop reports the validation loss
after every epoch (``bench.training.loop.on_epoch_end``), where the pruner may stop the trial.
Only the train and valid splits are read: the test split is left for the tuned suite's runs.

The study lives in a SQLite file (``<run folder>/tune/<label>__<dataset>.db``) and resumes where
it stopped, even after a kill; the best configuration is written as a suite file whose runs are
records like any other (their identity: the tuned, non-default settings). optuna is imported only
when a study runs (``pip install -e ".[tune]"``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml

from bench import registry
from bench.errors import BenchError, SuiteError
from bench.results.records import atomic_write_text
from bench.suite.loader import LoadedSuite, validate_params
from bench.suite.schema import DatasetSpec, ModelSpec, TuneSpec
from bench.training.config import TrainConfig

KINDS = ("int", "logint", "uniform", "loguniform", "choice")
MAX_INVALID = 20  # invalid sampled configurations in one run before the study stops: the space is wrong
# intermediate values: step = training group * STRIDE + epoch, so that a pruner compares trials on
# the same session at the same epoch
STEP_STRIDE = 100_000


class InvalidConfiguration(Exception):
    """A sampled combination of valid values that the model refuses (a failed trial, not counted)."""


@dataclass(frozen=True)
class Dimension:
    """One sampled setting: ``target`` model or train, its name and distribution."""

    target: str
    name: str
    kind: str
    low: Any = None
    high: Any = None
    step: Any = None
    choices: tuple = ()

    @property
    def key(self) -> str:
        return f"{self.target}.{self.name}"

    def sample(self, trial) -> Any:
        if self.kind == "choice":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.kind in ("int", "logint"):
            return trial.suggest_int(self.key, self.low, self.high, step=self.step or 1, log=self.kind == "logint")
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.kind == "loguniform")


def _parse(where: str, dist: Any, target: str, name: str) -> Dimension:
    def bad(msg: str) -> SuiteError:
        return SuiteError(f"{where}: {msg}. Expected one of {{int: [low, high]}}, {{logint: [low, high]}}, "
                          "{uniform: [low, high]}, {loguniform: [low, high]} (optionally with step: s, not with "
                          "the log ones), or {choice: [a, b, ...]}.")

    if not isinstance(dist, dict):
        raise bad(f"got {dist!r}")
    kinds = [k for k in dist if k in KINDS]
    extra = sorted(set(dist) - set(KINDS) - {"step"})
    if len(kinds) != 1 or extra:
        raise bad(f"got {dist!r}")
    kind, value = kinds[0], dist[kinds[0]]
    step = dist.get("step")
    if kind == "choice":
        if not isinstance(value, list) or not value or step is not None or any(
                not isinstance(v, (str, int, float, bool)) and v is not None for v in value):
            raise bad(f"choice takes a non-empty list of plain values, got {value!r}")
        return Dimension(target, name, kind, choices=tuple(value))
    numbers = isinstance(value, list) and len(value) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    if not numbers or not value[0] < value[1]:
        raise bad(f"{kind} takes [low, high] with low < high, got {value!r}")
    low, high = value
    if kind in ("int", "logint") and not all(isinstance(v, int) for v in value):
        raise bad(f"{kind} takes whole numbers, got {value!r}")
    if kind in ("logint", "loguniform") and (low <= 0 or step is not None):
        raise bad(f"{kind} needs low > 0 and no step, got {value!r}")
    if step is not None and (isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0):
        raise bad(f"step must be a positive number, got {step!r}")
    return Dimension(target, name, kind, low, high, step)


def search_space(suite: LoadedSuite, model: ModelSpec) -> list[Dimension]:
    """The validated search space of ``model``: the suite's for its label, else its class's.
    Names resolve to model parameters, then training settings (``train.x`` / ``model.x`` force one);
    an unknown name, a bad distribution or a bound its field refuses is a SuiteError naming it."""
    cls = registry.models.get(model.name)
    tune = suite.spec.tune
    declared = tune is not None and model.display in tune.space
    space = tune.space[model.display] if declared else getattr(cls, "tune_space", {})
    origin = f"field 'tune.space.{model.display}'" if declared else f"model '{model.name}' (its class's tune_space)"
    if not space:
        raise SuiteError(f"Suite file {suite.path}: model '{model.display}' has no search space: declare one under "
                         f"tune.space.{model.display} (e.g. {{hidden: {{int: [16, 64]}}, lr: {{loguniform: [1e-4, "
                         "1e-2]}}}), or tune a model whose class declares tune_space.")
    model_fields, train_fields = set(cls.Params.model_fields), set(TrainConfig.model_fields)
    dims = []
    for raw_name, dist in space.items():
        where = f"Suite file {suite.path}: {origin}, parameter '{raw_name}'"
        target, _, name = raw_name.partition(".") if "." in raw_name else ("", "", raw_name)
        if target not in ("", "model", "train"):
            target, name = "", raw_name
        if not target:
            target = "model" if name in model_fields else "train" if name in train_fields else ""
        if (target == "model" and name not in model_fields) or (target == "train" and name not in train_fields) \
                or not target:
            raise SuiteError(
                f"{where}: unknown parameter '{raw_name}' of model '{model.name}'. Its parameters: "
                f"{', '.join(sorted(model_fields))}; training settings (train.<name>): {', '.join(sorted(train_fields))}.")
        dim = _parse(where, dist, target, name)
        for bound in dim.choices or (dim.low, dim.high):  # each bound must be a value the field accepts
            if target == "model":
                validate_params(cls.Params, {**model.params, name: bound}, suite.path, f"tune.space.{model.display}")
            else:
                validate_params(TrainConfig, {name: bound}, suite.path, f"tune.space.{model.display}")
        dims.append(dim)
    return dims


def check_tune(suite: LoadedSuite) -> None:
    """Validate the suite's ``tune`` field when it is loaded: every space names a model of the
    suite and only parameters it has."""
    if suite.spec.tune is None:
        return
    labels = {m.display: m for m in suite.spec.models}
    for label in suite.spec.tune.space:
        if label not in labels:
            raise SuiteError(f"Suite file {suite.path}: field 'tune.space.{label}': no model of the suite is labelled "
                             f"'{label}' (models: {', '.join(labels)}).")
        search_space(suite, labels[label])


# ------------------------------------------------------------------ the study
def _import_optuna():
    try:
        import optuna
    except ImportError:
        raise BenchError("`bench tune` needs optuna, which is not installed; install it with "
                         "`pip install -e \".[tune]\"`.") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _pick(suite: LoadedSuite, model: str, dataset: str | None) -> tuple[ModelSpec, DatasetSpec]:
    models = [m for m in suite.spec.models if m.display == model] or [m for m in suite.spec.models if m.name == model]
    if len(models) != 1:
        raise SuiteError(f"Suite file {suite.path}: --model '{model}' is " + ("ambiguous" if models else "not a model")
                         + f" of the suite; its models (labels): {', '.join(m.display for m in suite.spec.models)}.")
    if dataset is None:
        return models[0], suite.spec.datasets[0]
    found = [d for d in suite.spec.datasets if d.name == dataset]
    if not found:
        raise SuiteError(f"Suite file {suite.path}: --dataset '{dataset}' is not a dataset of the suite; its "
                         f"datasets: {', '.join(d.name for d in suite.spec.datasets)}.")
    return models[0], found[0]


@dataclass
class TuneResult:
    study_name: str
    storage: str
    best_suite: Path
    best_params: dict
    best_value: float
    complete: int
    pruned: int


def tune(suite_path: str | Path, model: str, dataset: str | None = None, trials: int | None = None,
         out: str | Path | None = None, best_out: str | Path | None = None, cache_dir: Path | None = None,
         progress: bool = False, log: Callable[[str], None] = print) -> TuneResult:
    """Run (or resume) the study of ``model`` on ``dataset`` (default the suite's first) until it
    holds ``trials`` finished (complete or pruned) trials; write the best configuration as a suite."""
    import torch

    from bench.models.torch_decoder import TorchDecoder
    from bench.suite.execute import DatasetCache, resolve_device
    from bench.suite.loader import check_model_inputs, load_suite
    from bench.suite.schedule import default_out
    from bench.training.loop import TrainingDiverged, on_epoch_end

    suite = load_suite(suite_path)
    spec = suite.spec
    m, ds = _pick(suite, model, dataset)
    cls = registry.models.get(m.name)
    if not issubclass(cls, TorchDecoder):
        raise SuiteError(f"`bench tune` tunes models trained by the shared training loop (it prunes on their "
                         f"per-epoch validation loss); '{m.name}' is not one. Tune a torch model (e.g. mlp, gru).")
    dims = search_space(suite, m)
    settings = spec.tune or TuneSpec()
    trials = trials or settings.trials
    if trials < 1:
        raise SuiteError(f"--trials must be at least 1, got {trials}.")
    optuna = _import_optuna()
    torch.set_num_threads(spec.threads)
    folder = Path(out) if out is not None else default_out(suite) / "tune"
    folder.mkdir(parents=True, exist_ok=True)
    storage_url = f"sqlite:///{(folder.resolve() / f'{m.display}__{ds.name}.db').as_posix()}"
    study_name = f"{spec.name}.{m.display}.{ds.name}"
    seed = spec.seeds[0]
    # a heartbeat marks the trials of a killed process failed (and retries them) once it is stale;
    # trials of another live process on the same study are left alone
    with warnings.catch_warnings():  # heartbeats are "experimental" in optuna 5, and have been for years
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = optuna.storages.RDBStorage(
            storage_url, heartbeat_interval=5, grace_period=15,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1))
    space_attr = {d.key: {d.kind: list(d.choices) or [d.low, d.high], **({"step": d.step} if d.step else {})}
                  for d in dims}
    try:
        previous = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        previous = None
    if previous is not None and previous.user_attrs.get("space", space_attr) != space_attr:
        raise SuiteError(f"The study {study_name} in {storage_url} was made with another search space "
                         f"({previous.user_attrs['space']}; now {space_attr}); delete that file or name another --out "
                         "to start a new study.")
    n_before = len(previous.trials) if previous is not None else 0
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=settings.startup_trials, n_warmup_steps=0)
              if settings.pruner == "median" else optuna.pruners.NopPruner())
    study = optuna.create_study(
        study_name=study_name, storage=storage, direction="minimize", load_if_exists=True, pruner=pruner,
        sampler=optuna.samplers.TPESampler(seed=seed * 100_003 + n_before, n_startup_trials=settings.startup_trials))
    study.set_user_attr("space", space_attr)
    study.set_user_attr("suite", str(suite.path.resolve()))
    finished = lambda: [t for t in study.get_trials(deepcopy=False)  # noqa: E731
                        if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
    done = len(finished())
    log(f"tune {m.display} on {ds.name}: study {study_name} in {storage_url}: {done} of {trials} trials done"
        + (", resuming" if n_before else ""))

    cache = DatasetCache(suite, cache_dir, progress)
    check_model_inputs(suite, ds, cache.recordings(ds), [m])
    datas = cache.task_data(ds)
    for d in datas:
        if not d.segments("valid"):
            raise SuiteError(f"Dataset '{ds.name}': recording {d.recording.recording_id} has no validation split; "
                             "tuning scores trials on the validation loss and never on the test split.")
    groups = [datas] if cls.multi_session else [[d] for d in datas]
    task = suite.task(ds)
    device = "cuda" if m.needs_gpu and resolve_device("auto") == "cuda" else resolve_device(spec.device)
    base_params = {**m.params, **m.dataset_params.get(ds.name, {})}

    def objective(trial) -> float:
        values = {d.key: d.sample(trial) for d in dims}
        model_changes = {d.name: values[d.key] for d in dims if d.target == "model"}
        train_changes = {d.name: values[d.key] for d in dims if d.target == "train"}
        try:  # each bound is valid, but a combination may not be (a bin that does not divide the chunk)
            params = validate_params(cls.Params, {**base_params, **model_changes}, suite.path,
                                     "tune (sampled parameters)")
            train = validate_params(TrainConfig, {**spec.train, **m.train, **train_changes}, suite.path,
                                    "tune (sampled training settings)")
            cls(params).check_chunk(suite.chunk_s(ds))
        except SuiteError as exc:
            trial.set_user_attr("invalid", str(exc))
            raise InvalidConfiguration(str(exc)) from None
        losses, scores = [], []
        for gi, group in enumerate(groups):
            def report(entry: dict, gi: int = gi) -> None:
                trial.report(entry["valid_loss"], gi * STEP_STRIDE + entry["epoch"])
                if entry["epoch"] >= settings.warmup_epochs and trial.should_prune():
                    raise optuna.TrialPruned(f"valid loss {entry['valid_loss']:.4g} at epoch {entry['epoch']} "
                                             f"of group {gi}")
            decoder = cls(params, seed=seed, device=device)
            try:
                with on_epoch_end(report):
                    fit = decoder.fit(group, train, progress=progress)
            except TrainingDiverged as exc:  # a configuration that blows up is a bad one: pruned, with why
                trial.set_user_attr("diverged", str(exc))
                raise optuna.TrialPruned(str(exc)) from None
            losses.append(float(fit["best_valid_loss"]))
            for d in group:
                valid = d.segments("valid")
                scores.append(float(task.score(valid, decoder.predict(valid))[task.primary_metric]))
        trial.set_user_attr(f"valid_{task.primary_metric}", float(np.mean(scores)))
        return float(np.mean(losses))

    invalid: list[str] = []

    def announce(study, t) -> None:
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.params.items())
        what = (f"valid loss {t.value:.4f}" if t.state == optuna.trial.TrialState.COMPLETE else
                "invalid configuration" if "invalid" in t.user_attrs else
                "pruned (diverged)" if "diverged" in t.user_attrs else t.state.name.lower())
        log(f"  trial {t.number}: {what} ({shown})")
        if "invalid" in t.user_attrs:
            invalid.append(t.user_attrs["invalid"])
            if len(invalid) >= MAX_INVALID:
                study.stop()

    if done < trials:
        study.optimize(objective, n_trials=None, catch=(InvalidConfiguration,), callbacks=[
            announce, optuna.study.MaxTrialsCallback(trials, states=(optuna.trial.TrialState.COMPLETE,
                                                                     optuna.trial.TrialState.PRUNED))])
        if len(invalid) >= MAX_INVALID:
            raise SuiteError(f"The search space of '{m.display}' gave {len(invalid)} invalid configurations in this "
                             f"run (failed trials, not counted); the last: {invalid[-1]} Narrow the space so that "
                             "its combinations are valid.")
    with warnings.catch_warnings():  # a trial of a killed process, stale by now: failed (and retried), not "running"
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    states = [t.state for t in finished()]
    complete = sum(s == optuna.trial.TrialState.COMPLETE for s in states)
    if complete == 0:
        raise BenchError(f"The study {study_name} has no complete trial (all {len(states)} pruned); run more trials "
                         "(--trials) or raise tune.startup_trials.")
    best = study.best_trial
    path = Path(best_out) if best_out else suite.path.with_name(f"{suite.path.stem}.{m.display}-tuned.yaml")
    write_best_suite(suite, m, ds, best.params, path,
                     note=f"bench tune: study {study_name} ({storage_url}), best of {complete} complete and "
                          f"{len(states) - complete} pruned trials: trial {best.number}, validation loss {best.value:.5g}, "
                          f"valid {task.primary_metric} {best.user_attrs.get(f'valid_{task.primary_metric}', float('nan')):.4f}")
    log(f"best trial {best.number}: valid loss {best.value:.4f} ({best.params}); {complete} complete, "
        f"{len(states) - complete} pruned. Wrote {path}; run it with `python -m bench run {path}`")
    return TuneResult(study_name, storage_url, path, dict(best.params), float(best.value), complete,
                      len(states) - complete)


def write_best_suite(suite: LoadedSuite, model: ModelSpec, dataset: DatasetSpec, best: dict[str, Any], path: Path,
                     note: str) -> Path:
    """The suite file of the best configuration: the suite's settings, the tuned dataset, and the
    model (labelled ``<label>-tuned``) with the best values over its own. Written beside the suite
    by default, so paths in dataset parameters (relative to the suite file) still resolve."""
    from bench.suite.loader import load_suite

    raw = yaml.safe_load(suite.path.read_text())
    for field in ("tune", "leaderboard"):  # the study's, and the leaderboard of the untuned suite
        raw.pop(field, None)
    i = suite.spec.models.index(model)
    entry = dict(raw["models"][i]) if isinstance(raw["models"][i], dict) else {"name": model.name}
    model_best = {k.split(".", 1)[1]: v for k, v in best.items() if k.startswith("model.")}
    train_best = {k.split(".", 1)[1]: v for k, v in best.items() if k.startswith("train.")}
    own = {k: v for k, v in (entry.get("dataset_params") or {}).get(dataset.name, {}).items() if k not in model_best}
    entry.pop("dataset_params", None)
    if own:
        entry["dataset_params"] = {dataset.name: own}
    entry["params"] = {**(entry.get("params") or {}), **model_best}
    entry["train"] = {**(entry.get("train") or {}), **train_best}
    entry["label"] = f"{model.display}-tuned"[:64]
    raw["models"] = [{k: v for k, v in entry.items() if v != {}}]
    raw["datasets"] = [raw["datasets"][suite.spec.datasets.index(dataset)]]
    raw["name"] = "".join(c if c.isalnum() or c in "_.+-" else "_" for c in f"{suite.spec.name}-{model.display}-tuned")[:64]
    raw["description"] = note
    text = f"# {note}\n" + yaml.safe_dump(raw, sort_keys=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    load_suite(path)  # what was written is a valid suite
    return path
