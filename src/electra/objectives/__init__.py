"""Pretraining objectives: ELECTRA's replaced-token detection, BERT's masked LM and the paper's ablations, as
wrappers around models."""

from electra.objectives.config import ObjectiveConfig
from electra.objectives.masked_lm import MaskedLanguageModeling, MaskingObjective, Proposal, masked_lm_loss, propose
from electra.objectives.replace_mlm import ReplaceMLM, copy_mlm_nll
from electra.objectives.rtd import ReplacedTokenDetection, adversarial_generator_loss

__all__ = [
    "MaskedLanguageModeling",
    "MaskingObjective",
    "ObjectiveConfig",
    "Proposal",
    "ReplaceMLM",
    "ReplacedTokenDetection",
    "adversarial_generator_loss",
    "copy_mlm_nll",
    "masked_lm_loss",
    "propose",
]
