"""Which pretraining checkpoint a fine-tuning suite starts from: a path, or a pretraining suite's run.

A ``finetune`` suite names each pretrained model (``protocol.params.checkpoints``, by model label)
either by a checkpoint stem (relative to the suite file) or, so that the name survives any change
that re-keys the pretraining run, by the pretraining *suite*:

    checkpoints:
      o-possm-gru: {pretrain_suite: transfer_pretrain.yaml, label: o-possm-gru}

That suite is planned exactly as ``bench run`` plans it (``bench.suite.plan``: same settings, same
key), and its run with that model label (and ``dataset`` / ``seed`` where it has several) names the
checkpoint ``<run folder>/checkpoints/<record stem>``, as the ``pretrain`` protocol writes it. The
run folder is ``runs/<pretraining suite name>`` in the working folder (``bench run``'s default), or
``run_folder`` (relative to the fine-tuning suite file, for a pretraining run made with ``--out``).

The resolved pretraining key enters the fine-tuning runs' identity (``identity_params``): a changed
pretraining (settings, versions) makes the fine-tuning records stale, as a changed path did.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from bench.errors import SuiteError
from bench.suite.yaml_limits import clip, short


class PretrainedRun(BaseModel):
    """A pretraining suite's run, named by the suite file and the model label (see module doc)."""

    model_config = ConfigDict(extra="forbid")

    pretrain_suite: str = Field(min_length=1, description="the pretraining suite file, relative to this suite file")
    label: str = Field(min_length=1, description="the model's label (or name) in the pretraining suite")
    dataset: str | None = Field(None, description="its dataset, where the pretraining suite has several")
    seed: int | None = Field(None, ge=0, description="its seed, where the pretraining suite has several")
    run_folder: str | None = Field(None, description="the pretraining run folder, relative to this suite file "
                                   "(default: runs/<pretraining suite name> in the working folder)")


@dataclass(frozen=True)
class ResolvedCheckpoint:
    stem: Path  # the checkpoint's stem (``.safetensors`` + ``.json``)
    run_key: str | None  # the pretraining run's key (None for a plain path: read from the sidecar)
    run_name: str | None  # its record file name
    suite_file: Path | None  # the pretraining suite file
    folder: Path | None  # its run folder


def _where(suite, label: str) -> str:
    return f"Suite file {suite.path}: protocol.params.checkpoints.{label}"


def _pretraining_run(ref: PretrainedRun, suite, label: str):
    """The planned run of the pretraining suite that ``ref`` names, and the loaded suite."""
    from bench.suite.loader import load_suite
    from bench.suite.plan import plan_runs

    where = _where(suite, label)
    try:
        path = (suite.base_dir / ref.pretrain_suite).resolve()
        is_file = path.is_file()
    except (OSError, ValueError):  # a name too long, a NUL byte
        path, is_file = suite.base_dir / ref.pretrain_suite, False
    if not is_file:
        raise SuiteError(f"{where}: pretrain_suite {short(ref.pretrain_suite)} is no file ({short(str(path))}); give the pretraining "
                         "suite's file, relative to this suite file (e.g. transfer_pretrain.yaml beside it).")
    try:
        pre = load_suite(path)
    except SuiteError as exc:
        raise SuiteError(f"{where}: the pretraining suite {path} is invalid: {exc}") from None
    if pre.spec.protocol.name != "pretrain":
        raise SuiteError(f"{where}: suite {path} runs protocol '{pre.spec.protocol.name}', not 'pretrain'; name the "
                         "suite whose runs write the checkpoints (protocol: pretrain).")
    runs = [r for r in plan_runs(pre) if r.model.display == ref.label
            and (ref.dataset is None or r.dataset.name == ref.dataset) and (ref.seed is None or r.seed == ref.seed)]
    if len(runs) != 1:
        planned = ", ".join(f"{r.model.display} / {r.dataset.name} / seed {r.seed}" for r in plan_runs(pre))
        asked = f"label {short(ref.label)}" + (f", dataset {short(ref.dataset)}" if ref.dataset else "") + \
            (f", seed {ref.seed}" if ref.seed is not None else "")
        why = "matches none" if not runs else f"matches {len(runs)} (set dataset and seed to pick one)"
        raise SuiteError(f"{where}: {asked} {why} of the runs of pretraining suite {path} (label / dataset / seed: "
                         f"{planned}).")
    return runs[0], pre


def resolve(value: str | PretrainedRun, suite, label: str) -> ResolvedCheckpoint:
    """The checkpoint that ``value`` (a stem, or a pretraining suite's run) names."""
    if isinstance(value, str):
        return ResolvedCheckpoint((suite.base_dir / value).resolve(), None, None, None, None)
    from bench.protocols.pretrain import checkpoint_stem
    from bench.suite.schedule import default_out

    run, pre = _pretraining_run(value, suite, label)
    folder = (suite.base_dir / value.run_folder) if value.run_folder else default_out(pre)
    try:
        folder = folder.resolve()
    except (OSError, ValueError) as exc:
        raise SuiteError(f"{_where(suite, label)}: run_folder {short(value.run_folder)} is no usable folder "
                         f"({clip(str(exc))}).") from None
    return ResolvedCheckpoint(checkpoint_stem(folder, run), run.key, run.name, pre.path.resolve(), folder)


def require_checkpoint(value: str | PretrainedRun, resolved: ResolvedCheckpoint, suite, label: str) -> None:
    """A suite-named checkpoint that does not exist (yet) is one paragraph saying how to make it.
    (A missing plain path is the checkpoint reader's error.)"""
    from bench.pretraining.checkpoint import paths
    from bench.pretraining.pretrain import last_stem

    if isinstance(value, str) or paths(resolved.stem)[1].is_file():
        return
    suite_arg = _shown(resolved.suite_file)
    out = f" --out {_shown(resolved.folder)}" if isinstance(value, PretrainedRun) and value.run_folder else ""
    partial = paths(last_stem(resolved.stem))[1].is_file()
    others = sorted(p.name[: -len(".json")] for p in resolved.stem.parent.glob(f"{value.label}__*.json")
                    if not p.name.endswith(".last.json"))
    state = ("a partial checkpoint of this run is there (the pretraining was interrupted: the same command resumes "
             "it)" if partial else
             f"checkpoints of other keys are there ({', '.join(others[:3])}: the pretraining settings or versions "
             "changed since they were made)" if others else "it has no checkpoint of this run")
    raise SuiteError(
        f"{_where(suite, label)}: the pretrained model is the run '{resolved.run_name}' (key {resolved.run_key}) of "
        f"pretraining suite {resolved.suite_file}, whose checkpoint {resolved.stem}.json does not exist; {state}. "
        f"Make it first with `python -m bench run {suite_arg}{out}` (or on several processes: `torchrun --standalone "
        f"--nproc_per_node 2 -m bench.pretraining.distributed {suite_arg}{out}`), from the folder this suite runs "
        "from, then run this suite again.")


def identity_params(params: BaseModel, suite, model) -> dict:
    """The protocol parameters as they enter the identity of ``model``'s runs: a suite-named
    checkpoint only in its own model's runs, with the key of the pretraining run it resolves to
    (the run folder, a location, is left out), so that re-pretraining one model re-keys its
    fine-tuning runs and no other. Plain paths stay in every run's identity, as they always were."""
    out = params.model_dump(mode="json")
    for label, value in getattr(params, "checkpoints", {}).items():
        if not isinstance(value, PretrainedRun):
            continue
        if label != model.display:
            del out["checkpoints"][label]
            continue
        entry = {k: v for k, v in out["checkpoints"][label].items() if v is not None and k != "run_folder"}
        out["checkpoints"][label] = {**entry, "run_key": resolve(value, suite, label).run_key}
    return out


def relative(path: Path, base: Path | str = ".") -> str:
    """``path`` relative to ``base`` (a record names a checkpoint relative to its suite file; a
    message, relative to the working folder, as a user types it); absolute where it cannot be."""
    try:
        return os.path.relpath(path, base)
    except ValueError:  # another drive
        return str(path)


def _shown(path: Path) -> str:
    rel = relative(path)
    return str(path) if rel.startswith("..") else rel
