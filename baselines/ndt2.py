"""NDT-2 as a harness decoder: patched spike-count tokens, causal space-time transformer, query decoder.

Architecture (FACTS.md, NDT-2 section):

- Spikes are binned at 20 ms. Neurons are grouped into spatial patches of 32 (the last patch is
  zero padded). Each neuron's count, clipped to ``max_count``, indexes an embedding table over
  count values (8 = 256 / 32 dims); the 32 embeddings of a patch are concatenated into one
  256-d token. Learned position embeddings of the time bin (up to 250 bins = 5 s, counted from
  the window's oldest bin) and of the patch index are added.
- A session token and a subject token (learned embeddings, keyed by ``brainset/session`` through
  ``bench.models.tokens.Vocabulary`` and by ``brainset/subject``) are prepended.
- Flat space-time transformer encoder (hidden 256, 6 layers, 4 heads, dropout 0.1, pre-norm,
  GELU feed-forward), causal in time: a token at bin t attends to every patch of bins <= t and
  to the context tokens; the context tokens attend only to each other.
- A separate query-token decoder of 2 layers reads the behaviour out: one query per output bin,
  each layer a cross-attention to the encoder outputs (masked causally: the query of bin j sees
  the context tokens and the tokens of bins <= j) and a feed-forward block. The query of bin j
  is the mean over patches of bin j's encoder outputs plus a learned query vector and a learned
  position embedding of its bin. (With queries made of learned embeddings only, the decoder has
  to discover from scratch which bin a query belongs to: on the simulator a 2-layer test model
  kept its initial loss for 300 steps, while seeded queries learned within ~100.) Queries do not
  attend to each other, so a query's output depends only on the encoder outputs it may see, and
  streaming evaluates only the queries it needs. A linear head maps each query to the task
  outputs (regression dims or class logits; classification tasks put one query at the segment
  end).
- Lag (default 120 ms): the output for a query at time q is the decoder output of the bin that
  holds q - lag (the behaviour lags the neural activity it is read from). When q - lag lies before
  the window (the first 120 ms after a reset), the query is the "no data yet" query (position 0),
  which sees the context tokens only.

Size. The POSSM paper's comparison quotes NDT-2 at about 12M parameters (secondary source,
FACTS.md). FACTS fixes hidden 256, 6 encoder layers, 4 heads and a 2-layer decoder but not the
feed-forward width, so that is the knob: with the usual 4x width (1024) the model has 6.4M
parameters; with 8x (2048, the default here) it has 10.6M excluding the session / subject
tables (``embedding_prefixes``), the nearest round configuration to the ~12M of the comparison
(12M exactly would need a width of ~2400). ``ffn_dim: 1024`` gives the smaller model.

Streaming contract (context window, default 1 s). At each chunk [s, E), the model predicts the
chunk's queries from the spikes of W = [max(S, E - context), E), where S is the segment start
(the time the stream was reset): a window never reaches before the stream started. Bins are
anchored at the window END: bin i (newest first) is [E - 20 ms (i+1), E - 20 ms i); a window of
length L has ceil(L / 20 ms) bins, the oldest partial when the window is clipped at S. A spike
at t goes to bin i = ceil((E - t) / 20 ms) - 1; a query at q uses the decoder output of the bin
holding q - lag (same rule), or the no-data query when q - lag < W's start. Bins are numbered
chronologically inside the window (j = 0 is the oldest) for the time position embedding, so a
clipped window at the start of a segment looks like the start of a training window.

Offline ``predict`` evaluates exactly this: for every chunk of the segment (the windows of
``bench.models.windows.streaming_windows``, on the grid ``chunk_segment`` uses) the window ending at
that chunk's end, batched across chunks; streaming buffers the window's spikes through the
sliding-window base (``bench.models.sliding``), which POYO shares. Only
bins up to the newest bin any query of the window needs are run (with causal attention the
newer ones cannot change those outputs), which skips the last lag of each window.

Why no KV cache. A KV cache needs every cached key / value to stay valid when the next chunk
arrives. Here none does, whatever the bin grid: (1) the learned time positions count bins from
the window start, which advances every chunk, so every token's layer-0 input changes; (2) the
window's oldest bins drop out every chunk, and with causal attention every later token attends
to them, so all keys / values of layers >= 1 change. Anchoring the bins on a fixed 20 ms grid
from the stream origin (with a partial last bin) only keeps bin edges still; it does not fix
(1) or (2). A cacheable model would have to be a different one (relative positions and a
per-token sliding attention band, whose receptive field then grows by the band at every layer,
to 6 s through 6 layers, breaking the 1 s context contract). So each step recomputes its
window. End-anchored bins then cost nothing extra and give the freshest complete bins (no
partial newest bin), so that is the design. Per step the work is the encoder over
(window bins - lag bins) x patches tokens plus 2 context tokens, and the decoder over the
chunk's queries only.

Training uses the shared loop on windows of the context length cut from the train segments
(``fit`` defaults ``TrainConfig.window_s`` to the context for regression); the loss covers every
query of the window. Segments longer than the context (valid segments, classification trials)
are cut into consecutive context-length tiles anchored at the segment end; each query is read
from the tile that holds it, with the same rules as above (the last tile is exactly the window
the stream uses at the segment end). A suite's ``window_s`` on classification cuts each trial to
the window ending at its readout (or at a random chunk after it: the shared
:func:`bench.models.windows.query_windows`), not to tiles that mostly miss the readout. Unit dropout
is not used: the channel layout is fixed.

Initialisation: count embeddings at unit scale, GPT-2 residual scaling of the blocks' output
projections and a zero head. With the defaults of the other decoders (lr 2e-3) the 6-layer model
does not train; use lr 3e-4. Cost on one CPU thread (simulator, ~90 units = 3 patches): ~1.6 s
per training step of 16 one-second windows (152 tokens each) and ~20-35 ms per streaming step,
so the 10.6M model barely starts learning in a 90 s training budget; it needs a GPU or a much
longer budget to be judged on accuracy.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from bench.data.recording import Recording
from bench.errors import SuiteError
from bench.models.base import ModelParams, SpikeChunk
from bench.models.tokens import Vocabulary
from bench.models.sliding import SlidingWindowDecoder
from bench.models.windows import streaming_windows
from bench.registry import models
from bench.tasks.base import Segment, TaskData, TaskKind
from bench.training.config import TrainConfig

_EPS = 1e-9


class NDT2Params(ModelParams):
    bin_ms: float = Field(20.0, ge=0.1, le=60_000, description="bin width (ms)")
    context_ms: float = Field(1000.0, gt=0, le=600_000, description="context window (ms); a multiple of bin_ms")
    lag_ms: float = Field(120.0, ge=0, le=60_000, description="behaviour lag: a query at q reads the bin holding q - lag")
    patch_size: int = Field(32, ge=1, le=4096, description="neurons per spatial patch (token)")
    max_count: int = Field(15, ge=1, le=10_000, description="counts are clipped to this value before embedding")
    random_windows: bool = Field(
        True, description="training windows (context length unless the suite sets window_s) drawn afresh every "
        "epoch at a random chunk offset; False: the same windows every epoch, at a fixed phase of every trial",
    )
    dim: int = Field(256, ge=8, le=8192, description="hidden size; a multiple of patch_size")
    layers: int = Field(6, ge=1, le=48, description="encoder layers")
    heads: int = Field(4, ge=1, le=128)
    decoder_layers: int = Field(2, ge=1, le=48)
    ffn_dim: int = Field(2048, ge=1, le=65_536, description="feed-forward width (2048: 10.6M parameters, 1024: 6.4M; module doc)")
    dropout: float = Field(0.1, ge=0, lt=1)
    max_bins: int = Field(250, ge=1, le=100_000, description="time positions (bins) of the learned position table")
    max_patches: int = Field(64, ge=1, le=10_000, description="spatial positions: up to max_patches * patch_size neurons")

    @model_validator(mode="after")
    def _check(self) -> "NDT2Params":
        if self.dim % self.patch_size:
            raise ValueError(f"dim ({self.dim}) must be a multiple of patch_size ({self.patch_size})")
        if self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be a multiple of heads ({self.heads})")
        ratio = self.context_ms / self.bin_ms
        if abs(ratio - round(ratio)) > 1e-6:
            raise ValueError(f"context_ms ({self.context_ms:g}) must be a multiple of bin_ms ({self.bin_ms:g})")
        if round(ratio) > self.max_bins:
            raise ValueError(f"context of {round(ratio)} bins exceeds max_bins ({self.max_bins})")
        if self.lag_ms >= self.context_ms:
            raise ValueError("lag_ms must be shorter than context_ms")
        return self


# ------------------------------------------------------------------------------------ binning rules
def bins_back(t: np.ndarray, end: np.ndarray | float, bin_s: float) -> np.ndarray:
    """Index i (newest first) of the end-anchored bin [end - bin (i+1), end - bin i) holding t < end."""
    i = np.ceil((np.asarray(end) - np.asarray(t)) / bin_s - _EPS).astype(np.int64) - 1
    return np.maximum(i, 0)


def window_bins(starts: np.ndarray | float, ends: np.ndarray | float, bin_s: float) -> np.ndarray:
    """Bins of the windows ``[starts, ends)``: end-anchored, the oldest partial (at least one)."""
    n_bins = np.ceil((np.asarray(ends) - np.asarray(starts)) / bin_s - _EPS).astype(np.int64)
    return np.maximum(n_bins, 1)


# ------------------------------------------------------------------------------------------ model
class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float, cross: bool):
        super().__init__()
        self.heads, self.dropout, self.cross = heads, dropout, cross
        if cross:
            self.q = nn.Linear(dim, dim)
            self.kv = nn.Linear(dim, 2 * dim)
        else:
            self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        return x.view(b, n, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, memory: torch.Tensor | None = None) -> torch.Tensor:
        if self.cross:
            q = self.q(x)
            k, v = self.kv(memory).chunk(2, dim=-1)
        else:
            q, k, v = self.qkv(x).chunk(3, dim=-1)
        y = F.scaled_dot_product_attention(
            self._split(q), self._split(k), self._split(v), attn_mask=mask,
            dropout_p=self.dropout if self.training else 0.0,
        )
        b, h, n, dh = y.shape
        return self.out(y.transpose(1, 2).reshape(b, n, h * dh))


class Block(nn.Module):
    """Pre-norm transformer block: (self- or cross-) attention, then a GELU feed-forward."""

    def __init__(self, p: NDT2Params, cross: bool):
        super().__init__()
        self.norm1 = nn.LayerNorm(p.dim)
        self.attn = Attention(p.dim, p.heads, p.dropout, cross)
        self.norm2 = nn.LayerNorm(p.dim)
        self.ffn = nn.Sequential(
            nn.Linear(p.dim, p.ffn_dim), nn.GELU(), nn.Dropout(p.dropout), nn.Linear(p.ffn_dim, p.dim)
        )
        self.drop = nn.Dropout(p.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, memory: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), mask, memory))
        return x + self.drop(self.ffn(self.norm2(x)))


class NDT2Net(nn.Module):
    N_CONTEXT = 2  # session and subject tokens

    def __init__(self, p: NDT2Params, n_units: int, n_sessions: int, n_subjects: int, n_out: int):
        super().__init__()
        self.p = p
        self.n_patches = math.ceil(n_units / p.patch_size)
        if self.n_patches > p.max_patches:
            raise SuiteError(
                f"Model 'ndt2': {n_units} units need {self.n_patches} patches of {p.patch_size}, "
                f"more than max_patches={p.max_patches}; raise max_patches."
            )
        self.count_emb = nn.Embedding(p.max_count + 1, p.dim // p.patch_size)
        self.time_pos = nn.Embedding(p.max_bins, p.dim)
        self.patch_pos = nn.Embedding(p.max_patches, p.dim)
        self.session_emb = nn.Embedding(n_sessions, p.dim)
        self.subject_emb = nn.Embedding(n_subjects, p.dim)
        self.in_drop = nn.Dropout(p.dropout)
        self.encoder = nn.ModuleList(Block(p, cross=False) for _ in range(p.layers))
        self.enc_norm = nn.LayerNorm(p.dim)
        self.query = nn.Parameter(torch.zeros(p.dim))
        self.query_pos = nn.Embedding(p.max_bins + 1, p.dim)  # 0: no bin yet; j + 1: bin j
        self.decoder = nn.ModuleList(Block(p, cross=True) for _ in range(p.decoder_layers))
        self.dec_norm = nn.LayerNorm(p.dim)
        self.head = nn.Linear(p.dim, n_out)
        # count embeddings at unit scale so that the counts dominate the first tokens (this cut the
        # initial loss plateau from ~150 to ~50 steps); positions and context start small
        nn.init.normal_(self.count_emb.weight, std=1.0)
        for emb in (self.time_pos, self.patch_pos, self.session_emb, self.subject_emb, self.query_pos):
            nn.init.normal_(emb.weight, std=0.02)
        nn.init.normal_(self.query, std=0.02)
        # GPT-2-style residual scaling (each block's output projections shrunk by 1/sqrt(2 x depth))
        # and a zero head (start at the mean): without them the 6-layer model sat on its initial
        # loss plateau for hundreds of steps
        depth = p.layers + p.decoder_layers
        for block in [*self.encoder, *self.decoder]:
            for lin in (block.attn.out, block.ffn[-1]):
                lin.weight.data.mul_(1.0 / math.sqrt(2 * depth))
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self._masks: dict = {}

    def token_bins(self, n_bins: int, device) -> torch.Tensor:
        """Bin of every token: -1 for the context tokens, then bins 0..n_bins-1, each over all patches."""
        ctx = torch.full((self.N_CONTEXT,), -1, dtype=torch.long, device=device)
        return torch.cat([ctx, torch.arange(n_bins, device=device).repeat_interleave(self.n_patches)])

    def self_mask(self, n_bins: int, device) -> torch.Tensor:
        key = (n_bins, str(device))
        if key not in self._masks:
            tb = self.token_bins(n_bins, device)
            self._masks[key] = tb[None, :] <= tb[:, None]
        return self._masks[key]

    def patch_tokens(self, counts: torch.Tensor) -> torch.Tensor:
        """counts (B, N, U) -> (B, N, P, D): clipped counts embedded per neuron, concatenated per patch
        of ``patch_size`` neurons (the last patch zero padded), plus patch and time positions."""
        p = self.p
        b, n, u = counts.shape
        pad = self.n_patches * p.patch_size - u
        c = counts.long().clamp(0, p.max_count)
        if pad:
            c = F.pad(c, (0, pad))
        tok = self.count_emb(c).view(b, n, self.n_patches, p.dim)
        return tok + self.patch_pos.weight[: self.n_patches] + self.time_pos.weight[:n, None, :]

    def encode(self, counts: torch.Tensor, session: torch.Tensor, subject: torch.Tensor) -> torch.Tensor:
        """counts (B, N, U) int -> encoder outputs (B, 2 + N * P, D), bins oldest first."""
        b, n, _ = counts.shape
        tok = self.patch_tokens(counts).reshape(b, n * self.n_patches, self.p.dim)
        ctx = torch.stack([self.session_emb(session), self.subject_emb(subject)], dim=1)
        x = self.in_drop(torch.cat([ctx, tok], dim=1))
        mask = self.self_mask(n, x.device)
        for block in self.encoder:
            x = block(x, mask)
        return self.enc_norm(x)

    def decode(self, memory: torch.Tensor, n_bins: int, query_bins: torch.Tensor) -> torch.Tensor:
        """memory (B, T, D); query_bins (B, Q) in -1..n_bins-1 -> outputs (B, Q, n_out).

        The query of bin j starts from the mean of bin j's encoder outputs over patches (the
        context tokens' mean for the no-data query j = -1), plus the learned query vector and
        the learned position of its bin, then cross-attends causally to the encoder outputs.
        """
        b, _, d = memory.shape
        per_bin = memory[:, self.N_CONTEXT :].reshape(b, n_bins, self.n_patches, d).mean(2)
        per_bin = torch.cat([memory[:, : self.N_CONTEXT].mean(1, keepdim=True), per_bin], dim=1)
        seed = torch.gather(per_bin, 1, (query_bins + 1).unsqueeze(-1).expand(-1, -1, d))
        q = seed + self.query + self.query_pos(query_bins + 1)
        mask = (self.token_bins(n_bins, memory.device)[None, None, :] <= query_bins[:, :, None]).unsqueeze(1)
        for block in self.decoder:
            q = block(q, mask, memory)
        return self.head(self.dec_norm(q))

    def forward(self, counts, session, subject, query_bins) -> torch.Tensor:
        return self.decode(self.encode(counts, session, subject), counts.shape[1], query_bins)


# ------------------------------------------------------------------------------------------ decoder
@models.register("ndt2")
class NDT2Decoder(SlidingWindowDecoder):
    """NDT-2: patched count tokens, causal space-time transformer, lagged query-token readout."""

    Params = NDT2Params
    supported_kinds = frozenset({TaskKind.regression, TaskKind.classification})
    embedding_prefixes = ("session_emb", "subject_emb")
    module: NDT2Net
    window_batch = 64  # windows per forward pass in offline predict
    # classification 2: with a suite window_s, training windows anchored on each trial's readout
    # (query_windows) instead of random tiles that mostly missed it; the default (whole trials)
    # trains as before, regression unchanged
    kind_versions = {"classification": 2}

    @property
    def bin_s(self) -> float:
        return self.params.bin_ms / 1000.0

    @property
    def context_s(self) -> float:
        return self.params.context_ms / 1000.0

    @property
    def lag_s(self) -> float:
        return self.params.lag_ms / 1000.0

    @property
    def context_bins(self) -> int:
        return int(round(self.params.context_ms / self.params.bin_ms))

    def check_chunk(self, chunk_s: float) -> None:
        if chunk_s > self.context_s + 1e-9:
            raise SuiteError(
                f"Model 'ndt2': the streaming chunk ({chunk_s * 1000:g} ms) is longer than the context "
                f"window (context_ms={self.params.context_ms:g}); raise context_ms."
            )

    # ---------------------------------------------------------------- vocabulary / build
    @staticmethod
    def subject_key(rec: Recording) -> str:
        return f"{rec.brainset}/{rec.subject_id}"

    def build_net(self, recordings: Sequence[Recording], n_out: int) -> NDT2Net:
        self.vocab = Vocabulary()
        self.vocab.add(recordings)
        self.subjects: dict[str, int] = {}
        for rec in recordings:
            self.subjects.setdefault(self.subject_key(rec), len(self.subjects))
        units = {rec.n_units for rec in recordings}
        if len(units) != 1:
            raise SuiteError("Model 'ndt2' is single-session here: all sessions must have the same number of units.")
        self.n_units = units.pop()
        return NDT2Net(self.params, self.n_units, len(self.vocab.sessions), len(self.subjects), n_out)

    def build(self, sessions: Sequence[TaskData]) -> NDT2Net:
        self.check_chunk(sessions[0].chunk_s)
        return self.build_net([d.recording for d in sessions], self.spec.dim)

    def _context(self, rec: Recording) -> tuple[int, int]:
        if rec not in self.vocab or self.subject_key(rec) not in self.subjects:
            raise SuiteError(f"Model 'ndt2' was not trained on recording {rec.recording_id}.")
        return self.vocab.session_index(rec), self.subjects[self.subject_key(rec)]

    def fit(self, sessions: Sequence[TaskData], train: TrainConfig, progress: bool = True) -> dict:
        """The shared loop, on context-length windows unless the suite sets ``window_s``; with
        ``random_windows`` they are drawn afresh every epoch at random chunk offsets (learned
        positions would otherwise tie each position to a fixed phase of every trial)."""
        if train.window_s is None and sessions[0].spec.kind == TaskKind.regression:
            train = train.model_copy(update={"window_s": self.context_s})
        return super().fit(sessions, train, progress)

    # ---------------------------------------------------------------- training examples
    def encode(self, seg: Segment) -> dict[str, np.ndarray]:
        """Context-length tiles anchored at the segment end; queries read from their own tile."""
        b, K = self.bin_s, self.context_bins
        n_total = int(np.ceil(seg.duration / b - _EPS))
        n_tiles = -(-n_total // K)
        session, subject = self._context(seg.recording)
        # bins of the whole segment, newest first, then tile t holds bins [K t, K t + n_t)
        times, units = seg.recording.spikes_between(seg.start, seg.end)
        i = bins_back(times, seg.end, b)
        tile_len = np.minimum(K, n_total - K * np.arange(n_tiles))
        q_i = bins_back(seg.query_times, seg.end, b)
        q_tile = q_i // K
        tau = seg.query_times - self.lag_s
        tau_i = bins_back(tau, seg.end, b)
        tile_oldest = K * q_tile + tile_len[q_tile] - 1  # newest-first index of the tile's oldest bin
        q_bin = np.where((tau_i <= tile_oldest) & (tau >= seg.start), tile_oldest - tau_i, -1)
        # keep the tiles that hold queries (tiles are independent)
        used = np.unique(q_tile)
        remap = np.full(n_tiles, -1, np.int64)
        remap[used] = np.arange(used.size)
        t = i // K
        keep = remap[t] >= 0
        j = (K * t + tile_len[t] - 1 - i)[keep]
        counts = np.zeros((used.size, K, self.n_units), np.int64)
        np.add.at(counts, (remap[t[keep]], j, units[keep]), 1)
        return {
            "counts": counts,
            "q_tile": remap[q_tile],
            "q_bin": q_bin.astype(np.int64),
            "session": np.asarray(session, np.int64),
            "subject": np.asarray(subject, np.int64),
        }

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        counts = batch["counts"]
        B, T, N, U = counts.shape
        sess = batch["session"].repeat_interleave(T)
        subj = batch["subject"].repeat_interleave(T)
        memory = self.module.encode(counts.reshape(B * T, N, U), sess, subj)
        qb = torch.arange(-1, N, device=counts.device).expand(B * T, N + 1)
        out = self.module.decode(memory, N, qb).view(B, T * (N + 1), -1)
        flat = batch["q_tile"] * (N + 1) + batch["q_bin"] + 1
        return torch.gather(out, 1, flat.unsqueeze(-1).expand(-1, -1, out.shape[-1]))

    # ---------------------------------------------------------------- sliding windows (offline + streaming)
    def _run(self, counts: np.ndarray, q_bins: np.ndarray, session: int, subject: int) -> np.ndarray:
        """Windows counts (B, N, U) oldest bin first, queries (B, Q) -> denormalised (B, Q, D)."""
        dev = self.device
        c = torch.from_numpy(counts).to(dev)
        qb = torch.from_numpy(q_bins).to(dev)
        s = torch.full((c.shape[0],), session, dtype=torch.long, device=dev)
        u = torch.full((c.shape[0],), subject, dtype=torch.long, device=dev)
        out = self.module(c, s, u, qb).float().cpu().numpy()
        return self.denormalise(out)

    def _query_bins(self, q: np.ndarray, end, start, n_bins) -> np.ndarray:
        tau = q - self.lag_s
        j = n_bins - 1 - bins_back(tau, end, self.bin_s)
        return np.where(tau >= start, j, -1)

    def segment_windows(self, seg: Segment) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per chunk holding queries: window counts (C, N, U), query bins (C, Q), and where each
        segment query goes (chunk row, slot)."""
        b = self.bin_s
        windows = streaming_windows(seg, self.chunk_s, self.context_s)
        starts, ends, q_chunk = windows.starts, windows.ends, windows.query_chunk
        n_bins = window_bins(starts, ends, b)
        chunks, row, slot = windows.chunks_with_queries, windows.query_row, windows.query_slot
        q_bins = np.full((chunks.size, int(slot.max(initial=0)) + 1), -1, np.int64)
        q_bins[row, slot] = self._query_bins(seg.query_times, ends[q_chunk], starts[q_chunk], n_bins[q_chunk])
        N = max(1, int(q_bins.max(initial=-1)) + 1)
        # spikes of each window: [starts, ends) of the chunks with queries
        times, units = seg.recording.spikes_between(seg.start, seg.end)
        lo = np.searchsorted(times, starts[chunks], side="left")
        hi = np.searchsorted(times, ends[chunks], side="left")
        cnt = hi - lo
        w = np.repeat(np.arange(chunks.size), cnt)
        idx = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt) + np.repeat(lo, cnt)
        j = n_bins[chunks][w] - 1 - bins_back(times[idx], ends[chunks][w], b)
        keep = j < N
        counts = np.zeros((chunks.size, N, self.n_units), np.int64)
        np.add.at(counts, (w[keep], j[keep], units[idx][keep]), 1)
        return counts, q_bins, row, slot

    def predict_segment(self, seg: Segment) -> np.ndarray:
        """Exactly the streaming outputs: every chunk's window, batched across chunks."""
        session, subject = self._context(seg.recording)
        if seg.query_times.size == 0:
            return np.zeros((0, self.spec.dim), np.float32)
        counts, q_bins, row, slot = self.segment_windows(seg)
        outs = []
        for i in range(0, counts.shape[0], self.window_batch):
            qb = q_bins[i : i + self.window_batch]
            n = max(1, int(qb.max(initial=-1)) + 1)
            outs.append(self._run(counts[i : i + self.window_batch, :n], qb, session, subject))
        return np.concatenate(outs, axis=0)[row, slot]

    # ---------------------------------------------------------------- streaming
    def open_stream(self, recording: Recording) -> None:
        self._rec_ctx = self._context(recording)

    def predict_window(self, start: float, chunk: SpikeChunk) -> np.ndarray:
        E = chunk.end
        times = self.window_buffer.times()
        units = np.concatenate(self.window_buffer.parts(0)) if self.window_buffer.blocks else np.zeros(0, np.int64)
        n_bins = int(window_bins(start, E, self.bin_s))
        q_bins = self._query_bins(chunk.query_times, E, start, n_bins)
        N = max(1, int(q_bins.max()) + 1)
        j = n_bins - 1 - bins_back(times, E, self.bin_s)
        m = j < N
        counts = np.zeros((1, N, self.n_units), np.int64)
        np.add.at(counts, (0, j[m], units[m]), 1)
        return self._run(counts, q_bins[None], *self._rec_ctx)[0]
