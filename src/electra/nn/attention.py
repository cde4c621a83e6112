"""Multi-head attention on ``torch.nn.functional.scaled_dot_product_attention``.

One implementation serves encoder self-attention (with a padding mask), decoder causal self-attention and
encoder-decoder cross-attention. Self-attention projects queries, keys and values with one fused matrix
multiply (``qkv``, as nanoGPT's ``c_attn``); cross-attention projects the queries (``query``) and the
memory's keys and values (``kv``, fused) separately. Checkpoints written before the fusion, with separate
``query`` / ``key`` / ``value`` projections, load through a state-dict hook (:func:`fuse_legacy_projections`).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

LEGACY_PROJECTIONS = ("query", "key", "value")


@functools.lru_cache(maxsize=64)
def causal_mask(lq: int, lk: int, device: torch.device) -> torch.Tensor:
    """The boolean ``[lq, lk]`` mask of causal attention when the ``lq`` queries are the last of ``lk``
    positions (True = may attend). Built once per shape and device, then reused."""
    return torch.ones(lq, lk, dtype=torch.bool, device=device).tril(lk - lq)


class KVCache:
    """A preallocated key/value buffer for step-by-step decoding: ``k`` and ``v`` of shape
    ``[batch, heads, max_length, head_dim]`` that never change shape (so a decoding step can be captured
    in a CUDA graph); :meth:`write` copies new keys / values in at ``position`` (a 0-d long tensor or an
    int), and :meth:`mask` says which cached positions each query may attend."""

    def __init__(self, batch: int, num_heads: int, max_length: int, head_dim: int, *,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"):  # fmt: skip
        shape = (batch, num_heads, max_length, head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        self.max_length = max_length
        self._slots = torch.arange(max_length, device=device)

    def write(self, k: torch.Tensor, v: torch.Tensor, position: torch.Tensor | int) -> None:
        """Store ``k``, ``v`` [batch, heads, n, head_dim] at positions ``position .. position + n - 1``."""
        index = self._slots[: k.shape[2]] + position
        self.k.index_copy_(2, index, k.to(self.k.dtype))
        self.v.index_copy_(2, index, v.to(self.v.dtype))

    def mask(self, n: int, position: torch.Tensor | int) -> torch.Tensor:
        """``[n, max_length]``: query ``i`` (at ``position + i``) may attend the cached positions up to its
        own (causal), never the slots not written yet."""
        return self._slots[None, :] <= (self._slots[:n] + position)[:, None]

    def reorder(self, index: torch.Tensor) -> None:
        """Keep rows ``index`` [batch] (beam search: the beams that survive), in place."""
        self.k.copy_(self.k.index_select(0, index))
        self.v.copy_(self.v.index_select(0, index))


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

    def project_memory(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-attention's keys and values of ``context`` [B, Lk, Hkv], each [B, heads, Lk, head_dim]:
        computed once per source sentence and passed to every decoding step as ``memory_kv``."""
        if not self.cross:
            raise ValueError("project_memory is for cross-attention")
        return self._heads(self.kv(context), 2)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        causal: bool = False,
        cache: KVCache | None = None,
        position: torch.Tensor | int = 0,
        memory_kv: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Attend from ``x`` [B, Lq, H] to itself, or for cross-attention to ``context`` [B, Lk, Hkv].

        ``attn_mask`` is a boolean mask broadcastable to [B, heads, Lq, Lk] (True = may attend),
        e.g. from :func:`padding_to_attn_mask`; ``causal`` adds the lower-triangular mask. Decoding step by
        step: self-attention with a ``cache`` writes this step's keys / values at ``position`` and attends
        causally over the whole (static-shape) cache, ``attn_mask`` then being over its slots;
        cross-attention takes the precomputed ``memory_kv`` (:meth:`project_memory`) instead of ``context``.
        """
        if self.cross:
            (q,) = self._heads(self.query(x), 1)
            if memory_kv is not None:
                k, v = memory_kv
            elif context is not None:
                k, v = self._heads(self.kv(context), 2)
            else:
                raise ValueError("cross-attention needs a `context` (the encoder's output) or its `memory_kv`")
        else:
            if context is not None:
                raise ValueError("self-attention takes no `context`; build the module with cross=True")
            q, k, v = self._heads(self.qkv(x), 3)
            if cache is not None:
                cache.write(k, v, position)
                k, v = cache.k.to(q.dtype), cache.v.to(q.dtype)
                steps = cache.mask(q.shape[-2], position)
                attn_mask, causal = (steps if attn_mask is None else attn_mask & steps), False
        if causal and attn_mask is not None:
            attn_mask, causal = attn_mask & causal_mask(q.shape[-2], k.shape[-2], x.device), False
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0, is_causal=causal
        )
        b, _, lq, _ = out.shape
        return self.output(out.transpose(1, 2).reshape(b, lq, -1))
