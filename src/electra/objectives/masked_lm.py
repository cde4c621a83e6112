"""Masked-language-model pieces shared by the pretraining objectives, and BERT's objective itself.

Objectives wrap token-agnostic models and take token ids only (word pieces or image pixels alike); they
return the loss plus detached metrics as tensors, so a step never synchronises with the host.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from electra.models import MaskedLM
from electra.objectives.config import ObjectiveConfig
from electra.objectives.fused_output import linear_cross_entropy
from electra.tokens.masking import MaskedBatch, cosine_mask_rates, mask_tokens
from electra.tokens.sampling import gumbel_sample


def masked_lm_loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor):
    """Weighted cross-entropy over the N slots, in float32, and the weighted accuracy."""
    logits = logits.float()
    nll = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none").view_as(weights)
    denom = weights.sum().clamp_min(1e-5)
    loss = (nll * weights).sum() / denom
    acc = ((logits.argmax(-1) == targets).float() * weights).sum() / denom
    return loss, acc.detach()


class MaskingObjective(nn.Module):
    """Base of the objectives that corrupt a batch with :func:`~electra.tokens.masking.mask_tokens`.

    ``never_mask`` are the ids never selected (special tokens, padding); ``mask_id`` replaces selected
    tokens; ``vocab_size`` is the tokenizer's size: BERT's random replacements are drawn below it, and
    the ids of an embedding table padded beyond it (to a multiple of 64) are never predicted or sampled.
    """

    def __init__(self, never_mask: list[int], mask_id: int, vocab_size: int, config: ObjectiveConfig):
        super().__init__()
        self.config = config
        self.mask_id = mask_id
        self.vocab_size = vocab_size
        ids = torch.tensor(sorted(set(never_mask)), dtype=torch.long)
        self.register_buffer("special_ids", ids, persistent=False)

    def real_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """``logits`` with the columns of padding ids (at or above ``vocab_size``, which no tokenizer
        produces) at -inf, so that the loss, the argmax and the sampler never choose them. Masked rather
        than cut off, the shape stays the table's and a sampler draws the same random numbers."""
        if logits.shape[-1] <= self.vocab_size:
            return logits
        padding = torch.arange(logits.shape[-1], device=logits.device) >= self.vocab_size
        return logits.masked_fill(padding, float("-inf"))

    def mask(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> MaskedBatch:
        """Select and corrupt positions: ``mask_rate`` of each sequence, or with ``mask_schedule: cosine`` a share
        drawn per sequence (the slots then span the whole sequence, their weights marking the used ones)."""
        c = self.config
        rate, slots = c.mask_rate, None
        if c.mask_schedule == "cosine":
            rate, slots = cosine_mask_rates(input_ids.shape[0], input_ids.device), input_ids.shape[1]
        return mask_tokens(input_ids, attention_mask, self.special_ids, self.mask_id, rate, c.mask_token_prob,
                           c.random_token_prob, self.vocab_size, num_slots=slots)  # fmt: skip


@dataclass
class Proposal:
    """What the generator proposed for one batch: the masked batch, its logits at the slots [B, N, V] (padding
    columns at -inf; None with ``fused_output``), its MLM loss and accuracy, the sampled tokens [B, N] (the
    targets at unused slots) and the corrupted sequence [B, L] the next model reads."""

    masked: MaskedBatch
    logits: torch.Tensor | None
    mlm_loss: torch.Tensor
    gen_acc: torch.Tensor
    sampled: torch.Tensor
    corrupted: torch.Tensor

    def slot_mask(self, like: torch.Tensor) -> torch.Tensor:
        """[B, L] float: 1.0 at the used masked positions, 0.0 elsewhere."""
        return torch.zeros_like(like, dtype=torch.float).scatter(1, self.masked.positions, self.masked.weights)


def propose(objective: MaskingObjective, generator: MaskedLM, input_ids: torch.Tensor, attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor | None) -> Proposal:  # fmt: skip
    """Mask ``input_ids``, let ``generator`` predict the slots (MLM loss) and sample replacements for them at
    ``objective.config.temperature``; the pretraining objectives built on a generator all start here."""
    masked = objective.mask(input_ids, attention_mask)
    logits, mlm_loss, gen_acc, sampled = predict_slots(objective, generator, masked, attention_mask, token_type_ids,
                                                       sample=True)  # fmt: skip
    assert sampled is not None
    sampled = torch.where(masked.weights > 0, sampled, masked.targets)
    corrupted = input_ids.scatter(1, masked.positions, sampled)
    return Proposal(masked, logits, mlm_loss, gen_acc, sampled, corrupted)


def predict_slots(objective: MaskingObjective, model: MaskedLM, masked: MaskedBatch, attention_mask: torch.Tensor,
                  token_type_ids: torch.Tensor | None, sample: bool):  # fmt: skip
    """``model``'s logits at the masked slots (None when the output layer is fused), its MLM loss and accuracy
    there, and with ``sample`` a Gumbel-max draw per slot at the objective's temperature (else None)."""
    temperature = objective.config.temperature
    if objective.config.fuses_output:
        features, weight, bias = model.output_features(masked.input_ids, attention_mask, token_type_ids,
                                                       positions=masked.positions)  # fmt: skip
        loss, acc, sampled = linear_cross_entropy(features.flatten(0, 1), weight, bias, masked.targets.flatten(),
                                                  masked.weights.flatten(), objective.vocab_size,
                                                  temperature if sample else None)  # fmt: skip
        return None, loss, acc, sampled.view_as(masked.targets) if sampled is not None else None
    logits = model(masked.input_ids, attention_mask, token_type_ids, positions=masked.positions)
    logits = objective.real_logits(logits)
    loss, acc = masked_lm_loss(logits, masked.targets, masked.weights)
    return logits, loss, acc, gumbel_sample(logits, temperature) if sample else None


class MaskedLanguageModeling(MaskingObjective):
    """BERT's objective on the same encoder: predict the selected tokens (80% [MASK] / 10% random)."""

    def __init__(self, model: MaskedLM, never_mask: list[int], mask_id: int, config: ObjectiveConfig | None = None,
                 vocab_size: int | None = None):  # fmt: skip
        super().__init__(never_mask, mask_id, vocab_size or model.config.vocab_size,
                         config or ObjectiveConfig(kind="mlm"))  # fmt: skip
        self.model = model

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Loss and metrics for one batch of original token ids [B, L]."""
        masked = self.mask(input_ids, attention_mask)
        _, mlm_loss, acc, _ = predict_slots(self, self.model, masked, attention_mask, token_type_ids, sample=False)
        return {"loss": mlm_loss, "mlm_loss": mlm_loss.detach(), "gen_acc": acc}
