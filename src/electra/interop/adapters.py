"""Pure state-dict adapters between our networks and Hugging Face ``transformers``' ELECTRA and BERT.

An adapter maps tensors by name, and nothing else: no files, no configs, no tokenizers. It knows, per family,
which of their tensors make each of ours: ``qkv`` (our fused self-attention projection) is their
``query``, ``key`` and ``value`` stacked along the output dimension; everything else is one to one.

``to_hf(state)`` turns one of our network's state dicts (a :class:`~electra.models.Discriminator`,
:class:`~electra.models.MaskedLM` or a bare encoder's ``encoder.*`` entries) into theirs, prefix included
(``electra.`` / ``bert.``); ``from_hf(tensors)`` does the reverse from their tensors with the prefix
removed. Both sides are post-LN Transformer layers with exact GELU, learned absolute positions, an ELECTRA
generator head ``dense -> GELU -> LayerNorm`` tied to the word embeddings with its own bias (BERT's
``cls.predictions.transform`` is the same head with ``embedding_size == hidden_size``) and a discriminator
head ``dense -> GELU -> dense(1)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from electra.nn.attention import LEGACY_PROJECTIONS

HEADS = ("discriminator", "generator")


@dataclass(frozen=True)
class Mapping:
    """Our tensor ``ours`` is their tensors ``theirs`` concatenated along dim 0 (usually just one)."""

    ours: str
    theirs: tuple[str, ...]


# Per-layer sub-modules: ours (under ``encoder.layers.N.``) -> theirs (under ``encoder.layer.N.``).
_LAYER = [
    ("attention.qkv", tuple(f"attention.self.{p}" for p in LEGACY_PROJECTIONS)),
    ("attention.output", ("attention.output.dense",)),
    ("attention_norm", ("attention.output.LayerNorm",)),
    ("feed_forward.dense_in", ("intermediate.dense",)),
    ("feed_forward.dense_out", ("output.dense",)),
    ("ffn_norm", ("output.LayerNorm",)),
]
_EMBEDDINGS = [
    ("embeddings.word_embeddings.weight", "embeddings.word_embeddings.weight"),
    ("embeddings.position_embeddings.weight", "embeddings.position_embeddings.weight"),
    ("embeddings.token_type_embeddings.weight", "embeddings.token_type_embeddings.weight"),
    ("embeddings.layer_norm.weight", "embeddings.LayerNorm.weight"),
    ("embeddings.layer_norm.bias", "embeddings.LayerNorm.bias"),
]
WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"


def _weight_and_bias(ours: str, theirs: tuple[str, ...]) -> list[Mapping]:
    return [Mapping(f"{ours}.{p}", tuple(f"{t}.{p}" for t in theirs)) for p in ("weight", "bias")]


class StateDictAdapter:
    """The name mapping of one family (:class:`ElectraAdapter`, :class:`BertAdapter`) for a network of
    ``num_layers`` layers, with an embedding projection or not, and a pretraining ``head`` or none."""

    prefix: str = ""
    head_mappings: dict[str, list[Mapping]] = {}
    mlm_bias: str = ""  # their generator output bias
    mlm_weight: str = ""  # their (tied) generator output weight, left out on export as transformers does

    def __init__(self, num_layers: int, projection: bool, head: str | None) -> None:
        if head is not None and head not in self.head_mappings:
            raise ValueError(f"{type(self).__name__} has no {head} head")
        self.num_layers, self.projection, self.head = num_layers, projection, head

    def body(self) -> list[Mapping]:
        """The encoder's tensors (ours under ``encoder.``, theirs without the family prefix)."""
        out = [Mapping(f"encoder.{a}", (b,)) for a, b in _EMBEDDINGS]
        if self.projection:
            out += _weight_and_bias("encoder.projection", ("embeddings_project",))
        for i in range(self.num_layers):
            for ours, theirs in _LAYER:
                out += _weight_and_bias(f"encoder.layers.{i}.{ours}", tuple(f"encoder.layer.{i}.{t}" for t in theirs))
        return out

    def mappings(self) -> list[Mapping]:
        """Every tensor of our network and the tensors of theirs that make it."""
        head = self.head_mappings.get(self.head, []) if self.head else []
        return self.body() + head

    def to_hf(self, state: dict[str, torch.Tensor], vocab_rows: int | None = None) -> dict[str, torch.Tensor]:
        """Their state dict (prefixed body, head names) for our ``state``; ``vocab_rows`` keeps only the first
        rows of the word embeddings and of the generator's output bias. Fresh contiguous float32 copies."""
        out: dict[str, torch.Tensor] = {}
        for m in self.mappings():
            parts = state[m.ours].chunk(len(m.theirs)) if len(m.theirs) > 1 else (state[m.ours],)
            for name, part in zip(m.theirs, parts, strict=True):
                out[self._full(name)] = part
        if vocab_rows is not None:
            for name in (self._full(WORD_EMBEDDINGS), self.mlm_bias):
                if name in out:
                    out[name] = out[name][:vocab_rows]
        return {k: v.detach().to("cpu", torch.float32).clone().contiguous() for k, v in out.items()}

    def from_hf(
        self, tensors: dict[str, torch.Tensor], mappings: list[Mapping] | None = None
    ) -> dict[str, torch.Tensor]:
        """Our state dict from their ``tensors`` (names without the family prefix), for all of
        :meth:`mappings` or the given subset; every tensor needed must be there (check first for friendly
        errors)."""
        return {m.ours: torch.cat([tensors[t] for t in m.theirs]) if len(m.theirs) > 1 else tensors[m.theirs[0]]
                for m in (self.mappings() if mappings is None else mappings)}  # fmt: skip

    def _full(self, name: str) -> str:
        """Their name as stored: body tensors carry the family prefix, heads do not."""
        return name if name in self._head_names else f"{self.prefix}{name}"

    @property
    def _head_names(self) -> set[str]:
        return {t for ms in self.head_mappings.values() for m in ms for t in m.theirs}


class ElectraAdapter(StateDictAdapter):
    """``ElectraForPreTraining`` (discriminator), ``ElectraForMaskedLM`` (generator), ``ElectraModel``."""

    prefix = "electra."
    head_mappings = {
        "discriminator": _weight_and_bias("head.dense", ("discriminator_predictions.dense",))
        + _weight_and_bias("head.out", ("discriminator_predictions.dense_prediction",)),
        "generator": _weight_and_bias("head.dense", ("generator_predictions.dense",))
        + _weight_and_bias("head.layer_norm", ("generator_predictions.LayerNorm",))
        + [Mapping("head.bias", ("generator_lm_head.bias",))],
    }
    mlm_bias, mlm_weight = "generator_lm_head.bias", "generator_lm_head.weight"


class BertAdapter(StateDictAdapter):
    """``BertForMaskedLM`` / ``BertForPreTraining`` (generator-style masked LM) and ``BertModel``."""

    prefix = "bert."
    head_mappings = {
        "generator": _weight_and_bias("head.dense", ("cls.predictions.transform.dense",))
        + _weight_and_bias("head.layer_norm", ("cls.predictions.transform.LayerNorm",))
        + [Mapping("head.bias", ("cls.predictions.bias",))],
    }
    mlm_bias, mlm_weight = "cls.predictions.bias", "cls.predictions.decoder.weight"
    decoder_bias = "cls.predictions.decoder.bias"  # older checkpoints store the output bias here


ADAPTERS: dict[str, type[StateDictAdapter]] = {"electra": ElectraAdapter, "bert": BertAdapter}
