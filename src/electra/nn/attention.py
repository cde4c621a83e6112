"""Multi-head attention on ``torch.nn.functional.scaled_dot_product_attention``.

One implementation serves encoder self-attention (with a padding mask), decoder causal
self-attention and encoder-decoder cross-attention.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def padding_to_attn_mask(key_padding_mask: torch.Tensor | None) -> torch.Tensor | None:
    """Turn a ``[B, Lk]`` keep-mask (True = real token) into an SDPA mask ``[B, 1, 1, Lk]``."""
    if key_padding_mask is None:
        return None
    return key_padding_mask[:, None, None, :].bool()


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention with separate query/key/value projections.

    Args:
        hidden_size: model width of the queries (and of the output).
        num_heads: number of heads; must divide ``hidden_size``.
        dropout: dropout on the attention probabilities (training only).
        kv_size: width of the key/value source for cross-attention (defaults to hidden_size).
    """

    def __init__(self, hidden_size: int, num_heads: int, dropout: float = 0.0, kv_size: int | None = None):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}")
        kv_size = kv_size or hidden_size
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.dropout = dropout
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(kv_size, hidden_size)
        self.value = nn.Linear(kv_size, hidden_size)
        self.output = nn.Linear(hidden_size, hidden_size)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        causal: bool = False,
    ) -> torch.Tensor:
        """Attend from ``x`` [B, Lq, H] to ``context`` [B, Lk, Hkv] (``x`` itself when None).

        ``attn_mask`` is a boolean mask broadcastable to [B, heads, Lq, Lk] (True = may attend),
        e.g. from :func:`padding_to_attn_mask`; ``causal`` adds the lower-triangular mask.
        """
        source = x if context is None else context
        q, k, v = self._split(self.query(x)), self._split(self.key(source)), self._split(self.value(source))
        if causal and attn_mask is not None:
            lq, lk = q.shape[-2], k.shape[-2]
            tri = torch.ones(lq, lk, dtype=torch.bool, device=x.device).tril(lk - lq)
            attn_mask, causal = attn_mask & tri, False
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0, is_causal=causal
        )
        b, _, lq, _ = out.shape
        return self.output(out.transpose(1, 2).reshape(b, lq, -1))
