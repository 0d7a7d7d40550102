"""The POYO network (Azabou et al. 2023): spike tokens -> latent Perceiver -> output queries.

Specification: the POYO paper (``shared/seeds/004_...``, section 2 and appendix A) and FACTS.md.
The windows it is run on are the decoder's business (:mod:`baselines.poyo.decoder`).

Architecture (one forward pass over one context window ``[ws, we)``)
-----------------------------------------------------------------------
* Input tokens: every spike is ``UnitEmbed(unit) + TypeEmbed(SPIKE)`` at its timestamp. Every unit
  of the session also gets a ``START`` token (``UnitEmbed + TypeEmbed(START)``) at ``ws`` and an
  ``END`` token at ``we`` (appendix A.3), so silent units are visible too. Unit dropout (training)
  removes a unit's spikes and its delimiters (at least ``unit_dropout_min`` units are kept, A.4.2).
* Latents: ``latents_per_step`` learned vectors, weight-shared across time groups, replicated every
  ``latent_step`` (0.125 s) over the window: for a 1 s window, 8 groups of 16 = 128 latents. The
  group timestamps are the midpoints of the 8 sub-intervals of ``[we - context_s, we)``; the grid is
  anchored at the window *end* (see :mod:`baselines.poyo.decoder`).
* Encoder: rotary cross-attention latents <- tokens (values rotated, A.1), pre-norm + GEGLU
  feed-forward; ``depth`` rotary self-attention blocks over the latents (values rotated); decoder:
  rotary cross-attention from output queries (session embedding at the output timestamps) to the
  latents, values *not* rotated; then one ``Linear`` readout (regression dims or class logits).
  RoPE periods log-spaced from 1 ms to 4 s (paper), half of each head rotated. All attention comes
  from :mod:`bench.nn.rotary`.

Initialisation (it decides whether POYO learns at all on a small CPU budget; the architecture is
the paper's): embeddings (unit, token type, session, latents) are drawn with std 0.02: they are
layer-normed, so only their scale relative to Adam's step size matters, and at std 1 they barely
move in a few hundred steps. The encoder and decoder cross-attention start time-local
(:func:`local_attention_init`): with random weights a latent attends almost uniformly to the
~2000 spikes of a window and the loss sits on a plateau for 300-800 steps before attention
becomes selective in time; with the local start the plateau is a few epochs. The output
projections of the latent self-attention blocks start at zero (each block starts as the identity).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from baselines.poyo.params import POYOParams
from bench.nn.rotary import (
    RotaryCrossAttentionBlock,
    RotarySelfAttentionBlock,
    RotaryTimeEmbedding,
    apply_rotary,
)

SPIKE, START, END = 0, 1, 2  # token types


class POYONet(nn.Module):
    """POYO network. Times are float64 seconds relative to any origin (RoPE is relative)."""

    def __init__(self, p: POYOParams, n_units: int, n_sessions: int, n_out: int):
        super().__init__()
        self.p = p
        dim = p.dim
        self.unit_emb = nn.Embedding(n_units, dim)
        self.session_emb = nn.Embedding(n_sessions, dim)
        self.token_type_emb = nn.Embedding(3, dim)
        self.latent_emb = nn.Parameter(torch.empty(p.latents_per_step, dim))
        self.rotary = RotaryTimeEmbedding(p.dim_head, t_min=p.t_min, t_max=p.t_max, rotate_fraction=0.5,
                                          endpoint=False)
        self.encoder = RotaryCrossAttentionBlock(
            dim, heads=p.cross_heads, dim_head=p.dim_head, dropout=p.attn_dropout, rotate_value=True,
            ff_mult=p.ff_mult, ff_dropout=p.dropout,
        )
        self.layers = nn.ModuleList(
            RotarySelfAttentionBlock(
                dim, heads=p.self_heads, dim_head=p.dim_head, dropout=p.attn_dropout, rotate_value=True,
                ff_mult=p.ff_mult, ff_dropout=p.dropout,
            )
            for _ in range(p.depth)
        )
        self.decoder = RotaryCrossAttentionBlock(
            dim, heads=p.cross_heads, dim_head=p.dim_head, dropout=p.attn_dropout, rotate_value=False,
            ff_mult=p.ff_mult, ff_dropout=p.dropout,
        )
        self.lin_dropout = nn.Dropout(p.lin_dropout)
        self.readout = nn.Linear(dim, n_out)
        if p.zero_init_residual:
            for layer in self.layers:
                for lin in (layer.attn.to_out, layer.ff.net[-1]):
                    nn.init.zeros_(lin.weight)
                    nn.init.zeros_(lin.bias)
        if p.local_attn_init > 0:
            for block in (self.encoder, self.decoder):
                local_attention_init(block, self.rotary, p.local_attn_init, p.local_attn_min_period)
        for emb in (self.unit_emb.weight, self.token_type_emb.weight, self.session_emb.weight, self.latent_emb):
            nn.init.normal_(emb, std=p.emb_init_std)

    # ------------------------------------------------------------------ pieces
    def latent_times(self, window_end: Tensor) -> Tensor:
        """(..., ) window ends -> (..., n_groups * latents_per_step) latent timestamps (group-major)."""
        p = self.p
        g = (torch.arange(p.n_groups, dtype=torch.float64, device=window_end.device) + 0.5) * p.latent_step
        t = window_end.to(torch.float64).unsqueeze(-1) - p.context_s + g
        return t.repeat_interleave(p.latents_per_step, dim=-1)

    def kv_rows(self, unit: Tensor, kind: Tensor | int) -> Tensor:
        """Unrotated encoder ``to_kv`` projections of ``LayerNorm(UnitEmbed + TypeEmbed)``,
        ``(..., 2 * H * Dh)``. A token's context depends only on its (unit, type) pair, so the
        projection is computed once per distinct pair and gathered per token."""
        kind = torch.as_tensor(kind, device=unit.device).expand(unit.shape)
        pair = unit * 3 + kind
        n_pairs = 3 * self.unit_emb.num_embeddings
        if n_pairs <= pair.numel():  # fewer kinds than tokens (training batches): project every kind,
            # then one index_select (no sort, and its backward is an index_add, not an index_put)
            x = (self.unit_emb.weight.unsqueeze(1) + self.token_type_emb.weight.unsqueeze(0)).flatten(0, 1)
            table = self.encoder.attn.to_kv(self.encoder.norm_context(x))
            return table.index_select(0, pair.flatten()).unflatten(0, pair.shape)
        uniq, inverse = torch.unique(pair, return_inverse=True)
        x = self.unit_emb(uniq // 3) + self.token_type_emb(uniq % 3)
        rows = self.encoder.attn.to_kv(self.encoder.norm_context(x))
        return rows[inverse]

    def rotate_kv(self, rows: Tensor, rot: Tensor) -> tuple[Tensor, Tensor]:
        """Rows from :meth:`kv_rows` ``(..., N, 2HDh)`` rotated by their token times ``(..., N, P)``
        (keys and values: the encoder rotates values) -> keys, values ``(..., N, H, Dh)``."""
        attn = self.encoder.attn
        kv = rows.unflatten(-1, (2, attn.heads, attn.dim_head))
        return apply_rotary(kv, rot.unsqueeze(-2).unsqueeze(-2)).unbind(-3)

    def token_kv(self, unit: Tensor, kind: Tensor | int, time: Tensor) -> tuple[Tensor, Tensor]:
        """Encoder keys / values (rotated by the token times), token-major ``(..., N, H, Dh)``."""
        return self.rotate_kv(self.kv_rows(unit, kind), self.rotary(time))

    def delimiter_kv(self, unit: Tensor, kind: int) -> tuple[Tensor, Tensor]:
        """Unrotated (time 0) keys / values of every unit's START or END token: ``(U, H, Dh)``."""
        attn = self.encoder.attn
        return self.kv_rows(unit, kind).unflatten(-1, (2, attn.heads, attn.dim_head)).unbind(-3)

    def process(self, kv: tuple[Tensor, Tensor], context_mask: Tensor | None, window_end: Tensor) -> tuple[Tensor, Tensor]:
        """Encoder cross-attention + self-attention stack: -> latents (B, N, D) and their rotations."""
        B = window_end.shape[0]
        lat_rot = self.rotary(self.latent_times(window_end))
        z = self.latent_emb.repeat(self.p.n_groups, 1).unsqueeze(0).expand(B, -1, -1)
        z = self.encoder(z, None, lat_rot, None, context_mask=context_mask, kv=kv)
        for layer in self.layers:
            z = layer(z, lat_rot)
        return z, lat_rot

    def readout_queries(self, z: Tensor, lat_rot: Tensor, session: Tensor, query_time: Tensor) -> Tensor:
        q = self.session_emb(session).unsqueeze(1).expand(-1, query_time.shape[1], -1)
        out = self.decoder(q, z, self.rotary(query_time), lat_rot)
        return self.readout(self.lin_dropout(out))

    # ------------------------------------------------------------------ window batches
    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        """Padded batch of windows (see :meth:`POYODecoder.encode`) -> (B, Q, n_out)."""
        kv = self.token_kv(batch["tok_unit"], batch["tok_type"], batch["tok_time"])
        z, lat_rot = self.process(kv, batch["tok_mask"], batch["window_end"])
        return self.readout_queries(z, lat_rot, batch["session"], batch["query_time"])


def local_attention_init(block: RotaryCrossAttentionBlock, rotary: RotaryTimeEmbedding, scale: float,
                         min_period: float) -> None:
    """Make a cross-attention block attend to nearby times from the start.

    With random weights a latent's attention over a window of ~2000 spikes is nearly uniform, and
    gradient descent needs hundreds of steps before it becomes selective in time (a long plateau
    of the loss). Here the query and every key get the same constant component, ``scale`` on the
    real part of each rotated pair whose period is at least ``min_period``: its contribution to the
    score is ``scale^2 / sqrt(dh) * sum_i cos(2 pi dt / T_i)``, a bump at ``dt = 0``. The component
    enters through the layer-norm biases (set to ones) and a rank-one term on the projections; as
    layer-normed inputs have zero mean over features, the rank-one term does not touch the
    content path. The architecture is unchanged; this is only an initialisation.
    """
    attn = block.attn
    inner = attn.heads * attn.dim_head
    target = torch.zeros(attn.heads, attn.dim_head)
    slow = torch.nonzero(rotary.periods >= min_period).flatten()
    target[:, 2 * slow] = scale
    target = target.flatten()
    with torch.no_grad():
        for norm, weight in ((block.norm_query, attn.to_q.weight), (block.norm_context, attn.to_kv.weight)):
            norm.bias.fill_(1.0)
            ones = torch.ones(weight.shape[1])
            weight[:inner] += torch.outer(target - weight[:inner] @ ones, ones) / weight.shape[1]


def rotate_delimiters(kv0: tuple[Tensor, Tensor], rot: Tensor) -> tuple[Tensor, Tensor]:
    """Delimiter keys/values ``(U, H, Dh)`` rotated by per-window phasors ``(B, P)`` -> ``(B, U, H, Dh)``."""
    r = rot[:, None, None, :]
    return apply_rotary(kv0[0].unsqueeze(0), r), apply_rotary(kv0[1].unsqueeze(0), r)

