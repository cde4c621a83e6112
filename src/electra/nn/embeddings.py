"""Token + position (+ segment) embeddings with LayerNorm and dropout."""

from __future__ import annotations

import torch
from torch import nn


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

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Embed ``input_ids`` [B, L] (token types default to 0)."""
        length = input_ids.shape[1]
        if length > self.position_embeddings.num_embeddings:
            raise ValueError(
                f"sequence length {length} exceeds max_position_embeddings "
                f"{self.position_embeddings.num_embeddings}"
            )
        x = self.word_embeddings(input_ids) + self.position_embeddings.weight[:length]
        if self.token_type_embeddings is not None:
            if token_type_ids is None:
                x = x + self.token_type_embeddings.weight[0]
            else:
                x = x + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.layer_norm(x))
