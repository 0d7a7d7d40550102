"""POSSM decoders for the harness: tokenisation of segments into chunks, training, streaming.

One decoder class with one ``POSSMParams``; its sizes are presets (parameter values, registered
as model names). Registered presets (parameter counts exclude unit / session embedding tables; targets
from the paper, FACTS.md):

| name               | backbone          | target |
|--------------------|-------------------|--------|
| possm-gru          | GRU 256 x 1       | 0.47M  |
| possm-s4d          | S4D               | 0.41M  |
| possm-mamba        | Mamba             | 0.68M  |
| possm-gru-large    | GRU 512 x 4       | 7.96M  |
| possm-s4d-large    | S4D               | 4.56M  |
| possm-mamba-large  | Mamba             | 8.96M  |

The large (pretrained-scale) variants train one model on all sessions of a dataset at once.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
import torch
from pydantic import Field, field_validator

from bench.data.recording import SPIKES
from bench.models.base import InputKind, ModelParams, SpikeChunk
from bench.models.presets import Preset
from bench.models.tokens import Vocabulary, session_units, unit_dropout_keep
from bench.models.torch_decoder import Examples, TorchDecoder
from bench.models.windows import chunk_count, chunk_of, sampler_bounds
from bench.training.config import TrainConfig
from bench.registry import models
from bench.tasks.base import Segment, TaskData, TaskKind
from possm.features import ChunkFeatures, FeatureProjection
from possm.model import POSSMNet
from possm.streaming import StreamingPOSSM


def slice_example(ex: dict[str, np.ndarray], i0: int, i1: int, chunk_s: float) -> dict[str, np.ndarray]:
    """Chunks ``[i0, i1)`` of a tokenised segment (tokens sorted by chunk), on the window's own
    clock: the same tokens, offsets and queries :meth:`POSSMDecoder.encode` gives a window cut on
    the segment's chunk grid, without reading the spikes again."""
    lo, hi = np.searchsorted(ex["tok_chunk"], [i0, i1], side="left")
    q = (ex["query_chunk"] >= i0) & (ex["query_chunk"] < i1)
    out = {
        "tok_unit": ex["tok_unit"][lo:hi], "tok_dt": ex["tok_dt"][lo:hi], "tok_phase": ex["tok_phase"][lo:hi],
        "tok_chunk": ex["tok_chunk"][lo:hi] - i0,
        "tok_valid": ex["tok_valid"][lo:hi], "chunk_end": ex["chunk_end"][: i1 - i0],
        "chunk_valid": ex["chunk_valid"][i0:i1], "query_time": ex["query_time"][q] - i0 * chunk_s,
        "query_chunk": ex["query_chunk"][q] - i0, "session": ex["session"],
        "targets": ex["targets"][q], "weights": ex["weights"][q],
    }
    if "features" in ex:
        out["features"] = ex["features"][i0:i1]
    return out


class POSSMParams(ModelParams):
    backbone: Literal["gru", "s4d", "mamba"] = "gru"
    dim: int = Field(64, ge=8, le=8192, description="token / latent width")
    n_latents: int = Field(1, ge=1, le=1024, description="latents per chunk")
    dim_head: int = Field(64, ge=8, le=1024)
    enc_heads: int = Field(1, ge=1, le=128)
    dec_heads: int = Field(1, ge=1, le=128)
    hidden: int = Field(256, ge=8, le=8192, description="backbone width (GRU hidden size / SSM d_model)")
    layers: int = Field(1, ge=1, le=32)
    d_state: int = Field(64, ge=1, le=1024, description="SSM state size (S4D N, Mamba d_state)")
    expand: int = Field(2, ge=1, le=16, description="Mamba expansion factor")
    k_recent: int = Field(3, ge=1, le=1024, description="backbone outputs each output query attends to")
    dropout: float = Field(0.1, ge=0, lt=1)
    attn_dropout: float | None = Field(
        None, ge=0, lt=1, description="dropout on the attention probabilities; None: the same as dropout (the "
        "authors' public config: 0, with dropout 0.2 on the feed-forwards only)")
    rotate_output_values: bool = Field(
        True, description="value rotation in the output attention too (outputs carry the chunk-to-query time)")
    unit_init_std: float = Field(1.0, gt=0, le=10, description="SD of the initial unit embeddings (the authors: 0.02 under LAMB; under this loop's AdamW 0.02 learns far slower, README)")
    train_window_s: float | None = Field(
        1.0, gt=0, le=3600, description="regression tasks train on windows of this length drawn afresh every "
        "epoch as the authors' sampler draws them (as many per segment as fit, at a random phase); None: whole "
        "segments. A suite's train.window_s, when set, takes precedence (fixed tiled windows)")
    t_min: float = Field(1e-4, gt=0, description="shortest RoPE period (s)")
    t_max: float = Field(10.0, gt=0, description="longest RoPE period (s)")
    unit_dropout: bool = Field(True, description="train on random subsets of units: triangular(60, 300, 1000) "
                               "units kept, the whole population when the draw reaches it (the authors' rule)")
    feature_streams: list[str] = Field(
        default_factory=list, description="feature streams (e.g. spike_band_power) read per chunk and added to "
        "its latents through a linear projection; their bin must divide the chunk (possm.features)",
    )

    @field_validator("feature_streams")
    @classmethod
    def _feature_streams(cls, streams: list[str]) -> list[str]:
        if SPIKES in streams or len(set(streams)) != len(streams):
            raise ValueError(f"feature_streams lists distinct feature stream names (spikes are always read); got {streams}")
        return streams


class POSSMDecoder(TorchDecoder):
    """POSSM: spike-token cross-attention per chunk feeding a recurrent backbone."""

    # 2: the authors' training recipe (1 s windows of their sampler, their unit-dropout rule, value
    # rotation in the output attention, unit embeddings N(0, 0.02), single-session dropout 0.2 on
    # the feed-forwards only, one output-attention head for possm-gru)
    version = 2
    Params = POSSMParams
    supported_kinds = frozenset({TaskKind.regression, TaskKind.classification, TaskKind.sequence})
    embedding_prefixes = ("unit_emb", "session_emb")
    inputs = frozenset({InputKind.spike_events, InputKind.features})
    module: POSSMNet

    def read_streams(self) -> dict[str, InputKind]:
        return {SPIKES: InputKind.spike_events, **{n: InputKind.features for n in self.params.feature_streams}}

    # ------------------------------------------------------------------ tokenisation
    def build(self, sessions: Sequence[TaskData]) -> POSSMNet:
        self.vocab = Vocabulary()
        self.vocab.add(d.recording for d in sessions)
        self.check_inputs(d.recording for d in sessions)
        self.unit_ranges = session_units(self.vocab, (d.recording for d in sessions))
        net = POSSMNet(self.params, len(self.vocab.units), len(self.vocab.sessions), self.spec.dim)
        self.count_tokens = self.spec.kind == TaskKind.sequence and all(self._centred_tokens(d) for d in sessions)
        self.feature_input = None
        if self.params.feature_streams:
            self.feature_input = ChunkFeatures.plan(sessions, self.params.feature_streams, self.chunk_s)
            mean, std = self.feature_input.train_stats(sessions, self.chunk_s)
            net.feature_in = FeatureProjection(self.feature_input.width, self.params.n_latents * self.params.dim, mean, std)
        return net

    def _centred_tokens(self, data: TaskData) -> bool:
        """Whether every token of the session's segments sits at its chunk's centre: crossings
        derived from a counts stream binned at the chunk width, bins aligned with the chunks.
        Then a chunk is its count per unit, and the count layout (``POSSMNet.encode_chunk_counts``)
        replaces the per-token path (sequence tasks: whole 2-16 s sentences, ~150 crossings per
        20 ms chunk in speech). Streaming keeps the token path; both give the same latents."""
        rec = data.recording
        if rec.events_from is None or rec.spike_bin_s is None or abs(rec.spike_bin_s - self.chunk_s) > 1e-9:
            return False
        for seg in (s for split in ("train", "valid", "test") for s in data.segments(split)):
            times, _ = rec.spikes_between(seg.start, seg.end)
            n = chunk_count(seg.start, seg.end, self.chunk_s)
            mids = seg.start + (chunk_of(times, seg.start, self.chunk_s, n) + 0.5) * self.chunk_s
            if times.size and np.abs(times - mids).max() > 1e-6 * self.chunk_s:
                return False
        return True

    def _encode_counts(self, seg: Segment, n_chunks: int, chunk: np.ndarray, local: np.ndarray) -> np.ndarray:
        """(n_chunks, units + 1) tokens per global unit row; an empty chunk holds one padding token."""
        n_rows = len(self.vocab.units)
        counts = np.zeros((n_chunks, n_rows + 1), np.float32)
        np.add.at(counts, (chunk, self.vocab.unit_index(seg.recording)[local]), 1.0)
        counts[counts[:, :n_rows].sum(axis=1) == 0, n_rows] = 1.0
        return counts

    def encode(self, seg: Segment) -> dict[str, np.ndarray]:
        rec, c = seg.recording, self.chunk_s
        n_chunks = chunk_count(seg.start, seg.end, c)
        times, local = rec.spikes_between(seg.start, seg.end)
        chunk = chunk_of(times, seg.start, c, n_chunks)
        empty = np.flatnonzero(np.bincount(chunk, minlength=n_chunks) == 0)
        mids = seg.start + (np.arange(n_chunks) + 0.5) * c
        # spikes, then one padding token (unit -1) per empty chunk, in chunk order
        unit = np.concatenate([self.vocab.unit_index(rec)[local], np.full(empty.size, -1)])
        tok_chunk = np.concatenate([chunk, empty])
        dt = np.concatenate([times - mids[chunk], np.zeros(empty.size)])
        order = np.argsort(tok_chunk, kind="stable")
        extra = {} if self.feature_input is None else {"features": self.feature_input.segment_features(seg, c)}
        if getattr(self, "count_tokens", False):
            return {
                **extra,
                "tok_counts": self._encode_counts(seg, n_chunks, chunk, local),
                "chunk_end": (np.arange(n_chunks) + 1.0) * c,
                "chunk_valid": np.ones(n_chunks, bool),
                "query_time": seg.query_times - seg.start,
                "query_chunk": chunk_of(seg.query_times, seg.start, c, n_chunks),
                "session": np.asarray(self.vocab.session_index(rec), np.int64),
            }
        tok_dt = dt[order].astype(np.float32)
        return {
            **extra,
            "tok_unit": unit[order].astype(np.int64),
            "tok_dt": tok_dt,
            # rotary phases of the offsets: data only, so computed once here, not every batch
            "tok_phase": self.module.token_phases(torch.from_numpy(tok_dt)).numpy(),
            "tok_chunk": tok_chunk[order].astype(np.int64),
            "tok_valid": np.ones(order.size, bool),
            "chunk_end": (np.arange(n_chunks) + 1.0) * c,
            "chunk_valid": np.ones(n_chunks, bool),
            "query_time": seg.query_times - seg.start,
            "query_chunk": chunk_of(seg.query_times, seg.start, c, n_chunks),
            "session": np.asarray(self.vocab.session_index(rec), np.int64),
        }

    def training_examples(self, segments: Sequence[Segment], train: TrainConfig) -> Examples:
        """Regression with ``train_window_s`` (and no suite ``train.window_s``): each epoch the
        windows of :func:`sampler_bounds` (the authors' sampler: as many per segment as fit, at a
        new random phase), cut from segments tokenised once. Otherwise the shared rule (whole
        segments, or the suite's fixed windows)."""
        window_s = self.params.train_window_s
        if window_s is None or train.window_s is not None or self.spec.kind != TaskKind.regression:
            return super().training_examples(segments, train)
        n_win = max(1, int(round(window_s / self.chunk_s)))
        whole = [self._example(seg) for seg in segments]  # tokenised once, windows are slices
        rng = np.random.default_rng(self.seed + 1)

        def epoch_windows(epoch: int) -> list[dict]:
            out = []
            for ex in whole:
                for i0, i1 in sampler_bounds(ex["chunk_valid"].size, n_win, rng):
                    win = slice_example(ex, i0, i1, self.chunk_s)
                    if win["query_time"].size:
                        out.append(win)
            return out

        return epoch_windows

    def augment(self, batch: dict[str, torch.Tensor], rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """Unit dropout (the authors' rule, :func:`unit_dropout_mask` with ``capped``): each sample
        keeps a random subset of its session's units; chunks left without spikes get their padding
        token, as in the streaming path."""
        if not self.params.unit_dropout:
            return batch
        if "tok_counts" in batch:
            return self._drop_unit_counts(batch, rng)
        unit, chunk = batch["tok_unit"], batch["tok_chunk"]
        valid = batch["tok_valid"] & unit_dropout_keep(unit, batch["session"], self.unit_ranges, rng, capped=True)
        B, C = batch["chunk_end"].shape
        has = torch.zeros(B * C, dtype=torch.bool)
        has[(chunk + C * torch.arange(B).unsqueeze(1))[valid]] = True
        missing = ~has.view(B, C) & batch["chunk_valid"]
        n_missing = missing.sum(1)
        n_extra = int(n_missing.max()) if B else 0
        if not n_extra:
            return {**batch, "tok_valid": valid}
        # each row's emptied chunks first, in chunk order: one padding token for each
        first = torch.argsort((~missing).to(torch.int8), dim=1, stable=True)[:, :n_extra]
        pad_valid = torch.arange(n_extra).unsqueeze(0) < n_missing.unsqueeze(1)
        cat = lambda x, tail: torch.cat([x, tail.to(x.dtype)], dim=1)  # noqa: E731
        at_centre = self.module.token_phases(torch.zeros(1))  # a padding token's phases (dt = 0)
        return {**batch, "tok_unit": cat(unit, torch.full((B, n_extra), -1)),
                "tok_dt": cat(batch["tok_dt"], torch.zeros(B, n_extra)),
                "tok_phase": cat(batch["tok_phase"], at_centre.expand(B, n_extra, -1)),
                "tok_chunk": cat(chunk, torch.where(pad_valid, first, 0)), "tok_valid": cat(valid, pad_valid)}

    def _drop_unit_counts(self, batch: dict[str, torch.Tensor], rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """Unit dropout in the count layout: the same draw per sample, applied to unit columns."""
        counts = batch["tok_counts"]
        B, _, R = counts.shape
        rows = torch.arange(R - 1).expand(B, -1)
        keep = unit_dropout_keep(rows, batch["session"], self.unit_ranges, rng, capped=True)  # (B, units)
        kept = counts[..., :-1] * keep[:, None, :].to(counts.dtype)
        pad = ((kept.sum(-1) == 0) & batch["chunk_valid"]).to(counts.dtype)  # chunks left empty
        return {**batch, "tok_counts": torch.cat([kept, pad.unsqueeze(-1)], dim=-1)}

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.module(batch)

    # ------------------------------------------------------------------ streaming
    @torch.inference_mode()
    def reset(self, recording) -> None:
        self._stream = StreamingPOSSM(self.module, self.vocab.session_index(recording), self.output_affine())
        self._origin = None
        self._units = self.vocab.unit_index(recording)

    @torch.inference_mode()
    def step(self, chunk: SpikeChunk) -> np.ndarray:
        if self._origin is None:
            self._origin = chunk.start
        mid = chunk.start + 0.5 * self.chunk_s
        end = chunk.start - self._origin + self.chunk_s
        if chunk.spike_times.size:
            unit = self._units[chunk.spike_units]
            # offsets rounded to float32 exactly as the offline tokens are
            dt = (chunk.spike_times - mid).astype(np.float32)
        else:  # an empty chunk holds one padding token at its centre
            unit, dt = np.array([self._stream.pad_row]), np.zeros(1)
        times = np.concatenate([dt, [end], chunk.query_times - self._origin])
        extra = None
        if self.feature_input is not None:
            extra = self.module.feature_in(torch.from_numpy(self.feature_input.chunk_features(chunk)).to(self.device))
        out = self._stream.step(torch.from_numpy(unit), torch.from_numpy(times), extra)
        return out.numpy()  # de-normalised by the stream's readout


# ---------------------------------------------------------------------- registered configurations
# Single-session: the authors' public small config (dim 64, GRU 256 x 1, one 64-wide head in and
# out, dropout 0.2 on the feed-forwards, none on the attention). S4D and Mamba (no public code) keep
# two output heads, which puts their sizes at the paper's (0.41M, 0.68M).
_SINGLE = {"dropout": 0.2, "attn_dropout": 0.0}
# Pretrained scale: dim 256, GRU 512 x 4 (public large config), S4D / Mamba 512 x 4; one model
# trained on all sessions of a dataset at once.
_LARGE = {"dim": 256, "hidden": 512, "layers": 4, "enc_heads": 2, "dec_heads": 4}

PRESETS = {
    "possm-gru": Preset(
        {**_SINGLE, "backbone": "gru"},
        "POSSM with a GRU backbone, single session (paper: 0.47M parameters).",
        paper_parameters=470_000),
    "possm-s4d": Preset(
        {**_SINGLE, "dec_heads": 2, "backbone": "s4d", "hidden": 192, "layers": 2},
        "POSSM with an S4D backbone, single session (paper: 0.41M parameters).",
        paper_parameters=410_000),
    "possm-mamba": Preset(
        {**_SINGLE, "dec_heads": 2, "backbone": "mamba", "d_state": 16},
        "POSSM with a Mamba backbone, single session (paper: 0.68M parameters).",
        paper_parameters=680_000),
    "possm-gru-large": Preset(
        {**_LARGE, "backbone": "gru"},
        "POSSM-GRU at pretrained scale, trained on all sessions of a dataset (paper: 7.96M).",
        multi_session=True, paper_parameters=7_960_000),
    "possm-s4d-large": Preset(
        {**_LARGE, "backbone": "s4d"},
        "POSSM-S4D at pretrained scale, trained on all sessions of a dataset (paper: 4.56M).",
        multi_session=True, paper_parameters=4_560_000),
    "possm-mamba-large": Preset(
        {**_LARGE, "backbone": "mamba", "d_state": 16},
        "POSSM-Mamba at pretrained scale, trained on all sessions of a dataset (paper: 8.96M).",
        multi_session=True, paper_parameters=8_960_000),
}

models.register_presets(PRESETS)(POSSMDecoder)
