"""Settings of the pretraining objectives (a plain dataclass: the configuration files name these keys)."""

from __future__ import annotations

from dataclasses import dataclass

# electra: replaced-token detection; mlm: BERT; replace-mlm / all-tokens-mlm: the paper's ablations (a masked
# LM reading the generator's replacements, predicting the masked tokens / every token with a copy gate).
KINDS = ("electra", "mlm", "replace-mlm", "all-tokens-mlm")
DISC_POSITIONS = ("all", "masked")
GENERATOR_TRAINING = ("mle", "adversarial")
MASK_SCHEDULES = ("fixed", "cosine")
DISC_LABELS = ("replaced", "generated")


@dataclass
class ObjectiveConfig:
    """Settings of the pretraining objective (defaults: the official ELECTRA recipe).

    ``disc_positions: masked`` is the paper's *ELECTRA 15%* (the discriminator's loss only at the masked
    positions); ``generator_training: adversarial`` trains the generator to fool the discriminator
    (REINFORCE, the paper's appendix F) instead of by maximum likelihood. ``mask_schedule: cosine`` draws each
    sequence's masked share from MaskGIT's cosine schedule (from a few tokens to all) instead of ``mask_rate``:
    a pair trained so fills in from any amount of context, which generation needs. ``disc_labels: generated``
    tells the discriminator which tokens the generator drew, whether or not they equal the original (Token-Critic's
    target, Lezama et al., 2022), instead of ELECTRA's "replaced" (drawn and different). ``fused_output``
    computes the generator's output layer, loss and samples at the masked slots in row chunks
    (:func:`~electra.objectives.fused_output.linear_cross_entropy`): no [slots, V] logits kept for backward;
    the adversarial generator, which needs them, keeps the plain path (:attr:`fuses_output`).
    """

    kind: str = "electra"
    mask_rate: float = 0.15
    mask_token_prob: float = 0.85
    random_token_prob: float = 0.0
    disc_weight: float = 50.0
    gen_weight: float = 1.0
    temperature: float = 1.0
    disc_positions: str = "all"
    generator_training: str = "mle"
    mask_schedule: str = "fixed"
    disc_labels: str = "replaced"
    fused_output: bool = False

    @property
    def fuses_output(self) -> bool:
        """Whether the generator's output layer is fused: ``fused_output``, unless the adversarial generator's
        REINFORCE loss needs the slots' logits."""
        return self.fused_output and self.generator_training == "mle"
