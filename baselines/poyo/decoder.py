"""POYO as a harness decoder: the windows it is trained and evaluated on, unit dropout and
clipping, and the streaming cache (the network is :mod:`baselines.poyo.model`).

Windows (the harness's streaming contract)
------------------------------------------
At each chunk (50 ms) the outputs at the chunk's query times come from the window
``[max(origin, we - context_s), we)`` with ``we`` = chunk end and ``origin`` = the stream start
(the segment start offline): a freshly reset stream, or the first second of a segment, sees a
shorter window, with its START delimiters at the origin. The latent grid always spans
``[we - context_s, we)`` (fixed shapes, so every chunk costs the same; latents before the
origin see only the START delimiters and earlier context - the model is trained on such clipped
windows by the ``clip_prob`` augmentation, which cuts training windows like fresh streams).

* ``eval_mode="causal"`` (default): offline ``predict`` evaluates, for every chunk of a segment that
  holds queries, exactly the streaming window of that chunk; the windows are batched (tokens are
  projected once per segment and gathered per window), so ``predict == stream`` to float round-off.
* ``eval_mode="paper"``: the paper's offline evaluation (A.2): windows of ``context_s`` every
  ``paper_step_s`` (0.5 s) over each segment, plus one window aligned to the segment end so that
  every query is covered, and the predictions of overlapping windows averaged per query. Windows
  see the future inside them, so this is not what streaming gives: ``streams_like_predict`` is
  False for this mode.

Training uses windows of ``context_s`` (1 s, stride ``window_step_s`` = 0.5 s by default; a segment
shorter than the context is one window), with outputs for every query inside a window, drawn afresh
every epoch with each segment's first window at a random chunk offset below the stride
(``random_windows``, the paper's random window sampling). This matters: with the same windows every
epoch (always starting at 0, 0.5, 1.0 s into each trial, so the 125 ms latent grid always sits at
the same phase of the data) POYO memorises the windows and does not transfer to the shifted
windows that streaming presents: trained on 4 trials until its training loss was ~0.001, it scored
R^2 1.000 on those windows and 0.033 on the streaming windows of the same trials; with random
windows, 0.86 on the streaming windows after the same 100 epochs. On classification (one readout
query at the trial end) random tiles would rarely hold the readout (about one trial in ten per
epoch at 1 s windows), so there each trial's window ends at its readout, or with random windows at
a random chunk after it, and reaches back ``context_s`` (:func:`bench.models.windows.query_windows`;
at the trial end that is the window streaming reads): every trial is trained every epoch. On
simulated C-CO 2016 reach direction (2 sessions, 82 training trials each, 15 epochs, lr 5e-4,
context 1.5 s, seed 0) test accuracy went from 0.130 / 0.087 to 0.304 / 0.087 (chance 0.125, GRU
0.783 / 0.826): POYO-SS now fits every trial (train loss 0.8, was 2.0) but generalises weakly from so
few labels; at 40 epochs it memorises them (train loss ~0, valid loss rising). The valid split is windowed too
(a whole segment may be far longer than the context): in causal mode by
:func:`bench.models.windows.trailing_windows` (windows ending every 0.25 s that score only their last 0.25 s of
queries, so model selection sees near-causal predictions), in paper mode like the training
windows. ``train_windows="causal"`` (not the paper's; off by default) trains on those streaming
windows too, at a random phase every epoch: every query is then trained only where causal
streaming reads it, at the trailing edge of its window, and in a trial's first second from the
window clipped at the trial start.

Learning rate: train with AdamW at lr 5e-4 (batch 16; the suites set it). At the harness's 2e-3
POYO-SS can sit on its initial loss plateau (output = the mean) for the whole budget: on simulated
H-CO it never left it in 104 epochs (seed 0) nor in 25 (seeds 1, 2), while at 5e-4 seeds 1 and 2
left it by epoch ~13 and scored test R^2 0.43 / 0.42 at 25 epochs; on C-CO 2016 5e-4 gave 0.790
at 20 epochs against 0.266 at 2e-3. (The paper uses LAMB at 4e-3 with batch 128, whose layer-wise
trust ratio makes that figure incomparable with Adam's.)

Streaming cost: what is cached and what is recomputed per chunk
---------------------------------------------------------------
Timestamps are kept relative to a fixed stream origin (float64), so the RoPE-rotated key/value of a
spike never changes once computed: RoPE is relative, and a fixed origin only shifts every angle by
the same amount.

* Cached, computed once per spike: the encoder key and value, i.e. ``LayerNorm(unit + type)`` ->
  ``to_kv`` (a per-unit table made at ``reset``, gathered per spike) rotated by the spike's time. A
  chunk rotates only its own new spikes; spikes older than the window are dropped from the cache.
* Cached once per stream (``reset``): the unrotated key/value projections of every unit's START and
  END tokens. Per chunk they are only rotated by the new ``ws`` / ``we`` (one complex multiply
  each): delimiters move with the window.
* Recomputed per chunk: the encoder cross-attention of the 128 latents over the whole window (its
  softmax normalisation runs over every token of the window, and the delimiters moved), and the
  whole self-attention stack and the decoder. Nothing downstream of the encoder can be reused:
  every latent attends to every token of the window, so each latent changes when tokens enter or
  leave. Anchoring the latent grid to absolute time instead of the window would not change this
  (it would only make the latent layout relative to the window edges vary from chunk to chunk), so
  the grid moves with the window: every window looks the same to the model as in training.
* Chunks without queries only update the cache (no latent computation).

Registered configurations (parameter counts exclude the unit / session embedding tables)
----------------------------------------------------------------------------------------
| name    | dim | depth | latents/step | cross heads | self heads | dim_head | ff mult | params | paper |
|---------|-----|-------|--------------|-------------|------------|----------|---------|--------|-------|
| poyo-ss | 64  | 6     | 16           | 2           | 8          | 64       | 4       | 1.25M  | 1.3M  |
| poyo-mp | 128 | 24    | 32           | 4           | 8          | 64       | 4       | 11.7M  | 11.8M |

``poyo-mp`` trains one model on all sessions of a dataset (``multi_session``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from baselines.poyo.model import END, SPIKE, START, POYONet, rotate_delimiters
from baselines.poyo.params import POYOParams
from bench.errors import SuiteError
from bench.models.base import SpikeChunk
from bench.models.presets import Preset
from bench.models.sliding import SlidingWindowDecoder
from bench.models.tokens import Vocabulary, session_units, unit_dropout_keep
from bench.models.windows import streaming_windows, tiled_windows, trailing_windows
from bench.registry import models
from bench.tasks.base import Segment, TaskData, TaskKind
from bench.training.config import TrainConfig

_EPS = 1e-9


class POYODecoder(SlidingWindowDecoder):
    """POYO over a sliding context window; see the module docstring."""

    Params = POYOParams
    supported_kinds = frozenset({TaskKind.regression, TaskKind.classification})
    # classification 2: training windows anchored on each trial's readout (query_windows), where
    # random tiles mostly missed it; regression windows and outputs unchanged, so its records stay
    kind_versions = {"classification": 2}
    embedding_prefixes = ("unit_emb", "session_emb")
    module: POYONet
    params: POYOParams

    @property
    def context_s(self) -> float:
        return self.params.context_s

    @property
    def stitches_windows(self) -> bool:
        return self.params.eval_mode == "paper"

    # ------------------------------------------------------------------ training
    def fit(self, sessions: Sequence[TaskData], train: TrainConfig, progress: bool = True) -> dict:
        """Shared fit on context windows: train and valid segments are cut into windows of
        ``window_s`` (default ``context_s``) every ``window_step_s`` (default half of it)."""
        window = train.window_s or self.params.context_s
        if window > self.params.context_s + _EPS:
            raise SuiteError(
                f"{self.registry_name}: train window_s = {window} s exceeds the context window "
                f"context_s = {self.params.context_s} s; use window_s <= context_s."
            )
        step = train.window_step_s or window / 2
        windowed = []
        for d in sessions:
            valid = d.segments("valid") or d.segments("train")
            if self.params.eval_mode == "causal":
                valid = trailing_windows(valid, self.params.context_s, self.params.valid_stride_s, d.chunk_s)
            else:
                valid = tiled_windows(valid, window, step, d.chunk_s, cover_end=True)
            train_split = d.segments("train")
            if not self.params.random_windows and not self._causal_training(d.spec.kind):
                train_split = tiled_windows(train_split, window, step, d.chunk_s, cover_end=True)
            windowed.append(replace(d, splits={**d.splits, "train": train_split, "valid": valid}))
        if self.params.random_windows:  # cut afresh every epoch, at random offsets
            return super().fit(windowed, train.model_copy(update={"window_s": window, "window_step_s": step}), progress)
        return super().fit(windowed, train.model_copy(update={"window_s": None}), progress)

    def _causal_training(self, kind: TaskKind) -> bool:
        return self.params.train_windows == "causal" and self.params.eval_mode == "causal" and kind == TaskKind.regression

    def training_windows(self, segments: Sequence[Segment], train: TrainConfig,
                         rng: np.random.Generator | None) -> list[Segment]:
        """``train_windows="causal"``: the streaming windows of the whole training segments (see
        :func:`trailing_windows`), at a random chunk phase every epoch with ``rng``, at the
        fixed phase without; otherwise the shared windows."""
        if self._causal_training(self.spec.kind):
            return trailing_windows(segments, self.params.context_s, self.params.valid_stride_s, self.chunk_s, rng)
        return super().training_windows(segments, train, rng)

    def build(self, sessions: Sequence[TaskData]) -> POYONet:
        self.vocab = Vocabulary()
        self.vocab.add(d.recording for d in sessions)
        self.unit_ranges = session_units(self.vocab, (d.recording for d in sessions))
        return POYONet(self.params, len(self.vocab.units), len(self.vocab.sessions), self.spec.dim)

    def encode(self, seg: Segment) -> dict[str, np.ndarray]:
        """One window ``[seg.start, seg.end)``: its spikes, then START and END tokens of every unit.

        Times are float64 relative to ``seg.start``; the latent grid is anchored at ``seg.end``.
        """
        rec = seg.recording
        times, local = rec.spikes_between(seg.start, seg.end)
        units = self.vocab.unit_index(rec)
        n_u, w = units.size, seg.end - seg.start
        return {
            "tok_unit": np.concatenate([units[local], units, units]),
            "tok_type": np.repeat(np.array([SPIKE, START, END]), [times.size, n_u, n_u]),
            "tok_time": np.concatenate([times - seg.start, np.zeros(n_u), np.full(n_u, w)]),
            "tok_mask": np.ones(times.size + 2 * n_u, bool),
            "window_end": np.asarray(w, np.float64),
            "query_time": seg.query_times - seg.start,
            "session": np.asarray(self.vocab.session_index(rec), np.int64),
        }

    def augment(self, batch: dict[str, Tensor], rng: np.random.Generator) -> dict[str, Tensor]:
        """Unit dropout (a unit's spikes and delimiters go together) and, for regression in causal
        mode, clipping like a fresh stream: with probability ``clip_prob`` a window keeps only
        1 .. n-1 of its n chunks, either its last ones (a stream that started later: START moves
        there) or its first ones (a stream that started at the window start and is only that far
        in: END and the latent grid move there). Spikes and queries outside are dropped."""
        p = self.params
        mask = batch["tok_mask"].clone()
        unit, kind = batch["tok_unit"], batch["tok_type"]
        out = dict(batch)
        if p.unit_dropout:
            mask &= unit_dropout_keep(unit, batch["session"], self.unit_ranges, rng, minimum=p.unit_dropout_min)
        clip = p.clip_prob if (p.eval_mode == "causal" and self.spec.kind == TaskKind.regression
                               and not self._causal_training(self.spec.kind)) else 0.0
        if clip > 0:
            time = batch["tok_time"].clone()
            weights = batch["weights"].clone()
            window_end = batch["window_end"].clone()
            qt = batch["query_time"]
            c = self.chunk_s
            for b in range(mask.shape[0]):
                w = float(window_end[b])
                n = int(round(w / c))
                if n < 2 or rng.random() >= clip:
                    continue
                length = int(rng.integers(1, n)) * c  # kept: 1 .. n - 1 chunks
                spikes = kind[b] == SPIKE
                if rng.random() < 0.5:  # keep the end: the stream started at s
                    s = w - length
                    mask[b] &= ~(spikes & (time[b] < s - _EPS))
                    time[b] = torch.where(kind[b] == START, torch.full_like(time[b], s), time[b])
                    weights[b] = weights[b] * (qt[b] >= s - _EPS)
                else:  # keep the start: the stream is only `length` old
                    e = length
                    mask[b] &= ~(spikes & (time[b] >= e))
                    time[b] = torch.where(kind[b] == END, torch.full_like(time[b], e), time[b])
                    weights[b] = weights[b] * (qt[b] < e)
                    window_end[b] = e
            out["tok_time"], out["weights"], out["window_end"] = time, weights, window_end
        if p.edge_weight != 1 and p.eval_mode == "causal":
            edge = batch["query_time"] >= out["window_end"].unsqueeze(-1) - p.edge_s - _EPS
            out["weights"] = out["weights"] * (1 + (p.edge_weight - 1) * edge.to(out["weights"].dtype))
        out["tok_mask"] = mask
        return out

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        B = batch["tok_unit"].shape[0]
        if not torch.is_grad_enabled() and B > self.params.window_batch:  # e.g. the valid loss
            n = self.params.window_batch
            return torch.cat([self.module({k: v[i : i + n] for k, v in batch.items()}) for i in range(0, B, n)])
        return self.module(batch)

    # ------------------------------------------------------------------ offline prediction
    def predict_segment(self, seg: Segment) -> np.ndarray:
        p = self.params
        if p.eval_mode == "paper":  # windows of context_s every paper_step_s (+ one at the end), averaged
            return self.predict_stitched(seg, p.context_s, p.paper_step_s, p.window_batch)
        return self._predict_causal(seg)

    @torch.no_grad()
    def predict_lookahead(self, segments: Sequence[Segment], lookahead_s: float) -> list[np.ndarray]:
        """Analysis only, not causal: each chunk's outputs from the 1 s window ending ``lookahead_s``
        after the chunk (0: exactly ``predict`` in causal mode). Measures what POYO's causal
        readout, at the window's trailing edge, loses against positions with spikes after them."""
        if lookahead_s < 0:
            raise ValueError(f"lookahead_s must be >= 0, got {lookahead_s}")
        self.module.eval()
        return [self._predict_causal(seg, lookahead_s) for seg in segments]

    def _predict_causal(self, seg: Segment, lookahead_s: float = 0.0) -> np.ndarray:
        """For every chunk holding queries, the streaming window ending at the chunk's end."""
        net, p, c, dev = self.module, self.params, self.chunk_s, self.device
        n_q = seg.query_times.size
        out = np.zeros((n_q, self.spec.dim), np.float32)
        if n_q == 0:
            return out
        windows = streaming_windows(seg, c, p.context_s)
        ws, ends = windows.starts + lookahead_s, windows.ends + lookahead_s
        rec = seg.recording
        times, local = rec.spikes_between(seg.start, seg.end + lookahead_s)
        units = torch.from_numpy(self.vocab.unit_index(rec)).to(dev)
        session = torch.tensor([self.vocab.session_index(rec)], device=dev)
        k_spk, v_spk = net.token_kv(
            units[torch.from_numpy(local).to(dev)], SPIKE, torch.from_numpy(times - seg.start).to(dev)
        )
        kv_start, kv_end = net.delimiter_kv(units, START), net.delimiter_kv(units, END)
        lo = np.searchsorted(times, ws, side="left")
        hi = np.searchsorted(times, ends, side="left")
        chunks, q_first, q_count = windows.chunks_with_queries, windows.first_query, windows.query_count
        for i in range(0, chunks.size, p.window_batch):
            idx = chunks[i : i + p.window_batch]
            B = idx.size
            length = hi[idx] - lo[idx]
            L = max(1, int(length.max()))
            ar = np.arange(L)
            gidx = torch.from_numpy(np.minimum(lo[idx, None] + ar, max(times.size - 1, 0))).to(dev)
            spk_mask = torch.from_numpy(ar < length[:, None]).to(dev)
            if times.size:
                k_w, v_w = k_spk[gidx], v_spk[gidx]
            else:
                k_w = k_spk.new_zeros((B, L) + k_spk.shape[1:])
                v_w = k_w
            we_rel = torch.from_numpy(ends[idx] - seg.start).to(dev)
            ks, vs = rotate_delimiters(kv_start, net.rotary(torch.from_numpy(ws[idx] - seg.start).to(dev)))
            ke, ve = rotate_delimiters(kv_end, net.rotary(we_rel))
            k = torch.cat([k_w, ks, ke], dim=1)
            v = torch.cat([v_w, vs, ve], dim=1)
            n_u = units.numel()
            mask = torch.cat([spk_mask, spk_mask.new_ones((B, 2 * n_u))], dim=1)
            z, lat_rot = net.process((k, v), mask, we_rel)
            Q = int(q_count[i : i + B].max())
            qa = np.arange(Q)
            qidx = np.minimum(q_first[i : i + B, None] + qa, n_q - 1)
            qvalid = qa < q_count[i : i + B, None]
            q_time = torch.from_numpy(seg.query_times[qidx] - seg.start).to(dev)
            y = net.readout_queries(z, lat_rot, session.expand(B), q_time).float().cpu().numpy()
            out[qidx[qvalid]] = y[qvalid]
        return self.denormalise(out)


    # ------------------------------------------------------------------ streaming
    def open_stream(self, recording) -> None:
        """Per-unit tables of the stream's session: delimiter keys / values and spike rows."""
        net, dev = self.module, self.device
        net.eval()
        self._units = torch.from_numpy(self.vocab.unit_index(recording)).to(dev)
        self._session = torch.tensor([self.vocab.session_index(recording)], device=dev)
        with torch.inference_mode():
            self._kv_start = net.delimiter_kv(self._units, START)
            self._kv_end = net.delimiter_kv(self._units, END)
            self._spike_rows = net.kv_rows(self._units, SPIKE)  # (U, 2HDh), by local unit index

    def cache_spikes(self, chunk: SpikeChunk) -> tuple[Tensor, Tensor]:
        """The encoder keys / values of the chunk's spikes, rotated once by their times."""
        net, dev = self.module, self.device
        rows = self._spike_rows[torch.from_numpy(chunk.spike_units).to(dev)]
        return net.rotate_kv(rows, net.rotary(torch.from_numpy(chunk.spike_times - self.stream_origin).to(dev)))

    def predict_window(self, start: float, chunk: SpikeChunk) -> np.ndarray:
        net, dev, origin = self.module, self.device, self.stream_origin
        we_rel = torch.tensor([chunk.end - origin], dtype=torch.float64, device=dev)
        ks, vs = rotate_delimiters(self._kv_start, net.rotary(torch.tensor([start - origin], dtype=torch.float64, device=dev)))
        ke, ve = rotate_delimiters(self._kv_end, net.rotary(we_rel))
        k = torch.cat([x.unsqueeze(0) for x in self.window_buffer.parts(0)] + [ks, ke], dim=1)
        v = torch.cat([x.unsqueeze(0) for x in self.window_buffer.parts(1)] + [vs, ve], dim=1)
        z, lat_rot = net.process((k, v), None, we_rel)
        q_time = torch.from_numpy(chunk.query_times - origin).to(dev).unsqueeze(0)
        y = net.readout_queries(z, lat_rot, self._session, q_time)
        return self.denormalise(y[0].float().cpu().numpy())


# ---------------------------------------------------------------------------------------------
# Registered configurations
# ---------------------------------------------------------------------------------------------

# POYOParams' defaults are POYO-SS; POYO-mp is dim 128, depth 24, 32 latents per step and 4
# cross-attention heads (paper: 11.8M), trained on all sessions of a dataset at once.
PRESETS = {
    "poyo-ss": Preset(
        {}, "POYO single-session (paper: 1.3M parameters; dim 64, depth 6, 16 latents per 0.125 s).",
        paper_parameters=1_300_000),
    "poyo-mp": Preset(
        {"dim": 128, "depth": 24, "latents_per_step": 32, "cross_heads": 4},
        "POYO-mp, trained on all sessions of a dataset at once (paper: 11.8M; dim 128, depth 24).",
        multi_session=True, paper_parameters=11_800_000),
}

models.register_presets(PRESETS)(POYODecoder)
