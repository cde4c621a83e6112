"""ELECTRA's generator (a masked LM) and discriminator (a replaced-token detector).

The models know nothing of text or of the training objective: they map token ids to logits.
"""

from __future__ import annotations

from functools import partial
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from electra.models.config import ElectraConfig, EncoderConfig, ReplaceMLMConfig
from electra.models.encoder import TransformerEncoder
from electra.models.pretrained import PretrainedModel
from electra.nn import Embeddings, GradientDisentangledEmbeddings, init_bert_weights


class MaskedLMHead(nn.Module):
    """``dense(embedding size) -> GELU -> LayerNorm``, then logits against the tied embedding table."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.embedding_size)
        self.layer_norm = nn.LayerNorm(config.embedding_size, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def features(self, hidden: torch.Tensor) -> torch.Tensor:
        """What the output layer reads: ``LayerNorm(GELU(dense(hidden)))`` [..., embedding size]."""
        return self.layer_norm(F.gelu(self.dense(hidden)))

    def forward(self, hidden: torch.Tensor, word_embeddings: torch.Tensor) -> torch.Tensor:
        return F.linear(self.features(hidden), word_embeddings, self.bias)


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
        position_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Vocabulary logits; only at ``positions`` [B, N] when given ([B, N, V]), else everywhere.
        ``position_ids`` [B, L]: where each token sits (default 0..L-1), as :class:`TransformerEncoder` takes."""
        return F.linear(*self.output_features(input_ids, attention_mask, token_type_ids, positions, position_ids))

    def output_features(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        positions: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The logits of :meth:`forward` before the output layer: the head's features [B, N or L, E], and the
        layer's weight (the tied embedding table [V, E]) and bias [V], for a loss that fuses that layer."""
        hidden = self.encoder(input_ids, attention_mask, token_type_ids, position_ids)
        if positions is not None:
            hidden = hidden.gather(1, positions[..., None].expand(-1, -1, hidden.shape[-1]))
        return self.head.features(hidden), self.encoder.embeddings.word_table(), self.head.bias


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
        position_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits [B, L]: > 0 means "this token was replaced"."""
        return self.head(self.encoder(input_ids, attention_mask, token_type_ids, position_ids))


def pair_encoders(config: ElectraConfig, main_class: type[_EncoderWithHead]) -> tuple[_EncoderWithHead, MaskedLM]:
    """The main model (``main_class`` on the discriminator's shape) and the generator, their embeddings
    shared as ``config.embedding_sharing`` says. For ``tied`` the main model is built first, as always, so a
    seed gives the same initial weights as before the option existed."""
    if config.embedding_sharing == "gdes":
        generator = MaskedLM(config.generator)
        main = main_class(config.discriminator, embeddings=GradientDisentangledEmbeddings(generator.encoder.embeddings))
        return main, generator
    main = main_class(config.discriminator)
    shared = main.encoder.embeddings if config.embedding_sharing == "tied" else None
    return main, MaskedLM(config.generator, embeddings=shared)


def standalone(model: _EncoderWithHead) -> _EncoderWithHead:
    """``model`` itself, or for gradient-disentangled embeddings a copy holding the merged tables, so that it
    stands alone (fine-tuning, export)."""
    embeddings = model.encoder.embeddings
    if not isinstance(embeddings, GradientDisentangledEmbeddings):
        return model
    copy = type(model)(model.config)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("encoder.embeddings.")}
    state.update({f"encoder.embeddings.{k}": v for k, v in embeddings.merged().state_dict().items()})
    copy.load_state_dict(state)
    return copy.to(embeddings.word_embeddings.weight.device).train(model.training)


class Electra(PretrainedModel):
    """Generator and discriminator; by default (``embedding_sharing: tied``) sharing word, position and
    token-type embeddings and their LayerNorm.

    The generator's output layer is tied to its word-embedding table and has its own bias.
    """

    config_class = ElectraConfig

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.config = config
        self.discriminator, self.generator = pair_encoders(config, Discriminator)

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

    def transfer_encoder(self) -> TransformerEncoder:
        return standalone(self.discriminator).encoder


class CopyMLMHead(nn.Module):
    """A :class:`MaskedLMHead` plus a copy gate: one logit per token for "the input token is the answer"."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.mlm = MaskedLMHead(config)
        self.gate = nn.Linear(config.hidden_size, 1)

    def forward(self, hidden: torch.Tensor, word_embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mlm(hidden, word_embeddings), self.gate(hidden).squeeze(-1)


class CopyMaskedLM(_EncoderWithHead):
    """Encoder + masked-LM head + copy gate, predicting every token (the paper's All-Tokens MLM model)."""

    config_class = EncoderConfig
    head_class = CopyMLMHead

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Vocabulary logits [B, L, V] and copy-gate logits [B, L] at every position."""
        return self.head(self.encoder(input_ids, attention_mask, token_type_ids), self.encoder.embeddings.word_table())


class ReplaceMLMPair(PretrainedModel):
    """The paper's Replace-MLM and All-Tokens-MLM ablations: a generator and a main masked LM (of the
    discriminator's shape) that reads the generator's replacements; the main model is what gets fine-tuned."""

    config_class = ReplaceMLMConfig

    def __init__(self, config: ReplaceMLMConfig):
        super().__init__()
        self.config = config
        self.main, self.generator = pair_encoders(config, CopyMaskedLM if config.copy_mechanism else MaskedLM)

    def parallel_blocks(self) -> list[nn.Module]:
        return self.main.parallel_blocks() + self.generator.parallel_blocks()

    def part(self, cls: type) -> nn.Module | None:
        for candidate in (self, self.generator):
            if isinstance(candidate, cls):
                return candidate
        return None

    def transfer_encoder(self) -> TransformerEncoder:
        return standalone(self.main).encoder
