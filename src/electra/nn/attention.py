"""Multi-head attention on ``torch.nn.functional.scaled_dot_product_attention``.

One implementation serves encoder self-attention (with a padding mask), decoder causal self-attention and
encoder-decoder cross-attention. Self-attention projects queries, keys and values with one fused matrix
multiply (``qkv``, as nanoGPT's ``c_attn``); cross-attention projects the queries (``query``) and the
memory's keys and values (``kv``, fused) separately. Checkpoints written before the fusion, with separate
``query`` / ``key`` / ``value`` projections, load through a state-dict hook (:func:`fuse_legacy_projections`).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

LEGACY_PROJECTIONS = ("query", "key", "value")


def padding_to_attn_mask(key_padding_mask: torch.Tensor | None) -> torch.Tensor | None:
    """Turn a ``[B, Lk]`` keep-mask (True = real token) into an SDPA mask ``[B, 1, 1, Lk]``."""
    if key_padding_mask is None:
        return None
    return key_padding_mask[:, None, None, :].bool()


def fused_names(cross: bool) -> dict[str, tuple[str, ...]]:
    """Fused projection name -> the legacy projections it concatenates (rows in this order)."""
    return {"kv": ("key", "value")} if cross else {"qkv": LEGACY_PROJECTIONS}


def fuse_legacy_projections(state: dict[str, Any], prefix: str, cross: bool) -> None:
    """Rewrite, in place, ``prefix + {query,key,value}.{weight,bias}`` entries of a state dict (or of an
    optimiser state keyed by parameter name) into the fused ``qkv`` (``kv`` for cross-attention).

    Values are tensors (concatenated along dim 0) or dicts of per-parameter optimiser state (their tensor
    entries concatenated, scalar entries such as ``step`` taken from the first)."""
    for fused, parts in fused_names(cross).items():
        for kind in ("weight", "bias"):
            keys = [f"{prefix}{p}.{kind}" for p in parts]
            if not all(k in state for k in keys):
                continue
            values = [state.pop(k) for k in keys]
            state[f"{prefix}{fused}.{kind}"] = _concat(values)


def fuse_legacy_names(names: list[Any], prefix: str, cross: bool) -> list[Any]:
    """A list of parameter names (an optimiser param group's) with legacy projections replaced by the fused
    one, in the position of the first part; other entries unchanged."""
    out: list[Any] = []
    for name in names:
        for fused, parts in fused_names(cross).items():
            for kind in ("weight", "bias"):
                if name == f"{prefix}{parts[0]}.{kind}":
                    name = f"{prefix}{fused}.{kind}"
                elif name in {f"{prefix}{p}.{kind}" for p in parts[1:]}:
                    name = None
        if name is not None:
            out.append(name)
    return out


def _concat(values: list[Any]) -> Any:
    if isinstance(values[0], torch.Tensor):
        return torch.cat(values, dim=0)
    merged = dict(values[0])
    for key, first in values[0].items():
        if isinstance(first, torch.Tensor) and first.dim() > 0:
            merged[key] = torch.cat([v[key] for v in values], dim=0)
    return merged


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention with fused projections.

    Args:
        hidden_size: model width of the queries (and of the output).
        num_heads: number of heads; must divide ``hidden_size``.
        dropout: dropout on the attention probabilities (training only).
        kv_size: width of the key/value source for cross-attention (defaults to hidden_size).
        cross: attend to a separate memory (cross-attention); implied by ``kv_size``.
    """

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        dropout: float = 0.0,
        kv_size: int | None = None,
        cross: bool = False,
    ):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}")
        self.cross = cross or kv_size is not None
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.dropout = dropout
        if self.cross:
            self.query = nn.Linear(hidden_size, hidden_size)
            self.kv = nn.Linear(kv_size or hidden_size, 2 * hidden_size)
        else:
            self.qkv = nn.Linear(hidden_size, 3 * hidden_size)
        self.output = nn.Linear(hidden_size, hidden_size)
        self._register_load_state_dict_pre_hook(self._fuse_legacy_keys)

    def _fuse_legacy_keys(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        fuse_legacy_projections(state_dict, prefix, self.cross)

    def upgrade_legacy_state(self, per_param: dict[str, Any], groups: list[dict[str, Any]], prefix: str) -> None:
        """Fuse legacy projections in an optimiser state keyed by parameter name (``per_param``: name ->
        moments; ``groups``: param groups listing names), as the state-dict hook does for weights."""
        fuse_legacy_projections(per_param, prefix, self.cross)
        for group in groups:
            group["params"] = fuse_legacy_names(group["params"], prefix, self.cross)

    def _heads(self, x: torch.Tensor, parts: int) -> tuple[torch.Tensor, ...]:
        """[B, L, parts * H] -> ``parts`` tensors [B, heads, L, head_dim]."""
        b, n, _ = x.shape
        return x.view(b, n, parts, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        causal: bool = False,
    ) -> torch.Tensor:
        """Attend from ``x`` [B, Lq, H] to itself, or for cross-attention to ``context`` [B, Lk, Hkv].

        ``attn_mask`` is a boolean mask broadcastable to [B, heads, Lq, Lk] (True = may attend),
        e.g. from :func:`padding_to_attn_mask`; ``causal`` adds the lower-triangular mask.
        """
        if self.cross:
            if context is None:
                raise ValueError("cross-attention needs a `context` (the encoder's output)")
            (q,) = self._heads(self.query(x), 1)
            k, v = self._heads(self.kv(context), 2)
        else:
            if context is not None:
                raise ValueError("self-attention takes no `context`; build the module with cross=True")
            q, k, v = self._heads(self.qkv(x), 3)
        if causal and attn_mask is not None:
            lq, lk = q.shape[-2], k.shape[-2]
            tri = torch.ones(lq, lk, dtype=torch.bool, device=x.device).tril(lk - lq)
            attn_mask, causal = attn_mask & tri, False
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0, is_causal=causal
        )
        b, _, lq, _ = out.shape
        return self.output(out.transpose(1, 2).reshape(b, lq, -1))
