"""Task heads on a Transformer encoder, and :class:`TaskModel`, the fine-tuning model that joins them.

As in the official ELECTRA code: sequence classification / regression is dropout + a linear layer on the
[CLS] vector (no extra dense + tanh/GELU layer, unlike Hugging Face's ``ElectraClassificationHead``);
token classification is dropout + linear per token; span extraction is a linear layer giving start and
end logits (BERT's), or with ``joint_span`` end logits conditioned on the start (the official
``joint_prediction``), plus an answerability classifier on the [CLS] vector and the start-probability
weighted context vector (dense 512 + GELU + dense 1, the official ``answerable_uses_start_logits``).
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from electra.models.config import TaskModelConfig
from electra.models.encoder import TransformerEncoder
from electra.models.pretrained import PretrainedModel
from electra.nn import init_bert_weights

NEG_INF = -1e4  # masked logits; finite so that bf16 and float16 stay finite


class SequenceHead(nn.Module):
    """Dropout + linear on the [CLS] vector: ``num_labels`` logits (1 for regression)."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden: torch.Tensor, span_mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return {"logits": self.out(self.dropout(hidden[:, 0]))}


class TokenHead(nn.Module):
    """Dropout + linear on every token: ``[B, L, num_labels]`` logits."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden: torch.Tensor, span_mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return {"logits": self.out(self.dropout(hidden))}


class SpanHead(nn.Module):
    """Start / end logits ``[B, L]`` (masked outside ``span_mask``: [CLS] and the context); with
    ``answerability`` also ``answerable_logit`` ``[B]`` (> 0: "this window holds no answer").

    ``joint``: the official ELECTRA QA head (``joint_prediction``): the end logits come from
    ``dense(1)(GELU(dense(512)([h_start; h_end])))``, conditioned on the start. Training gives it the gold
    ``start_positions``; at inference it keeps the ``beam`` most likely starts and, for each, the ``beam``
    most likely ends: ``start_top_log_probs`` / ``start_top_index`` ``[B, k]``, ``end_top_log_probs`` /
    ``end_top_index`` ``[B, k, k]`` (a span scores the sum of its two log-probabilities).
    """

    def __init__(self, hidden_size: int, answerability: bool, answerable_hidden: int = 512, joint: bool = False,
                 beam: int = 20, end_hidden: int = 512):  # fmt: skip
        super().__init__()
        self.joint, self.beam = joint, beam
        self.span = nn.Linear(hidden_size, 1 if joint else 2)
        if joint:
            self.end_dense = nn.Linear(2 * hidden_size, end_hidden)
            self.end_out = nn.Linear(end_hidden, 1)
        self.answerability = answerability
        if answerability:
            self.answerable_dense = nn.Linear(2 * hidden_size, answerable_hidden)
            self.answerable_out = nn.Linear(answerable_hidden, 1)

    def _end_given_start(self, hidden: torch.Tensor, start_index: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """End logits [B, L] for the start at ``start_index`` [B] of each row."""
        start_vec = hidden.gather(1, start_index[:, None, None].expand(-1, 1, hidden.shape[-1]))
        feats = torch.cat([start_vec.expand_as(hidden), hidden], dim=-1)
        end = self.end_out(F.gelu(self.end_dense(feats))).squeeze(-1).float()
        return end.masked_fill(~keep, NEG_INF)

    def _beam(self, hidden: torch.Tensor, start: torch.Tensor, keep: torch.Tensor) -> dict[str, torch.Tensor]:
        k = min(self.beam, start.shape[1])
        start_lp, start_i = start.log_softmax(-1).topk(k, dim=-1)
        ends = [self._end_given_start(hidden, start_i[:, j], keep).log_softmax(-1).topk(k, dim=-1) for j in range(k)]
        return {"start_top_log_probs": start_lp, "start_top_index": start_i,
                "end_top_log_probs": torch.stack([e.values for e in ends], 1),
                "end_top_index": torch.stack([e.indices for e in ends], 1)}  # fmt: skip

    def forward(self, hidden: torch.Tensor, span_mask: torch.Tensor | None = None,
                start_positions: torch.Tensor | None = None) -> dict[str, torch.Tensor]:  # fmt: skip
        logits = self.span(hidden).float()
        keep = span_mask.bool() if span_mask is not None else torch.ones_like(logits[..., 0], dtype=torch.bool)
        start = logits[..., 0].masked_fill(~keep, NEG_INF)
        out = {"start_logits": start}
        if not self.joint:
            out["end_logits"] = logits[..., 1].masked_fill(~keep, NEG_INF)
        elif start_positions is not None:  # training: the end given the gold start
            out["end_logits"] = self._end_given_start(hidden, start_positions, keep)
        else:
            out.update(self._beam(hidden, start, keep))
        if self.answerability:
            start_p = start.softmax(-1).to(hidden.dtype)
            start_vec = torch.einsum("bl,blh->bh", start_p, hidden)
            feats = torch.cat([hidden[:, 0], start_vec], dim=-1)
            out["answerable_logit"] = self.answerable_out(F.gelu(self.answerable_dense(feats))).squeeze(-1).float()
        return out


def build_head(config: TaskModelConfig) -> nn.Module:
    """The head module that ``config.head`` names."""
    hidden = config.encoder.hidden_size
    dropout = config.encoder.dropout if config.classifier_dropout is None else config.classifier_dropout
    if config.head == "span":
        return SpanHead(hidden, config.answerability, joint=config.joint_span, beam=config.span_beam)
    head_cls = SequenceHead if config.head == "sequence" else TokenHead
    return head_cls(hidden, config.num_labels, dropout)


class TaskModel(PretrainedModel):
    """An encoder (a pretrained discriminator's, or a fresh one) with one task head; ``forward`` returns the
    head's outputs. Parameter names: ``encoder.*`` and ``head.*`` (what layer-wise learning-rate decay keys
    on)."""

    config_class = TaskModelConfig

    def __init__(self, config: TaskModelConfig):
        super().__init__()
        self.config = config
        self.encoder = TransformerEncoder(config.encoder)
        self.head = build_head(config)
        self.head.apply(partial(init_bert_weights, std=config.encoder.initializer_range))

    def parallel_blocks(self) -> list[nn.Module]:
        return list(self.encoder.layers)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        span_mask: torch.Tensor | None = None,
        start_positions: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """The head's outputs for token ids [B, L]; ``span_mask`` limits a span head's positions (default:
        the attention mask); ``start_positions`` [B] (training a joint span head) are the gold starts."""
        hidden = self.encoder(input_ids, attention_mask, token_type_ids)
        mask = span_mask if span_mask is not None else attention_mask
        if start_positions is not None and isinstance(self.head, SpanHead):
            return self.head(hidden, mask, start_positions)
        return self.head(hidden, mask)
