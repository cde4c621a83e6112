"""Task heads on a Transformer encoder, and the fine-tuning model that joins them.

As in the official ELECTRA code: sequence classification / regression is dropout + a linear layer on the
[CLS] vector (no extra dense + tanh/GELU layer, unlike Hugging Face's ``ElectraClassificationHead``);
token classification is dropout + linear per token; span extraction is a linear layer giving start and
end logits, plus for SQuAD 2.0 an answerability classifier on the [CLS] vector and the start-probability
weighted context vector (dense 512 + GELU + dense 1, the official ``answerable_uses_start_logits``).
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from electra.finetune.features import IGNORE_INDEX
from electra.finetune.tasks import CLASSIFICATION, QA, REGRESSION, TOKEN_CLASSIFICATION
from electra.models import EncoderConfig, TransformerEncoder
from electra.nn import init_bert_weights

NEG_INF = -1e4  # masked logits; finite so that bf16 and float16 stay finite


class SequenceHead(nn.Module):
    """Dropout + linear on the [CLS] vector: ``num_labels`` logits (1 for regression)."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"logits": self.out(self.dropout(hidden[:, 0]))}


class TokenHead(nn.Module):
    """Dropout + linear on every token: ``[B, L, num_labels]`` logits."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"logits": self.out(self.dropout(hidden))}


class SpanHead(nn.Module):
    """Start / end logits ``[B, L]`` (masked outside [CLS] and the context); for SQuAD 2.0 also
    ``answerable_logit`` ``[B]`` (> 0: "this window holds no answer")."""

    def __init__(self, hidden_size: int, version2: bool, answerable_hidden: int = 512):
        super().__init__()
        self.span = nn.Linear(hidden_size, 2)
        self.version2 = version2
        if version2:
            self.answerable_dense = nn.Linear(2 * hidden_size, answerable_hidden)
            self.answerable_out = nn.Linear(answerable_hidden, 1)

    def forward(self, hidden: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logits = self.span(hidden).float()
        start, end = logits[..., 0], logits[..., 1]
        mask = batch.get("span_mask")
        if mask is None:
            mask = batch["attention_mask"]
        keep = mask.bool()
        start = start.masked_fill(~keep, NEG_INF)
        end = end.masked_fill(~keep, NEG_INF)
        out = {"start_logits": start, "end_logits": end}
        if self.version2:
            start_p = start.softmax(-1).to(hidden.dtype)
            start_vec = torch.einsum("bl,blh->bh", start_p, hidden)
            feats = torch.cat([hidden[:, 0], start_vec], dim=-1)
            out["answerable_logit"] = (
                self.answerable_out(F.gelu(self.answerable_dense(feats))).squeeze(-1).float()
            )
        return out


class FinetuneModel(nn.Module):
    """An encoder (a pretrained discriminator's, or a fresh one) with one task head.

    ``forward`` returns the head's outputs; :meth:`loss` turns them and the batch targets into a loss.
    Parameter names: ``encoder.*`` and ``head.*`` (what the layer-wise learning-rate decay keys on).
    """

    def __init__(
        self,
        config: EncoderConfig,
        task: str,
        num_labels: int = 1,
        version2: bool = False,
        classifier_dropout: float | None = None,
    ):
        super().__init__()
        self.config = config
        self.task = task
        self.num_labels = num_labels
        self.version2 = version2
        self.encoder = TransformerEncoder(config)
        dropout = config.dropout if classifier_dropout is None else classifier_dropout
        if task == CLASSIFICATION:
            self.head: nn.Module = SequenceHead(config.hidden_size, num_labels, dropout)
        elif task == REGRESSION:
            self.head = SequenceHead(config.hidden_size, 1, dropout)
        elif task == TOKEN_CLASSIFICATION:
            self.head = TokenHead(config.hidden_size, num_labels, dropout)
        elif task == QA:
            self.head = SpanHead(config.hidden_size, version2)
        else:  # pragma: no cover - tasks are validated by TaskSpec
            raise ValueError(task)
        self.head.apply(partial(init_bert_weights, std=config.initializer_range))

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        hidden = self.encoder(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
        return self.head(hidden, batch)

    def loss(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The task loss (float32): cross-entropy, squared error, or span cross-entropy (+ answerability)."""
        if self.task == CLASSIFICATION:
            return F.cross_entropy(out["logits"].float(), batch["labels"])
        if self.task == REGRESSION:
            return F.mse_loss(out["logits"].float().squeeze(-1), batch["labels"].float())
        if self.task == TOKEN_CLASSIFICATION:
            logits = out["logits"].float()
            return F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), batch["labels"].reshape(-1), ignore_index=IGNORE_INDEX
            )
        loss = (
            F.cross_entropy(out["start_logits"], batch["start_positions"])
            + F.cross_entropy(out["end_logits"], batch["end_positions"])
        ) / 2
        if self.version2:
            loss = loss + 0.5 * F.binary_cross_entropy_with_logits(
                out["answerable_logit"], batch["is_impossible"]
            )
        return loss
