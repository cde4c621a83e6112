"""ELECTRA's replaced-token detection: a masked-LM generator proposes tokens, a discriminator spots them."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from electra.models import Discriminator, MaskedLM
from electra.objectives.config import ObjectiveConfig
from electra.objectives.masked_lm import MaskingObjective, masked_lm_loss
from electra.tokens.sampling import gumbel_sample


class ReplacedTokenDetection(MaskingObjective):
    """ELECTRA: generator MLM loss + ``disc_weight`` × discriminator replaced-token loss."""

    def __init__(
        self,
        generator: MaskedLM,
        discriminator: Discriminator,
        never_mask: list[int],
        mask_id: int,
        config: ObjectiveConfig | None = None,
        vocab_size: int | None = None,
    ):
        super().__init__(never_mask, mask_id, vocab_size or discriminator.config.vocab_size,
                         config or ObjectiveConfig())  # fmt: skip
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
        gen_logits = self.real_logits(gen_logits)
        mlm_loss, gen_acc = masked_lm_loss(gen_logits, masked.targets, masked.weights)

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
            replaced = labels.float().sum() / n_real
        return {
            "loss": loss,
            "mlm_loss": mlm_loss.detach(),
            "disc_loss": disc_loss.detach(),
            "gen_acc": gen_acc,
            "disc_acc": disc_acc,
            "replaced_frac": replaced,
        }
