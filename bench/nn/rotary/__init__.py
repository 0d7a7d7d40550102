"""Rotary time attention shared by POYO and POSSM: :mod:`.embedding` (timestamps as rotations),
:mod:`.kernels` (the attention math) and :mod:`.modules` (attention layers and blocks).

The names are re-exported so that ``from bench.nn.rotary import RotaryTimeEmbedding`` keeps working.
"""

from bench.nn.rotary.embedding import RotaryTimeEmbedding, apply_rotary, logspace_periods
from bench.nn.rotary.kernels import masked_attention, segment_attention
from bench.nn.rotary.modules import (
    RotaryCrossAttention,
    RotaryCrossAttentionBlock,
    RotarySelfAttention,
    RotarySelfAttentionBlock,
)

__all__ = [
    "RotaryTimeEmbedding",
    "apply_rotary",
    "logspace_periods",
    "masked_attention",
    "segment_attention",
    "RotaryCrossAttention",
    "RotaryCrossAttentionBlock",
    "RotarySelfAttention",
    "RotarySelfAttentionBlock",
]
