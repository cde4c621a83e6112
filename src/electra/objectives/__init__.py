"""Pretraining objectives: ELECTRA's replaced-token detection and BERT's masked LM, as wrappers around models."""

from electra.objectives.config import ObjectiveConfig
from electra.objectives.masked_lm import MaskedLanguageModeling, MaskingObjective, masked_lm_loss
from electra.objectives.rtd import ReplacedTokenDetection

__all__ = ["MaskedLanguageModeling", "MaskingObjective", "ObjectiveConfig", "ReplacedTokenDetection", "masked_lm_loss"]
