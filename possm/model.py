"""The POSSM network: spike tokens -> per-chunk cross-attention -> recurrent backbone -> output attention.

Per chunk (50 ms by default) a fixed number of learnable latents, timestamped at the chunk
midpoint, cross-attend to the chunk's spike tokens (unit embedding + token type, rotary time
embedding with value rotation; an empty chunk holds one padding token). The latents feed a
recurrent backbone (GRU, S4D or Mamba) whose outputs are timestamped at chunk ends. Each output
query (session embedding at an output timestamp, with RoPE) attends to the k most recent
backbone outputs, including the chunk that holds its timestamp; a linear head reads it out.
With feature streams configured (``possm.features``), each chunk's features are projected and
added to its latents before the backbone.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel
from torch import Tensor, nn

from bench.nn.rotary import RotaryCrossAttentionBlock, RotaryTimeEmbedding
from bench.nn.backbones import make_backbone
from possm.token_attention import token_attention, token_phases

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
        attn_dropout = p.dropout if p.attn_dropout is None else p.attn_dropout
        self.encoder = RotaryCrossAttentionBlock(
            dim, heads=p.enc_heads, dim_head=p.dim_head, dropout=attn_dropout, rotate_value=True,
            ff_dropout=p.dropout,
        )
        self.backbone = make_backbone(p.backbone, p.n_latents * dim, p.hidden, p.layers, p.d_state, p.expand, p.dropout)
        self.decoder = RotaryCrossAttentionBlock(
            dim, context_dim=self.backbone.out_dim, heads=p.dec_heads, dim_head=p.dim_head,
            dropout=attn_dropout, rotate_value=p.rotate_output_values, ff_dropout=p.dropout,
        )
        self.readout = nn.Linear(dim, n_out)
        nn.init.normal_(self.unit_emb.weight, std=p.unit_init_std)
        nn.init.normal_(self.token_type_emb.weight, std=0.02)
        nn.init.normal_(self.session_emb.weight, std=0.02)
        # per-chunk feature projection (possm.features), set by the decoder after the weights above
        # are drawn, so they are the same with or without it; None: spike tokens only
        self.feature_in: nn.Module | None = None

    # ------------------------------------------------------------------ pieces shared by both paths
    def token_kv_table(self) -> Tensor:
        """Projected keys/values of every token kind: one row per unit (spike tokens), then the
        padding token (last row). A token's context vector depends only on its unit, so
        normalising and projecting this table once replaces the same work on every token."""
        spikes = self.unit_emb.weight + self.token_type_emb.weight[SPIKE_TYPE]
        table = torch.cat([spikes, self.token_type_emb.weight[PAD_TYPE : PAD_TYPE + 1]], dim=0)
        return self.encoder.attn.to_kv(self.encoder.norm_context(table))

    def token_phases(self, dt: Tensor) -> Tensor:
        """(N, 2P) rotary phases ``[cos, sin]`` of token offsets from their chunk centre (data
        only: computed once per segment, ``POSSMDecoder.encode``)."""
        return token_phases(dt, self.rotary.omega(dt.device), self.latents.dtype)

    def encode_chunks(self, unit: Tensor, dt: Tensor, chunk: Tensor, n_chunks: int,
                      kv_table: Tensor | None = None, phases: Tensor | None = None) -> Tensor:
        """Flat tokens of n_chunks chunks -> latents (n_chunks, n_latents * dim).

        ``unit`` (N,) global unit index or -1 for a padding token, ``dt`` (N,) token time minus
        its chunk's midpoint, ``chunk`` (N,) chunk index, ``phases`` (N, 2P) their
        :meth:`token_phases` when cached. Rotary attention depends only on time differences, so
        timing tokens from their own chunk's centre (where the latents sit) is exact and keeps
        the phases small and precise; the attention itself is :func:`possm.token_attention.token_attention`.
        """
        if kv_table is None:
            kv_table = self.token_kv_table()
        if phases is None:
            phases = self.token_phases(dt)
        rows = torch.where(unit < 0, kv_table.shape[0] - 1, unit)
        block, attn = self.encoder, self.encoder.attn
        q = attn.to_q(block.norm_query(self.latents)).view(self.p.n_latents, attn.heads, attn.dim_head)
        out = token_attention(q, kv_table, rows, phases, chunk, n_chunks, self.rotary.n_pairs,
                              attn.dropout if self.training else 0.0)
        x = self.latents + attn.to_out(out.flatten(-2))  # (n_chunks, L, dim)
        return (x + block.ff(x)).flatten(1)

    def encode_chunk_counts(self, counts: Tensor) -> Tensor:
        """Chunks given as token counts -> latents (n_chunks, n_latents * dim), equal to
        :meth:`encode_chunks` on the tokens when every token sits at its chunk's centre (dt = 0:
        crossings binned at the chunk width). ``counts (n_chunks, units + 1)``: tokens per
        global unit row, the last column the padding token. All per-token work disappears:
        one attention over the unit table per chunk (the speech task's ~150 crossings a chunk)."""
        kv_table = self.token_kv_table()
        at_centre = torch.zeros(kv_table.shape[0], dtype=counts.dtype, device=counts.device)
        kv = self.encoder.attn.rotate_kv(kv_table, self.rotary(at_centre))
        q_rot = self.rotary(torch.zeros(self.p.n_latents, dtype=counts.dtype, device=counts.device))
        return self.encoder.forward_counts(self.latents, q_rot, kv, counts).flatten(1)

    def readout_queries(self, session: Tensor, query_time: Tensor, kv: tuple[Tensor, Tensor],
                        attn_mask: Tensor | None) -> Tensor:
        q = self.session_emb(session).unsqueeze(1).expand(-1, query_time.shape[1], -1)
        out = self.decoder(q, None, self.rotary(query_time), None, attn_mask=attn_mask, kv=kv)
        return self.readout(out)

    # ------------------------------------------------------------------ offline / training
    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        B, C = batch["chunk_end"].shape
        if "tok_counts" in batch:  # binned crossings at the chunk width (POSSMDecoder.count_tokens)
            z = self.encode_chunk_counts(batch["tok_counts"].reshape(B * C, -1).float())
        else:
            valid = batch["tok_valid"]
            chunk = batch["tok_chunk"] + C * torch.arange(B, device=valid.device).unsqueeze(1)
            phases = batch["tok_phase"][valid] if "tok_phase" in batch else None
            z = self.encode_chunks(batch["tok_unit"][valid], batch["tok_dt"][valid], chunk[valid], B * C, phases=phases)
        if self.feature_in is not None:
            z = z + self.feature_in(batch["features"].reshape(B * C, -1))
        h = self.backbone(z.reshape(B, C, -1))
        kv = self.decoder.context_kv(h, self.rotary(batch["chunk_end"]))
        attn = recent_chunks_mask(batch["query_chunk"], C, self.p.k_recent, batch["chunk_valid"])
        return self.readout_queries(batch["session"], batch["query_time"], kv, attn)
