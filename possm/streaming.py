"""Batch-1 streaming form of a trained POSSM network: the real-time path, one chunk per call.

The offline forward pass (``POSSMNet.forward``) is written for training: padded batches, general
rotary attention modules, masks. Per chunk at batch 1 almost all of that is overhead (a CPU
launches a torch op in 2-10 us, and a step is a few dozen small ops), so this module computes the
same function with everything that does not depend on the incoming spikes folded into tables once,
at ``reset``:

* Input attention. A spike token's key is its unit's projected key rotated by the token's time
  offset ``dt`` from the chunk centre, where the latents sit (their rotation is the identity). So
  its score against latent ``l`` is, summed over rotary pairs ``j``,
  ``cos(w_j dt) (q0 k0 + q1 k1) + sin(w_j dt) (q1 k0 - q0 k1)`` (pairs that are not rotated have
  ``w_j = 0``): a dot product of a per-unit coefficient row, precomputed for every unit, head and
  latent, with the token's ``[cos, sin]`` features. One gather fetches each token's coefficients
  and its value, the values are rotated with one complex multiply, and the latents' outputs come
  out of one batched matmul; the counter-rotation at the chunk centre is the identity.
* One rotary call per step. The token offsets, the chunk end (key time of the new backbone output)
  and the output query times go through a single float64 cosine (the offline path also forms
  angles in float64 before casting; sines come from the same call as shifted cosines).
* Weights as row-major ``(in, out)`` copies (:mod:`bench.nn.frozen`): batch-1 matmuls run about
  twice as fast as through ``F.linear``'s transposed view.
* Output attention. The session query is projected and scaled once; the keys/values of the last
  ``k`` backbone outputs live in a ring buffer (attention is order-free, so slots are overwritten in
  place and nothing is concatenated), and the rotated key of each new output is written straight
  into its slot.

Nothing here grows with the length of the recording. Tests check the outputs equal the offline
pass to 1e-5 on every registered configuration (tests/possm, tests/models/test_streaming.py).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from bench.nn.frozen import FrozenFeedForward, FrozenLayerNorm, FrozenLinear


class StreamingPOSSM:
    """Precomputed tables and carried state for streaming one session through a POSSMNet.

    ``step(unit, times)``: ``unit`` (N,) int64 rows of the token table (the padding token is row
    ``pad_row``, used alone for an empty chunk); ``times`` (N + 1 + Q,) float64: the N token
    offsets from the chunk centre, then the chunk end, then the Q output query times (both on the
    offline path's clock). Returns (Q, n_out).
    """

    def __init__(self, net, session: int):
        enc_block, dec_block = net.encoder, net.decoder
        enc, dec = enc_block.attn, dec_block.attn
        rot = net.rotary
        if enc.dim_head != rot.head_dim or dec.dim_head != rot.head_dim:
            raise ValueError("streaming POSSM assumes encoder and decoder heads as wide as the rotary embedding")
        self.k_recent = net.p.k_recent
        self.n_latents = net.p.n_latents
        self.enc_heads, self.dec_heads, self.dim_head = enc.heads, dec.heads, enc.dim_head
        with torch.no_grad():
            param = net.latents
            self.dtype, device = param.dtype, param.device
            # angles laid out as interleaved [cos, sin] pairs: sin(a) = cos(a - pi/2), so one cos
            # call gives both (float64 like the offline rotary; pairs that are not rotated have
            # frequency 0, i.e. phasor 1 + 0j up to 6e-17)
            omega = rot._omega_full(device)
            self.omega2 = omega.repeat_interleave(2)
            self.phase2 = torch.tensor([0.0, -0.5 * math.pi], dtype=torch.float64, device=device).repeat(omega.numel())
            self.pad_row = net.unit_emb.num_embeddings
            self.enc_table = self._input_table(net)
            scale = 1.0 / math.sqrt(self.dim_head)
            self.enc_latents_bias = (net.latents + enc.to_out.bias).contiguous()
            self.enc_out = FrozenLinear(enc.to_out)
            self.enc_ff = FrozenFeedForward(enc_block.ff)
            self.dec_norm = FrozenLayerNorm(dec_block.norm_context)
            self.dec_kv = FrozenLinear(dec.to_kv)
            self.dec_out = FrozenLinear(dec.to_out)
            self.dec_ff = FrozenFeedForward(dec_block.ff)
            self.readout = FrozenLinear(net.readout)
            self.backbone = net.backbone.stepper()
            sess = net.session_emb.weight[session].unsqueeze(0)
            q_dec = dec.to_q(dec_block.norm_query(sess)).view(dec.heads, self.dim_head) * scale
            self.q_dec = torch.view_as_complex(q_dec.reshape(dec.heads, -1, 2).contiguous())  # (Hd, Dh/2)
            self.dec_query_bias = (sess + dec.to_out.bias).contiguous()
        self.reset()

    def _input_table(self, net) -> Tensor:
        """(units + 1, He*L*Dh + He*Dh): per token kind, its score coefficients for every head and
        latent (pairs interleaved as [cos, sin], scaled by 1/sqrt(Dh)), then its projected value."""
        enc = net.encoder.attn
        H, L, Dh = enc.heads, net.p.n_latents, enc.dim_head
        kv = net.token_kv_table().view(-1, 2, H, Dh)
        keys, values = kv[:, 0], kv[:, 1]
        q = enc.to_q(net.encoder.norm_query(net.latents)).view(L, H, Dh // 2, 2).double()
        k = keys.reshape(-1, H, Dh // 2, 2).double()
        q0, q1 = q[..., 0], q[..., 1]  # (L, H, P)
        k0, k1 = k[..., 0].unsqueeze(2), k[..., 1].unsqueeze(2)  # (U, H, 1, P)
        coef_cos = q0.transpose(0, 1) * k0 + q1.transpose(0, 1) * k1  # (U, H, L, P)
        coef_sin = q1.transpose(0, 1) * k0 - q0.transpose(0, 1) * k1
        coef = torch.stack((coef_cos, coef_sin), dim=-1).flatten(-2) / math.sqrt(Dh)  # (U, H, L, Dh)
        table = torch.cat((coef.flatten(1).to(self.dtype), values.flatten(1)), dim=1)
        return table.contiguous()

    def reset(self) -> None:
        """Back to the start of a recording: empty backbone state and output ring."""
        self.backbone_state = self.backbone.init_state(1)
        ring = (self.k_recent, self.dec_heads, self.dim_head)
        self.ring_k = torch.zeros(ring, dtype=self.dtype, device=self.omega2.device)
        self.ring_v = torch.zeros(ring, dtype=self.dtype, device=self.omega2.device)
        self.n_seen = 0

    def step(self, unit: Tensor, times: Tensor) -> Tensor:
        n = unit.shape[0]
        He, L, Dh, Hd = self.enc_heads, self.n_latents, self.dim_head, self.dec_heads
        cos_sin = torch.cos(torch.addcmul(self.phase2, times.unsqueeze(-1), self.omega2)).to(self.dtype)
        phasor = torch.view_as_complex(cos_sin.view(times.shape[0], Dh // 2, 2))

        # input cross-attention: N tokens -> L latents
        rows = self.enc_table.index_select(0, unit)
        n_coef = He * L * Dh
        scores = (rows[:, :n_coef].view(n, He * L, Dh) * cos_sin[:n].unsqueeze(1)).sum(-1)  # (N, He*L)
        attn = torch.softmax(scores.t(), dim=-1).reshape(He, L, n)
        values = torch.view_as_complex(rows[:, n_coef:].view(n, He, Dh // 2, 2)) * phasor[:n].unsqueeze(1)
        out = torch.bmm(attn, torch.view_as_real(values).view(n, He, Dh).transpose(0, 1))  # (He, L, Dh)
        z = self.enc_out.add(self.enc_latents_bias, out.transpose(0, 1).reshape(L, He * Dh))
        z = z + self.enc_ff(z)

        # backbone: one step over the chunk's latents
        y, self.backbone_state = self.backbone.step(z.reshape(1, -1), self.backbone_state)

        # key / value of the new backbone output, timestamped at the chunk end, into the ring
        kv = self.dec_kv(self.dec_norm(y)).view(2, Hd, Dh // 2, 2)
        slot = self.n_seen % self.k_recent
        torch.mul(torch.view_as_complex(kv[0]), phasor[n], out=torch.view_as_complex(self.ring_k[slot].view(Hd, Dh // 2, 2)))
        self.ring_v[slot].copy_(kv[1].view(Hd, Dh))
        self.n_seen += 1
        q_count = times.shape[0] - n - 1
        if q_count == 0:
            return y.new_zeros((0, self.readout.weight_t.shape[1]))

        # output queries at their times attend to the (up to) k most recent outputs
        seen = min(self.n_seen, self.k_recent)
        q = torch.view_as_real(self.q_dec * phasor[n + 1 :].unsqueeze(1)).view(q_count, Hd, Dh).transpose(0, 1)
        a = torch.softmax(torch.bmm(q, self.ring_k[:seen].permute(1, 2, 0)), dim=-1)  # (Hd, Q, seen)
        att = torch.bmm(a, self.ring_v[:seen].transpose(0, 1))  # (Hd, Q, Dh)
        x = self.dec_out.add(self.dec_query_bias, att.transpose(0, 1).reshape(q_count, Hd * Dh))
        return self.readout(x + self.dec_ff(x))
