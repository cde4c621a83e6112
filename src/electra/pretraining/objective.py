"""Pretraining objectives as wrappers around token-agnostic models.

:class:`ReplacedTokenDetection` is ELECTRA; :class:`MaskedLanguageModeling` is the BERT baseline on
the same encoder and data. Both take token ids only (word pieces or image pixels alike) and return
the loss plus detached metrics as tensors: no host synchronisation inside a step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from electra.models import Discriminator, MaskedLM
from electra.pretraining.masking import gumbel_sample, mask_tokens


@dataclass
class ObjectiveConfig:
    """Settings of the pretraining objective (defaults: the official ELECTRA recipe)."""

    kind: str = "electra"  # "electra" or "mlm"
    mask_rate: float = 0.15
    mask_token_prob: float = 0.85
    random_token_prob: float = 0.0
    disc_weight: float = 50.0
    gen_weight: float = 1.0
    temperature: float = 1.0


def _masked_lm_loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor):
    """Weighted cross-entropy over the N slots, in float32, and the weighted accuracy."""
    logits = logits.float()
    nll = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none").view_as(weights)
    denom = weights.sum().clamp_min(1e-5)
    loss = (nll * weights).sum() / denom
    acc = ((logits.argmax(-1) == targets).float() * weights).sum() / denom
    return loss, acc.detach()


class _MaskingMixin(nn.Module):
    def __init__(self, special_ids: list[int], mask_id: int, vocab_size: int, config: ObjectiveConfig):
        super().__init__()
        self.config = config
        self.mask_id = mask_id
        self.vocab_size = vocab_size
        self.register_buffer("special_ids", torch.tensor(sorted(set(special_ids)), dtype=torch.long), persistent=False)

    def mask(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        c = self.config
        return mask_tokens(
            input_ids,
            attention_mask,
            self.special_ids,
            self.mask_id,
            c.mask_rate,
            c.mask_token_prob,
            c.random_token_prob,
            self.vocab_size,
        )


class ReplacedTokenDetection(_MaskingMixin):
    """ELECTRA: generator MLM loss + ``disc_weight`` × discriminator replaced-token loss."""

    def __init__(
        self,
        generator: MaskedLM,
        discriminator: Discriminator,
        special_ids: list[int],
        mask_id: int,
        config: ObjectiveConfig | None = None,
    ):
        super().__init__(special_ids, mask_id, discriminator.config.vocab_size, config or ObjectiveConfig())
        self.generator = generator
        self.discriminator = discriminator

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Loss and metrics for one batch of original token ids [B, L]."""
        c = self.config
        masked = self.mask(input_ids, attention_mask)
        gen_logits = self.generator(masked.input_ids, attention_mask, token_type_ids, positions=masked.positions)
        mlm_loss, gen_acc = _masked_lm_loss(gen_logits, masked.targets, masked.weights)

        sampled = gumbel_sample(gen_logits, c.temperature)
        sampled = torch.where(masked.weights > 0, sampled, masked.targets)
        disc_input = input_ids.scatter(1, masked.positions, sampled)
        real = attention_mask.bool()
        labels = (disc_input != input_ids) & real

        disc_logits = self.discriminator(disc_input, attention_mask, token_type_ids).float()
        per_token = F.binary_cross_entropy_with_logits(disc_logits, labels.float(), reduction="none")
        real_f = real.float()
        n_real = real_f.sum().clamp_min(1.0)
        disc_loss = (per_token * real_f).sum() / n_real
        loss = c.gen_weight * mlm_loss + c.disc_weight * disc_loss

        with torch.no_grad():
            pred = disc_logits > 0
            disc_acc = ((pred == labels).float() * real_f).sum() / n_real
            replaced = (labels.float().sum() / n_real)
        return {
            "loss": loss,
            "mlm_loss": mlm_loss.detach(),
            "disc_loss": disc_loss.detach(),
            "gen_acc": gen_acc,
            "disc_acc": disc_acc,
            "replaced_frac": replaced,
        }


class MaskedLanguageModeling(_MaskingMixin):
    """BERT's objective on the same encoder: predict the selected tokens (80% [MASK] / 10% random)."""

    def __init__(self, model: MaskedLM, special_ids: list[int], mask_id: int, config: ObjectiveConfig | None = None):
        super().__init__(special_ids, mask_id, model.config.vocab_size, config or ObjectiveConfig(kind="mlm"))
        self.model = model

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        masked = self.mask(input_ids, attention_mask)
        logits = self.model(masked.input_ids, attention_mask, token_type_ids, positions=masked.positions)
        mlm_loss, acc = _masked_lm_loss(logits, masked.targets, masked.weights)
        return {"loss": mlm_loss, "mlm_loss": mlm_loss.detach(), "gen_acc": acc}
