"""Feed-forward block and the Transformer layer (encoder or decoder), post-LN or pre-LN."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from electra.nn.attention import KVCache, MultiHeadAttention


class FeedForward(nn.Module):
    """Position-wise ``dense -> GELU -> dense`` block."""

    def __init__(self, hidden_size: int, intermediate_size: int):
        super().__init__()
        self.dense_in = nn.Linear(hidden_size, intermediate_size)
        self.dense_out = nn.Linear(intermediate_size, hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense_out(F.gelu(self.dense_in(x)))


class TransformerLayer(nn.Module):
    """Self-attention (+ optional cross-attention) + feed-forward, each with residual and LayerNorm.

    ``memory_size`` is the width of the encoder output that cross-attention reads (default: ``hidden_size``).

    ``norm_first=False`` is the post-LN order of the original Transformer, BERT and ELECTRA:
    ``x = LN(x + drop(f(x)))``. ``norm_first=True`` is pre-LN: ``x = x + drop(f(LN(x)))``.
    """

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        intermediate_size: int,
        dropout: float = 0.1,
        attention_dropout: float = 0.1,
        layer_norm_eps: float = 1e-12,
        norm_first: bool = False,
        cross_attention: bool = False,
        memory_size: int | None = None,
    ):
        super().__init__()
        self.norm_first = norm_first
        self.attention = MultiHeadAttention(hidden_size, num_heads, attention_dropout)
        self.attention_norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        if cross_attention:
            self.cross_attention = MultiHeadAttention(
                hidden_size, num_heads, attention_dropout, kv_size=memory_size, cross=True
            )
            self.cross_attention_norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        else:
            self.cross_attention = None
        self.feed_forward = FeedForward(hidden_size, intermediate_size)
        self.ffn_norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.dropout = nn.Dropout(dropout)

    def _residual(self, x: torch.Tensor, norm: nn.LayerNorm, fn) -> torch.Tensor:
        if self.norm_first:
            return x + self.dropout(fn(norm(x)))
        return norm(x + self.dropout(fn(x)))

    def forward(
        self,
        x: torch.Tensor,
        attn_mask: torch.Tensor | None = None,
        causal: bool = False,
        memory: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
        position: torch.Tensor | int = 0,
        memory_kv: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Run the layer on ``x`` [B, L, H]; ``memory`` is the encoder output for cross-attention. Decoding
        step by step: ``cache`` / ``position`` for self-attention and the memory's precomputed ``memory_kv``
        (see :class:`~electra.nn.attention.MultiHeadAttention`)."""
        def attend(h: torch.Tensor) -> torch.Tensor:
            return self.attention(h, attn_mask=attn_mask, causal=causal, cache=cache, position=position)

        def attend_memory(h: torch.Tensor) -> torch.Tensor:
            return self.cross_attention(h, memory, attn_mask=memory_mask, memory_kv=memory_kv)

        x = self._residual(x, self.attention_norm, attend)
        if self.cross_attention is not None:
            if memory is None and memory_kv is None:
                raise ValueError("this layer has cross-attention and needs `memory`")
            x = self._residual(x, self.cross_attention_norm, attend_memory)
        return self._residual(x, self.ffn_norm, self.feed_forward)
