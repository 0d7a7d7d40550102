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
* Output attention. The session query is projected and scaled once; the keys/values (values
  rotated too with ``rotate_output_values``, the output then counter-rotated by the query time) of the last
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
    offline path's clock); ``latent_extra`` (1, n_latents * dim): the chunk's projected feature
    streams, added to its latents. Returns (Q, n_out), with ``output_affine`` = ``(scale, shift)`` (the
    decoder's target de-normalisation) applied when given: it is folded into the readout.
    """

    def __init__(self, net, session: int, output_affine: tuple | None = None):
        enc_block, dec_block = net.encoder, net.decoder
        enc, dec = enc_block.attn, dec_block.attn
        rot = net.rotary
        if enc.dim_head != rot.head_dim or dec.dim_head != rot.head_dim:
            raise ValueError("streaming POSSM assumes encoder and decoder heads as wide as the rotary embedding")
        self.k_recent = net.p.k_recent
        self.rotate_out_values = dec.rotate_value
        self.n_latents = net.p.n_latents
        self.enc_heads, self.dec_heads, self.dim_head = enc.heads, dec.heads, enc.dim_head
        self.n_rot = rot.n_pairs  # the first n_rot pairs of a head are rotated, the rest are not
        with torch.no_grad():
            param = net.latents
            self.dtype, device = param.dtype, param.device
            # Per time, features [1, 0, cos a_0, sin a_0, ..., cos a_P-1, sin a_P-1]: pair 0 is a
            # constant (frequency 0) that carries the score of the unrotated pairs, the others are
            # the rotated pairs as interleaved [cos, sin] (sin(a) = cos(a - pi/2): one float64 cos
            # call gives both, like the offline rotary's float64 angles).
            omega = torch.cat((torch.zeros(1, dtype=torch.float64, device=device), rot.omega(device)))
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
            self.backbone = net.backbone.stepper()
            sess = net.session_emb.weight[session].unsqueeze(0)
            self.q_dec = (dec.to_q(dec_block.norm_query(sess)).view(dec.heads, self.dim_head) * scale).contiguous()
            self.dec_query_bias = (sess + dec.to_out.bias).contiguous()
            self._fold_readout(net.readout, dec_block.ff.net[3], output_affine)
        self.reset()

    def _fold_readout(self, readout, ff_project, output_affine) -> None:
        """``scale * readout(x + project(u)) + shift`` = ``x @ Wx + u @ Wu + b``: the decoder
        feed-forward's output projection, the readout and the de-normalisation are all affine."""
        w_r = readout.weight.detach().t()  # (dim, n_out)
        b_r = readout.bias.detach() if readout.bias is not None else torch.zeros(w_r.shape[1], dtype=w_r.dtype)
        w_u = ff_project.weight.detach().t() @ w_r  # (hidden, n_out)
        bias = b_r + (ff_project.bias.detach() @ w_r if ff_project.bias is not None else 0.0)
        if output_affine is not None:
            out_scale, out_shift = (torch.as_tensor(t).to(w_r) for t in output_affine)
            w_r, w_u, bias = w_r * out_scale, w_u * out_scale, bias * out_scale + out_shift
        self.readout_x, self.readout_u = w_r.contiguous(), w_u.contiguous()
        self.readout_bias = bias.unsqueeze(0).contiguous()

    def _input_table(self, net) -> Tensor:
        """(units + 1, He*L*F + He*Dh): per token kind, its score coefficients for every head and
        latent against the features (F = 2 + 2 * n_rot, see ``__init__``; scaled by
        1/sqrt(Dh)), then its projected value."""
        enc = net.encoder.attn
        H, L, Dh, P = enc.heads, net.p.n_latents, enc.dim_head, self.n_rot
        kv = net.token_kv_table().view(-1, 2, H, Dh)
        keys, values = kv[:, 0], kv[:, 1]
        q = enc.to_q(net.encoder.norm_query(net.latents)).view(L, H, Dh // 2, 2).double().transpose(0, 1)
        k = keys.reshape(-1, H, 1, Dh // 2, 2).double()
        q0, q1 = q[..., 0], q[..., 1]  # (H, L, pairs)
        k0, k1 = k[..., 0], k[..., 1]  # (U, H, 1, pairs)
        coef_cos = q0 * k0 + q1 * k1  # (U, H, L, pairs)
        coef_sin = q1 * k0 - q0 * k1
        constant = coef_cos[..., P:].sum(-1, keepdim=True)  # unrotated pairs: their plain dot product
        rotated = torch.stack((coef_cos[..., :P], coef_sin[..., :P]), dim=-1).flatten(-2)
        coef = torch.cat((constant, torch.zeros_like(constant), rotated), dim=-1) / math.sqrt(Dh)
        table = torch.cat((coef.flatten(1).to(self.dtype), values.flatten(1)), dim=1)
        return table.contiguous()

    def reset(self) -> None:
        """Back to the start of a recording: empty backbone state and output ring."""
        self.backbone_state = self.backbone.init_state(1)
        # keys (rotated by their output time) and values of the last k backbone outputs
        self.ring = torch.zeros((self.k_recent, 2, self.dec_heads, self.dim_head), dtype=self.dtype,
                                device=self.omega2.device)
        self.n_seen = 0

    def step(self, unit: Tensor, times: Tensor, latent_extra: Tensor | None = None) -> Tensor:
        n = unit.shape[0]
        He, L, Dh, Hd, P = self.enc_heads, self.n_latents, self.dim_head, self.dec_heads, self.n_rot
        feats = torch.cos(torch.addcmul(self.phase2, times.unsqueeze(-1), self.omega2)).to(self.dtype)
        n_feat = feats.shape[1]
        phasor = torch.view_as_complex(feats.view(times.shape[0], n_feat // 2, 2))[:, 1:]  # (T, P)

        # input cross-attention: N tokens -> L latents
        rows = self.enc_table.index_select(0, unit)
        n_coef = He * L * n_feat
        scores = (rows[:, :n_coef].view(n, He * L, n_feat) * feats[:n].unsqueeze(1)).sum(-1)  # (N, He*L)
        attn = torch.softmax(scores.t(), dim=-1).reshape(He, L, n)
        values = rows[:, n_coef:]  # rows is a fresh gather: rotate its values in place
        torch.view_as_complex(values.view(n, He, Dh // 2, 2))[:, :, :P].mul_(phasor[:n].unsqueeze(1))
        out = torch.bmm(attn, values.view(n, He, Dh).transpose(0, 1))  # (He, L, Dh)
        z = self.enc_out.add(self.enc_latents_bias, out.transpose(0, 1).reshape(L, He * Dh))
        z = z + self.enc_ff(z)

        # backbone: one step over the chunk's latents
        z = z.reshape(1, -1) if latent_extra is None else z.reshape(1, -1) + latent_extra  # feature streams
        y, self.backbone_state = self.backbone.step(z, self.backbone_state)

        # key / value of the new backbone output, timestamped at the chunk end, into the ring
        kv = self.dec_kv(self.dec_norm(y)).view(2, Hd, Dh // 2, 2)
        torch.view_as_complex(kv[0])[:, :P].mul_(phasor[n])
        if self.rotate_out_values:  # values rotated by their key time too
            torch.view_as_complex(kv[1])[:, :P].mul_(phasor[n])
        self.ring[self.n_seen % self.k_recent].copy_(kv.view(2, Hd, Dh))
        self.n_seen += 1
        q_count = times.shape[0] - n - 1
        if q_count == 0:
            return y.new_zeros((0, self.readout_x.shape[1]))

        # output queries at their times attend to the (up to) k most recent outputs
        seen = min(self.n_seen, self.k_recent)
        # a copy, always: with one query ``expand(...).contiguous()`` would return a view of q_dec itself
        # (a size-1 dimension counts as contiguous), and the in-place rotation below would corrupt it
        q = self.q_dec.repeat(q_count, 1, 1)
        torch.view_as_complex(q.view(q_count, Hd, Dh // 2, 2))[:, :, :P].mul_(phasor[n + 1 :].unsqueeze(1))
        ring = self.ring[:seen]
        a = torch.softmax(torch.bmm(q.transpose(0, 1), ring[:, 0].permute(1, 2, 0)), dim=-1)  # (Hd, Q, seen)
        att = torch.bmm(a, ring[:, 1].transpose(0, 1))  # (Hd, Q, Dh)
        if self.rotate_out_values:  # counter-rotated by the query time: relative timing only
            torch.view_as_complex(att.view(Hd, q_count, Dh // 2, 2))[:, :, :P].mul_(phasor[n + 1 :].conj())
        x = self.dec_out.add(self.dec_query_bias, att.transpose(0, 1).reshape(q_count, Hd * Dh))
        # readout(x + FF(x)), de-normalised, with the FF's output projection folded in
        return torch.addmm(torch.addmm(self.readout_bias, x, self.readout_x), self.dec_ff.hidden_units(x), self.readout_u)
