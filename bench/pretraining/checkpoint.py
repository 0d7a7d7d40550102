"""Checkpoints of spike-token decoders: safetensors weights plus a JSON sidecar, written atomically.

A checkpoint is two files with one stem: ``<stem>.safetensors`` (every tensor: the network's
state_dict under ``model.``, the optimiser's moments under ``optim.``, target scaling under
``extra.``; safetensors holds tensors only, so loading never runs code) and ``<stem>.json`` (the
sidecar: format version, the model's registered name, class and parameters, the unit and session
vocabularies in row order, the output spec, the training state needed to resume, provenance, and
the SHA-256 of the weights file). The sidecar is renamed into place last and names the weights'
hash, so a half-written, truncated or swapped weights file is refused, never loaded.

Loading reads every tensor onto the CPU (a model saved on a GPU loads on a machine without one;
``to(device)`` afterwards), builds a fresh network, fills it with ``load_state_dict(strict=True)``
and only then hands it over: a refused checkpoint leaves nothing half-loaded.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench import registry
from bench.errors import BenchError
from bench.models.tokens import Vocabulary
from bench.models.torch_decoder import TorchDecoder
from bench.results.records import atomic_write
from bench.tasks.base import OutputSpec, TaskKind

CHECKPOINT_FORMAT = 1
KIND = "neural-decoder-bench checkpoint"
# networks whose constructor is (params, n_units, n_sessions, n_out): the ones a checkpoint can rebuild
NETWORKS = {"possm.model.POSSMNet", "baselines.poyo.model.POYONet"}
# parameters of training and initialisation, not of the function the weights compute: fine-tuning
# may set them differently (and a model's later change of such a default does not orphan a checkpoint)
TRAINING_ONLY = {"dropout", "attn_dropout", "lin_dropout", "unit_dropout", "unit_dropout_min", "unit_init_std",
                 "emb_init_std", "train_window_s", "random_windows", "train_windows", "clip_prob", "edge_weight", "edge_s"}


class CheckpointError(BenchError):
    """A checkpoint cannot be used: missing, corrupt, truncated, of a newer format or another architecture."""


@dataclass
class TrainingState:
    """Where a training run stands, for resuming it exactly: epochs done, optimiser steps, the
    epoch-level random state and the loss history."""

    epoch: int = 0
    steps: int = 0
    rng: dict[str, Any] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    optimizer_groups: list[dict] = field(default_factory=list)
    done: bool = False


@dataclass
class Checkpoint:
    decoder: TorchDecoder
    sidecar: dict
    training: TrainingState
    optimizer_state: dict | None

    @property
    def key(self) -> str | None:
        return self.sidecar.get("provenance", {}).get("run_key")


def paths(stem: Path) -> tuple[Path, Path]:
    stem = Path(stem)
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _class_path(model: str) -> str:
    """The decorated class behind a registered name (the same for every preset of it)."""
    cls = registry.models.base(model)
    return f"{cls.__module__}.{cls.__qualname__}"


def _network_path(module: torch.nn.Module) -> str:
    return f"{type(module).__module__}.{type(module).__qualname__}"


def _optimizer_tensors(state: dict | None) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """Flatten ``optimizer.state_dict()`` into named tensors and its JSON-able param groups."""
    if state is None:
        return {}, []
    tensors = {}
    for idx, slots in state["state"].items():
        for name, value in slots.items():
            tensors[f"optim.{idx}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    return tensors, state["param_groups"]


def _optimizer_state(tensors: dict[str, torch.Tensor], groups: list[dict]) -> dict | None:
    if not groups:
        return None
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, idx, slot = name.split(".", 2)
            state.setdefault(int(idx), {})[slot] = value
    return {"state": state, "param_groups": groups}


def save_checkpoint(stem: Path, decoder: TorchDecoder, *, provenance: dict, training: TrainingState | None = None,
                    optimizer_state: dict | None = None, data: list[str] | None = None) -> Path:
    """Write ``decoder`` (network, vocabulary, output spec, target scaling) and optionally the
    optimiser state to ``<stem>.safetensors`` + ``<stem>.json``, atomically; returns the sidecar path."""
    from safetensors.torch import save_file

    net = _network_path(decoder.module)
    if net not in NETWORKS:
        raise CheckpointError(f"Model '{decoder.registry_name}' ({net}) cannot be checkpointed for transfer; "
                              f"supported networks: {', '.join(sorted(NETWORKS))}.")
    if getattr(decoder, "feature_input", None) is not None:
        raise CheckpointError(f"Model '{decoder.registry_name}' reads feature streams; pretraining checkpoints hold "
                              "spike-token models only (remove feature_streams).")
    weights, sidecar_path = paths(stem)
    weights.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in decoder.module.state_dict().items()}
    if decoder.spec.kind == TaskKind.regression:
        tensors["extra.target_mean"] = torch.from_numpy(np.asarray(decoder.target_mean, np.float32))
        tensors["extra.target_std"] = torch.from_numpy(np.asarray(decoder.target_std, np.float32))
    optim, groups = _optimizer_tensors(optimizer_state)
    tensors.update(optim)
    training = training or TrainingState()
    atomic_write(weights, lambda tmp: save_file(tensors, tmp, metadata={"format": str(CHECKPOINT_FORMAT)}))
    sidecar = {
        "kind": KIND,
        "format": CHECKPOINT_FORMAT,
        "architecture": {"model": decoder.registry_name, "class": _class_path(decoder.registry_name),
                         "network": net, "params": decoder.params.model_dump(mode="json")},
        "vocabulary": {"units": list(decoder.vocab.units), "sessions": list(decoder.vocab.sessions)},
        "output": {"kind": decoder.spec.kind.value, "dim": decoder.spec.dim, "names": list(decoder.spec.names),
                   "blank": decoder.spec.blank},
        "chunk_s": decoder.chunk_s,
        "seed": decoder.seed,
        "training": {**training.__dict__, "optimizer_groups": groups},
        "data": data or [],
        "provenance": provenance,
        "weights": {"file": weights.name, "sha256": _sha256(weights), "n_tensors": len(tensors)},
    }
    text = json.dumps(sidecar, indent=1, default=str)
    atomic_write(sidecar_path, lambda tmp: Path(tmp).write_text(text))
    return sidecar_path


def read_sidecar(stem: Path) -> dict:
    """The sidecar of a checkpoint, checked for kind and format; CheckpointError otherwise."""
    weights, sidecar_path = paths(stem)
    if not sidecar_path.is_file() or not weights.is_file():
        missing = sidecar_path if not sidecar_path.is_file() else weights
        raise CheckpointError(f"Checkpoint {stem}: {missing} does not exist; expected {weights.name} and "
                              f"{sidecar_path.name} side by side (written by the pretrain protocol).")
    try:
        sidecar = json.loads(sidecar_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"Checkpoint sidecar {sidecar_path} is not readable JSON ({exc}); the checkpoint is "
                              "corrupt or truncated: pretrain again or restore the file.") from None
    if not isinstance(sidecar, dict) or sidecar.get("kind") != KIND:
        raise CheckpointError(f"Checkpoint sidecar {sidecar_path} is not a checkpoint of this harness "
                              f"(field 'kind' is {str(sidecar.get('kind') if isinstance(sidecar, dict) else None)[:80]!r}, "
                              f"expected {KIND!r}).")
    fmt = sidecar.get("format")
    if not isinstance(fmt, int) or fmt > CHECKPOINT_FORMAT or fmt < 1:
        raise CheckpointError(f"Checkpoint {sidecar_path} has format {str(fmt)[:20]}, but this version of the harness "
                              f"reads formats 1..{CHECKPOINT_FORMAT}: it was written by a newer version; upgrade "
                              "neural-decoder-bench to load it.")
    return sidecar


def check_architecture(sidecar: dict, model: str, params: dict, where: str) -> None:
    """Refuse a checkpoint whose network differs from the model a suite asks for (class or any
    shape-defining parameter), naming the differences."""
    arch = sidecar["architecture"]
    want = _class_path(model)
    if arch["class"] != want:
        raise CheckpointError(f"{where}: the checkpoint holds a '{arch['model']}' ({arch['class']}), but the suite "
                              f"fine-tunes '{model}' ({want}); a checkpoint only loads into the architecture it was "
                              "pretrained with.")
    diff = sorted(k for k in set(arch["params"]) | set(params)
                  if k not in TRAINING_ONLY and arch["params"].get(k) != params.get(k))
    if diff:
        shown = ", ".join(f"{k}: checkpoint {arch['params'].get(k)!r} vs suite {params.get(k)!r}" for k in diff[:6])
        raise CheckpointError(f"{where}: the checkpoint's '{arch['model']}' has another architecture than the suite's "
                              f"'{model}' ({shown}); set the suite's model parameters to the checkpoint's.")


def load_checkpoint(stem: Path, model: str | None = None, params: dict | None = None, device: str = "cpu",
                    seed: int | None = None) -> Checkpoint:
    """A fresh decoder holding the checkpoint's network, vocabulary and scaling (all tensors read
    onto the CPU, then moved to ``device``). ``model`` / ``params``: refuse another architecture."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    sidecar = read_sidecar(stem)
    weights, sidecar_path = paths(stem)
    try:
        arch, vocab_s, out = sidecar["architecture"], sidecar["vocabulary"], sidecar["output"]
        declared_sha = sidecar["weights"]["sha256"]
        chunk_s = float(sidecar["chunk_s"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"Checkpoint sidecar {sidecar_path} lacks field {exc}; it is corrupt or truncated.") from None
    if model is not None:
        check_architecture(sidecar, model, params if params is not None else arch["params"], f"Checkpoint {stem}")
    if _sha256(weights) != declared_sha:
        raise CheckpointError(f"Checkpoint weights {weights} do not match the SHA-256 its sidecar records: the file is "
                              "corrupt, truncated or from another checkpoint. Nothing was loaded; pretrain again or "
                              "restore the file.")
    try:
        tensors = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"Checkpoint weights {weights} cannot be read ({str(exc)[:200]}). Nothing was loaded.") from None
    if arch["network"] not in NETWORKS:
        raise CheckpointError(f"Checkpoint {sidecar_path} names network {arch['network']!r}, which this harness does "
                              f"not rebuild (supported: {', '.join(sorted(NETWORKS))}).")
    # the suite's model and parameters when given (they differ from the checkpoint's at most in
    # training-only settings, checked above): fine-tuning trains with the suite's dropout
    cls = registry.models.get(model or arch["model"])
    values = params if (model is not None and params is not None) else arch["params"]
    decoder: TorchDecoder = cls(cls.Params(**values), seed=sidecar.get("seed", 0) if seed is None else seed,
                                device=device)
    mod_name, _, cls_name = arch["network"].rpartition(".")
    network_cls = getattr(importlib.import_module(mod_name), cls_name)
    vocab = Vocabulary({k: i for i, k in enumerate(vocab_s["units"])}, {k: i for i, k in enumerate(vocab_s["sessions"])})
    spec = OutputSpec(TaskKind(out["kind"]), int(out["dim"]), tuple(out["names"]), out["blank"])
    net = network_cls(decoder.params, len(vocab.units), len(vocab.sessions), spec.dim)
    state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"Checkpoint {weights} does not fit its declared architecture ({str(exc)[:300]}). "
                              "Nothing was loaded.") from None
    # everything checked: only now is the decoder filled in
    decoder.spec, decoder.chunk_s, decoder.vocab, decoder.unit_ranges = spec, chunk_s, vocab, {}
    decoder.feature_input = None
    if spec.kind == TaskKind.regression:
        decoder.target_mean = tensors["extra.target_mean"].numpy()
        decoder.target_std = tensors["extra.target_std"].numpy()
    decoder.module = net.to(device)
    decoder.device = device
    training = TrainingState(**{k: v for k, v in sidecar.get("training", {}).items() if k in TrainingState.__dataclass_fields__})
    return Checkpoint(decoder, sidecar, training, _optimizer_state(tensors, training.optimizer_groups))
