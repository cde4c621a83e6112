"""The Transformer encoder: embeddings (optionally shared), projection, a stack of layers."""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from electra.models.config import EncoderConfig
from electra.nn import Embeddings, GridEmbeddings, TransformerLayer, init_bert_weights, padding_to_attn_mask


def build_embeddings(config: EncoderConfig) -> Embeddings:
    """Embeddings module for ``config`` (shared between generator and discriminator in ELECTRA): 1-D positions,
    or 2-D ones for a grid (``config.grid_rows``)."""
    if config.grid_rows:
        return GridEmbeddings(config.vocab_size, config.embedding_size, config.grid_rows, config.grid_cols,
                              config.grid_prefix, config.type_vocab_size, config.layer_norm_eps, config.dropout,
                              config.pad_token_id)  # fmt: skip
    return Embeddings(
        config.vocab_size,
        config.embedding_size,
        config.max_position_embeddings,
        config.type_vocab_size,
        config.layer_norm_eps,
        config.dropout,
        config.pad_token_id,
    )


class TransformerEncoder(nn.Module):
    """Bidirectional Transformer encoder returning one hidden vector per token.

    Pass ``embeddings`` to share an existing :class:`Embeddings` module (its size must match
    ``config.embedding_size``); a projection to ``hidden_size`` is added when the sizes differ.
    """

    def __init__(self, config: EncoderConfig, embeddings: Embeddings | None = None):
        super().__init__()
        self.config = config
        self.embeddings = embeddings if embeddings is not None else build_embeddings(config)
        self.projection = (
            nn.Linear(config.embedding_size, config.hidden_size)
            if config.embedding_size != config.hidden_size
            else None
        )
        self.layers = nn.ModuleList(
            TransformerLayer(
                config.hidden_size,
                config.num_heads,
                config.intermediate_size,
                config.dropout,
                config.attention_dropout,
                config.layer_norm_eps,
                config.norm_first,
            )
            for _ in range(config.num_layers)
        )
        self.final_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) if config.norm_first else None
        init = partial(init_bert_weights, std=config.initializer_range)
        for name, child in self.named_children():
            if name != "embeddings" or embeddings is None:
                child.apply(init)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Encode ``input_ids`` [B, L]; ``attention_mask`` [B, L] is True (or 1) at real tokens (None: all are);
        ``token_type_ids`` default to 0 (ignored without a token-type table), ``position_ids`` to 0..L-1."""
        x = self.embeddings(input_ids, token_type_ids, position_ids=position_ids)
        if self.projection is not None:
            x = self.projection(x)
        mask = padding_to_attn_mask(attention_mask)
        for layer in self.layers:
            x = layer(x, attn_mask=mask)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return x
