"""Token + position (+ segment) embeddings with LayerNorm and dropout."""

from __future__ import annotations

import torch
from torch import nn


def position_rows(table: torch.Tensor, length: int, offset: torch.Tensor | int = 0) -> torch.Tensor:
    """Rows ``offset .. offset + length - 1`` of a position table: [L, E], or [B, L, E] for a per-row
    ``offset`` [B]. An int offset is range-checked; a tensor one (decoding steps, CUDA graphs) is not."""
    if isinstance(offset, int):
        if offset + length > table.shape[0]:
            raise ValueError(f"positions up to {offset + length} exceed max_position_embeddings {table.shape[0]}")
        return table[offset : offset + length]
    return table[position_index(length, offset, table.device)]


def position_index(length: int, offset: torch.Tensor | int, device: torch.device) -> torch.Tensor:
    """Positions ``offset .. offset + length - 1``: [L], or [B, L] for a per-row ``offset`` [B]."""
    if isinstance(offset, int):
        return torch.arange(offset, offset + length, device=device)
    return torch.arange(length, device=device) + (offset[..., None] if offset.dim() else offset)


class Embeddings(nn.Module):
    """Sum of word, learned absolute position and token-type embeddings, then LayerNorm + dropout.

    The output has ``embedding_size`` features; encoders whose hidden size differs add their own
    projection (ELECTRA shares this module between generator and discriminator, not the projection).
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_size: int,
        max_positions: int = 512,
        type_vocab_size: int = 2,
        layer_norm_eps: float = 1e-12,
        dropout: float = 0.1,
        pad_token_id: int = 0,
    ):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, embedding_size, padding_idx=pad_token_id)
        self.position_embeddings = nn.Embedding(max_positions, embedding_size)
        self.token_type_embeddings = nn.Embedding(type_vocab_size, embedding_size) if type_vocab_size else None
        self.layer_norm = nn.LayerNorm(embedding_size, eps=layer_norm_eps)
        self.dropout = nn.Dropout(dropout)

    def word_table(self) -> torch.Tensor:
        """The word-embedding table [V, E] tokens are embedded with (a masked LM's tied output layer)."""
        return self.word_embeddings.weight

    def positions(self, length: int, offset: torch.Tensor | int = 0) -> torch.Tensor:
        """Position embeddings of positions ``offset .. offset + length - 1`` ([L, E]; [B, L, E] for a
        per-row ``offset`` [B]). A tensor offset (step-by-step decoding, CUDA graphs) is not range-checked."""
        return position_rows(self.position_embeddings.weight, length, offset)

    def num_positions(self) -> int:
        """How many positions the module embeds (the longest sequence it takes)."""
        return self.position_embeddings.num_embeddings

    def positions_at(self, position_ids: torch.Tensor) -> torch.Tensor:
        """Position embeddings of explicit positions ``position_ids`` [..., L] ([..., L, E])."""
        return self.position_embeddings(position_ids)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                position_offset: torch.Tensor | int = 0,
                position_ids: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """Embed ``input_ids`` [B, L] (token types default to 0) at positions from ``position_offset``
        (an int, a 0-d tensor, or one per row [B]: decoding step by step), or at ``position_ids`` [B, L]."""
        length = input_ids.shape[1]
        if isinstance(position_offset, int) and length + position_offset > self.num_positions():
            raise ValueError(
                f"sequence length {length + position_offset} exceeds max_position_embeddings {self.num_positions()}"
            )
        where = self.positions(length, position_offset) if position_ids is None else self.positions_at(position_ids)
        x = self.word_embeddings(input_ids) + where
        if self.token_type_embeddings is not None:
            if token_type_ids is None:
                x = x + self.token_type_embeddings.weight[0]
            else:
                x = x + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.layer_norm(x))


class GradientDisentangledEmbeddings(Embeddings):
    """DeBERTa-v3's gradient-disentangled embedding sharing (He et al., 2021): the tables are those of a
    ``base`` :class:`Embeddings` (the generator's) with the gradient stopped, plus residual tables of this
    module's own, initialised at zero; LayerNorm and dropout are this module's own.

    So the discriminator starts from the generator's embeddings and adjusts them through the residuals only:
    its loss never pulls the generator's table, whose gradient comes from the generator's loss alone.
    """

    def __init__(self, base: Embeddings):
        word, pos, types = base.word_embeddings, base.position_embeddings, base.token_type_embeddings
        super().__init__(word.num_embeddings, word.embedding_dim, pos.num_embeddings,
                         types.num_embeddings if types is not None else 0, base.layer_norm.eps, base.dropout.p,
                         word.padding_idx if word.padding_idx is not None else 0)  # fmt: skip
        for table in self._tables():
            nn.init.zeros_(table.weight)
        self.base = [base]  # a list: not registered as a child, so it is saved once, with the generator

    def _tables(self) -> list[nn.Embedding]:
        tables = [self.word_embeddings, self.position_embeddings, self.token_type_embeddings]
        return [t for t in tables if t is not None]

    def effective_weights(self) -> dict[str, torch.Tensor]:
        """``{table name: stop-gradient(base table) + residual}``: the tables this module embeds with."""
        base = self.base[0]
        return {name: getattr(base, name).weight.detach() + getattr(self, name).weight
                for name in ("word_embeddings", "position_embeddings", "token_type_embeddings")
                if getattr(self, name) is not None}  # fmt: skip

    def word_table(self) -> torch.Tensor:
        return self.base[0].word_embeddings.weight.detach() + self.word_embeddings.weight

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                position_offset: int = 0, position_ids: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """Embed ``input_ids`` [B, L] with the effective tables (token types default to 0)."""
        if position_ids is not None:
            raise ValueError("gradient-disentangled embeddings take positions 0..L-1 only (no position_ids)")
        length = input_ids.shape[1] + position_offset
        if length > self.position_embeddings.num_embeddings:
            raise ValueError(
                f"sequence length {length} exceeds max_position_embeddings "
                f"{self.position_embeddings.num_embeddings}"
            )
        w = self.effective_weights()
        x = nn.functional.embedding(input_ids, w["word_embeddings"], self.word_embeddings.padding_idx)
        x = x + w["position_embeddings"][position_offset:length]
        if "token_type_embeddings" in w:
            types = w["token_type_embeddings"]
            x = x + (types[0] if token_type_ids is None else nn.functional.embedding(token_type_ids, types))
        return self.dropout(self.layer_norm(x))

    def merged(self) -> Embeddings:
        """A plain :class:`Embeddings` holding the effective tables and this module's LayerNorm (for export
        and fine-tuning, where the discriminator stands alone)."""
        word, pos = self.word_embeddings, self.position_embeddings
        types = self.token_type_embeddings
        out = Embeddings(word.num_embeddings, word.embedding_dim, pos.num_embeddings,
                         types.num_embeddings if types is not None else 0, self.layer_norm.eps, self.dropout.p,
                         word.padding_idx if word.padding_idx is not None else 0)  # fmt: skip
        with torch.no_grad():
            for name, weight in self.effective_weights().items():
                getattr(out, name).weight.copy_(weight)
            out.layer_norm.load_state_dict(self.layer_norm.state_dict())
        return out.to(word.weight.device)


class GridEmbeddings(Embeddings):
    """:class:`Embeddings` for tokens laid out on a ``rows`` x ``cols`` grid (image pixels in raster order):
    the position of grid cell ``(r, c)`` is ``row[r] + col[c]``, two learned tables, so neighbours above and
    below share a column vector as neighbours left and right share a row vector. The first ``prefix`` tokens
    of a sequence (e.g. a class token) are not on the grid and have learned vectors of their own.

    Sequences hold ``prefix + rows * cols`` tokens; flat position ``p`` is prefix token ``p`` for ``p < prefix``,
    else grid cell ``divmod(p - prefix, cols)``. No token types unless ``type_vocab_size`` says so."""

    def __init__(self, vocab_size: int, embedding_size: int, rows: int, cols: int, prefix: int = 0,
                 type_vocab_size: int = 0, layer_norm_eps: float = 1e-12, dropout: float = 0.1,
                 pad_token_id: int = 0):  # fmt: skip
        super().__init__(vocab_size, embedding_size, prefix, type_vocab_size, layer_norm_eps, dropout, pad_token_id)
        self.rows, self.cols, self.prefix = rows, cols, prefix
        self.row_embeddings = nn.Embedding(rows, embedding_size)
        self.col_embeddings = nn.Embedding(cols, embedding_size)

    def num_positions(self) -> int:
        return self.prefix + self.rows * self.cols

    def positions_at(self, position_ids: torch.Tensor) -> torch.Tensor:
        cell = (position_ids - self.prefix).clamp_min(0)
        grid = self.row_embeddings(cell // self.cols) + self.col_embeddings(cell % self.cols)
        if not self.prefix:
            return grid
        own = self.position_embeddings(position_ids.clamp_max(self.prefix - 1))
        return torch.where((position_ids < self.prefix)[..., None], own, grid)

    def positions(self, length: int, offset: torch.Tensor | int = 0) -> torch.Tensor:
        return self.positions_at(position_index(length, offset, self.row_embeddings.weight.device))


def sinusoidal_table(max_positions: int, dim: int) -> torch.Tensor:
    """The original Transformer's position encodings [max_positions, dim] (Vaswani et al., 2017):
    ``PE[p, 2i] = sin(p / 10000^(2i/dim))``, ``PE[p, 2i+1] = cos(p / 10000^(2i/dim))``."""
    position = torch.arange(max_positions, dtype=torch.float64)[:, None]
    rates = torch.pow(10000.0, -torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    table = torch.zeros(max_positions, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * rates)
    table[:, 1::2] = torch.cos(position * rates)[:, : dim // 2]
    return table.float()


class TokenEmbeddings(nn.Module):
    """The sequence-to-sequence Transformer's embeddings: ``dropout(sqrt(dim) * word + position)``, with
    sinusoidal positions (the paper) or learned ones, no LayerNorm. The word table doubles as the tied
    output projection (:meth:`word_table`)."""

    def __init__(self, vocab_size: int, dim: int, max_positions: int = 1024, positions: str = "sinusoidal",
                 dropout: float = 0.1, pad_token_id: int = 0):  # fmt: skip
        super().__init__()
        if positions not in ("sinusoidal", "learned"):
            raise ValueError(f"unknown positions {positions!r}; expected sinusoidal or learned")
        self.word_embeddings = nn.Embedding(vocab_size, dim, padding_idx=pad_token_id)
        self.scale = dim**0.5
        if positions == "learned":
            self.position_embeddings = nn.Embedding(max_positions, dim)
        else:
            self.position_embeddings = None
            self.register_buffer("sinusoidal", sinusoidal_table(max_positions, dim), persistent=False)
        self.max_positions = max_positions
        self.dropout = nn.Dropout(dropout)

    def word_table(self) -> torch.Tensor:
        return self.word_embeddings.weight

    def positions(self, length: int, offset: torch.Tensor | int = 0) -> torch.Tensor:
        """Position encodings of positions ``offset .. offset + length - 1`` (see :meth:`Embeddings.positions`)."""
        table = self.sinusoidal if self.position_embeddings is None else self.position_embeddings.weight
        return position_rows(table, length, offset)

    def forward(self, input_ids: torch.Tensor, position_offset: torch.Tensor | int = 0) -> torch.Tensor:
        """Embed ``input_ids`` [B, L] at positions from ``position_offset``."""
        x = self.word_embeddings(input_ids) * self.scale + self.positions(input_ids.shape[1], position_offset)
        return self.dropout(x)
