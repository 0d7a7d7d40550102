"""The POSSM network: spike tokens -> per-chunk cross-attention -> recurrent backbone -> output attention.

Per chunk (50 ms by default) a fixed number of learnable latents, timestamped at the chunk
midpoint, cross-attend to the chunk's spike tokens (unit embedding + token type, rotary time
embedding with value rotation; an empty chunk holds one padding token). The latents feed a
recurrent backbone (GRU, S4D or Mamba) whose outputs are timestamped at chunk ends. Each output
query (session embedding at an output timestamp, with RoPE) attends to the k most recent
backbone outputs, including the chunk that holds its timestamp; a linear head reads it out.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from pydantic import BaseModel
from torch import Tensor, nn

from bench.nn.rotary import RotaryCrossAttentionBlock, RotaryTimeEmbedding, apply_rotary
from bench.nn.backbones import make_backbone

PAD_TYPE, SPIKE_TYPE = 1, 0


def recent_chunks_mask(query_chunk: Tensor, n_chunks: int, k: int, chunk_valid: Tensor) -> Tensor:
    """(B, Q, C) mask: a query in chunk c sees chunks c-k+1 .. c (its own and the k-1 before).

    Works on chunk indices, not float times, so offline and streaming assign boundary queries
    to the same chunk.
    """
    c = torch.arange(n_chunks, device=query_chunk.device)
    qc = query_chunk.unsqueeze(-1)
    return (c <= qc) & (c > qc - k) & chunk_valid.unsqueeze(1)


class POSSMNet(nn.Module):
    def __init__(self, p: BaseModel, n_units: int, n_sessions: int, n_out: int):
        super().__init__()
        self.p = p
        dim = p.dim
        self.unit_emb = nn.Embedding(n_units, dim)
        self.session_emb = nn.Embedding(n_sessions, dim)
        self.token_type_emb = nn.Embedding(2, dim)
        self.latents = nn.Parameter(torch.randn(p.n_latents, dim) * 0.02)
        self.rotary = RotaryTimeEmbedding(p.dim_head, t_min=p.t_min, t_max=p.t_max)
        self.encoder = RotaryCrossAttentionBlock(
            dim, heads=p.enc_heads, dim_head=p.dim_head, dropout=p.dropout, rotate_value=True,
            ff_dropout=p.dropout,
        )
        self.backbone = make_backbone(p.backbone, p.n_latents * dim, p.hidden, p.layers, p.d_state, p.expand, p.dropout)
        self.decoder = RotaryCrossAttentionBlock(
            dim, context_dim=self.backbone.out_dim, heads=p.dec_heads, dim_head=p.dim_head,
            dropout=p.dropout, rotate_value=False, ff_dropout=p.dropout,
        )
        self.readout = nn.Linear(dim, n_out)
        nn.init.normal_(self.unit_emb.weight, std=1.0)  # unit identity must dominate the token type
        nn.init.normal_(self.token_type_emb.weight, std=0.02)
        nn.init.normal_(self.session_emb.weight, std=0.02)

    # ------------------------------------------------------------------ pieces shared by both paths
    def token_kv_table(self) -> Tensor:
        """Projected keys/values of every token kind: one row per unit (spike tokens), then the
        padding token (last row). A token's context vector depends only on its unit, so
        normalising and projecting this table once replaces the same work on every token."""
        spikes = self.unit_emb.weight + self.token_type_emb.weight[SPIKE_TYPE]
        table = torch.cat([spikes, self.token_type_emb.weight[PAD_TYPE : PAD_TYPE + 1]], dim=0)
        return self.encoder.attn.to_kv(self.encoder.norm_context(table))

    def encode_chunks(self, unit: Tensor, dt: Tensor, chunk: Tensor, n_chunks: int,
                      kv_table: Tensor | None = None) -> Tensor:
        """Flat tokens of n_chunks chunks -> latents (n_chunks, n_latents * dim).

        ``unit`` (N,) global unit index or -1 for a padding token, ``dt`` (N,) token time minus
        its chunk's midpoint, ``chunk`` (N,) chunk index. Rotary attention depends only on time
        differences, so timing tokens from their own chunk's centre (where the latents sit) is
        exact and keeps the phases small and precise.
        """
        if kv_table is None:
            kv_table = self.token_kv_table()
        rows = torch.where(unit < 0, kv_table.shape[0] - 1, unit)
        kv = self.encoder.attn.rotate_kv(kv_table[rows], self.rotary(dt))
        q = self.latents.unsqueeze(0).expand(n_chunks, -1, -1)
        q_rot = self.rotary(torch.zeros(n_chunks, self.p.n_latents, dtype=dt.dtype, device=dt.device))
        z = self.encoder.forward_segments(q, q_rot, kv, chunk)
        return z.flatten(1)

    def readout_queries(self, session: Tensor, query_time: Tensor, kv: tuple[Tensor, Tensor],
                        attn_mask: Tensor | None) -> Tensor:
        q = self.session_emb(session).unsqueeze(1).expand(-1, query_time.shape[1], -1)
        out = self.decoder(q, None, self.rotary(query_time), None, attn_mask=attn_mask, kv=kv)
        return self.readout(out)

    # ------------------------------------------------------------------ offline / training
    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        B, C = batch["chunk_end"].shape
        valid = batch["tok_valid"]
        chunk = batch["tok_chunk"] + C * torch.arange(B, device=valid.device).unsqueeze(1)
        z = self.encode_chunks(batch["tok_unit"][valid], batch["tok_dt"][valid], chunk[valid], B * C)
        h = self.backbone(z.reshape(B, C, -1))
        kv = self.decoder.context_kv(h, self.rotary(batch["chunk_end"]))
        attn = recent_chunks_mask(batch["query_chunk"], C, self.p.k_recent, batch["chunk_valid"])
        return self.readout_queries(batch["session"], batch["query_time"], kv, attn)

    # ------------------------------------------------------------------ streaming
    def init_state(self, session: int) -> dict[str, Any]:
        """Streaming state for one session. Everything that does not depend on the incoming
        spikes is computed here once: the token key/value table, the encoder's latent queries
        (latents sit at their chunk's centre, where the rotation is the identity) and the
        decoder's session query before its rotation."""
        enc, dec = self.encoder.attn, self.decoder.attn
        sess = self.session_emb.weight[session].unsqueeze(0)  # (1, dim)
        return {
            "backbone": self.backbone.init_state(1),
            "keys": [], "values": [],
            "kv_table": self.token_kv_table(),
            "q_enc": enc.to_q(self.encoder.norm_query(self.latents)).unflatten(-1, (enc.heads, enc.dim_head)),
            "session": sess,
            "q_dec": dec.to_q(self.decoder.norm_query(sess)).unflatten(-1, (dec.heads, dec.dim_head)),
        }

    def step(self, state: dict, unit: Tensor, dt: Tensor, end: float, query_time: Tensor) -> Tensor:
        """One chunk at batch 1: its tokens (N,) -> outputs (Q, n_out) for the chunk's queries.

        The same computation as ``forward`` for one chunk, written without batching machinery
        (per-chunk cost matters for real-time use); tests check it equals the offline path.
        """
        enc, dec = self.encoder.attn, self.decoder.attn
        rows = torch.where(unit < 0, state["kv_table"].shape[0] - 1, unit)
        k, v = enc.rotate_kv(state["kv_table"][rows], self.rotary(dt))  # (N, H, Dh)
        att = F.scaled_dot_product_attention(state["q_enc"].transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1))
        z = self.latents + enc.to_out(att.transpose(0, 1).flatten(-2))  # value rotation undone at time 0
        z = z + self.encoder.ff(z)
        y, state["backbone"] = self.backbone.step(z.reshape(1, -1), state["backbone"])
        k, v = self.decoder.context_kv(y, self.rotary(torch.tensor([end], dtype=query_time.dtype)))
        keep = self.p.k_recent - 1
        state["keys"] = (state["keys"][-keep:] if keep else []) + [k]
        state["values"] = (state["values"][-keep:] if keep else []) + [v]
        if query_time.numel() == 0:
            return query_time.new_zeros((0, self.readout.out_features), dtype=torch.float32)
        q = apply_rotary(state["q_dec"], self.rotary(query_time).unsqueeze(-2))  # (Q, H, Dh)
        keys = torch.cat(state["keys"]).transpose(0, 1)
        values = torch.cat(state["values"]).transpose(0, 1)
        att = F.scaled_dot_product_attention(q.transpose(0, 1), keys, values)  # (H, Q, Dh)
        x = state["session"] + dec.to_out(att.transpose(0, 1).flatten(-2))
        return self.readout(x + self.decoder.ff(x))
