"""ELECTRA's replaced-token detection: a masked-LM generator proposes tokens, a discriminator spots them."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from electra.models import Discriminator, MaskedLM
from electra.objectives.config import ObjectiveConfig
from electra.objectives.masked_lm import MaskingObjective, Proposal, propose


def adversarial_generator_loss(proposal: Proposal, disc_token_loss: torch.Tensor, temperature: float) -> torch.Tensor:
    """REINFORCE for a generator that maximises the discriminator's loss (the paper's appendix F).

    The reward of a sampled token is the discriminator's loss at its position (detached); the baseline is
    the batch's mean reward over the used slots (the paper learns one from the generator's states; a mean
    needs no parameters, so models and checkpoints stay as they are). The surrogate
    ``-sum_w (R - b) log p_G(sample) / sum_w`` has the gradient ``-E[(R - b) grad log p_G]``, so descending it
    ascends the expected discriminator loss. ``p_G`` is the distribution the samples were drawn from
    (logits over ``temperature``).
    """
    w = proposal.masked.weights
    reward = disc_token_loss.detach().gather(1, proposal.masked.positions)
    denom = w.sum().clamp_min(1e-5)
    baseline = (reward * w).sum() / denom
    assert proposal.logits is not None, "the adversarial generator keeps the plain output layer (fuses_output)"
    log_p = F.log_softmax(proposal.logits.float() / temperature, dim=-1)
    log_p_sample = log_p.gather(-1, proposal.sampled[..., None]).squeeze(-1)
    return -((reward - baseline) * log_p_sample * w).sum() / denom


class ReplacedTokenDetection(MaskingObjective):
    """ELECTRA: generator loss + ``disc_weight`` × discriminator replaced-token loss.

    The paper's ablations are options of :class:`ObjectiveConfig`: ``disc_positions`` (``masked``: ELECTRA
    15%) and ``generator_training`` (``adversarial``: REINFORCE instead of maximum likelihood)."""

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
        proposal = propose(self, self.generator, input_ids, attention_mask, token_type_ids)
        real = attention_mask.bool()
        if c.disc_labels == "generated":
            labels = (proposal.slot_mask(input_ids) > 0) & real
        else:
            labels = (proposal.corrupted != input_ids) & real

        disc_logits = self.discriminator(proposal.corrupted, attention_mask, token_type_ids).float()
        per_token = F.binary_cross_entropy_with_logits(disc_logits, labels.float(), reduction="none")
        real_f = real.float()
        n_real = real_f.sum().clamp_min(1.0)
        scope = real_f if c.disc_positions == "all" else proposal.slot_mask(input_ids) * real_f
        disc_loss = (per_token * scope).sum() / scope.sum().clamp_min(1.0)
        if c.generator_training == "adversarial":
            gen_loss = adversarial_generator_loss(proposal, per_token, c.temperature)
        else:
            gen_loss = proposal.mlm_loss
        loss = c.gen_weight * gen_loss + c.disc_weight * disc_loss

        with torch.no_grad():
            pred = disc_logits > 0
            disc_acc = ((pred == labels).float() * real_f).sum() / n_real
            replaced = labels.float().sum() / n_real
        return {
            "loss": loss,
            "mlm_loss": proposal.mlm_loss.detach(),
            "disc_loss": disc_loss.detach(),
            "gen_acc": proposal.gen_acc,
            "disc_acc": disc_acc,
            "replaced_frac": replaced,
        }
