"""ELECTRA's generator (a masked LM) and discriminator (a replaced-token detector).

The models know nothing of text or of the training objective: they map token ids to logits.
"""

from __future__ import annotations

from functools import partial
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from electra.models.config import ElectraConfig, EncoderConfig
from electra.models.encoder import TransformerEncoder
from electra.models.pretrained import PretrainedModel
from electra.nn import Embeddings, init_bert_weights


class MaskedLMHead(nn.Module):
    """``dense(embedding size) -> GELU -> LayerNorm``, then logits against the tied embedding table."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.embedding_size)
        self.layer_norm = nn.LayerNorm(config.embedding_size, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden: torch.Tensor, word_embeddings: torch.Tensor) -> torch.Tensor:
        return F.linear(self.layer_norm(F.gelu(self.dense(hidden))), word_embeddings, self.bias)


class _EncoderWithHead(PretrainedModel):
    """A :class:`TransformerEncoder` (optionally on shared ``embeddings``) and a ``head_class`` head on top,
    the head initialised as in BERT."""

    head_class: ClassVar[type[nn.Module]]

    def __init__(self, config: EncoderConfig, embeddings: Embeddings | None = None):
        super().__init__()
        self.config = config
        self.encoder = TransformerEncoder(config, embeddings)
        self.head = self.head_class(config)
        self.head.apply(partial(init_bert_weights, std=config.initializer_range))

    def parallel_blocks(self) -> list[nn.Module]:
        return list(self.encoder.layers)


class MaskedLM(_EncoderWithHead):
    """Encoder + masked-LM head: ELECTRA's generator, or a BERT-style model for the MLM objective."""

    config_class = EncoderConfig
    head_class = MaskedLMHead

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Vocabulary logits; only at ``positions`` [B, N] when given ([B, N, V]), else everywhere."""
        hidden = self.encoder(input_ids, attention_mask, token_type_ids)
        if positions is not None:
            hidden = hidden.gather(1, positions[..., None].expand(-1, -1, hidden.shape[-1]))
        return self.head(hidden, self.encoder.embeddings.word_embeddings.weight)


class DiscriminatorHead(nn.Module):
    """``dense(hidden) -> GELU -> dense(1)``: one replaced/original logit per token."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.out = nn.Linear(config.hidden_size, 1)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.out(F.gelu(self.dense(hidden))).squeeze(-1)


class Discriminator(_EncoderWithHead):
    """Encoder + per-token replaced-token-detection head; the encoder is what gets fine-tuned."""

    config_class = EncoderConfig
    head_class = DiscriminatorHead

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits [B, L]: > 0 means "this token was replaced"."""
        return self.head(self.encoder(input_ids, attention_mask, token_type_ids))


class Electra(PretrainedModel):
    """Generator and discriminator sharing word, position and token-type embeddings and their LayerNorm.

    The generator's output layer is tied to the shared word-embedding table and has its own bias.
    """

    config_class = ElectraConfig

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.config = config
        self.discriminator = Discriminator(config.discriminator)
        self.generator = MaskedLM(config.generator, embeddings=self.discriminator.encoder.embeddings)

    @property
    def embeddings(self) -> Embeddings:
        return self.discriminator.encoder.embeddings

    def parallel_blocks(self) -> list[nn.Module]:
        return self.discriminator.parallel_blocks() + self.generator.parallel_blocks()

    def part(self, cls: type) -> nn.Module | None:
        for candidate in (self, self.discriminator, self.generator):
            if isinstance(candidate, cls):
                return candidate
        return None
