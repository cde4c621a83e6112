"""Pretraining objectives (ELECTRA replaced-token detection, BERT masked LM) and masking."""

from electra.pretraining.masking import MaskedBatch, gumbel_sample, mask_tokens, num_mask_slots
from electra.pretraining.objective import MaskedLanguageModeling, ObjectiveConfig, ReplacedTokenDetection

__all__ = [
    "MaskedBatch",
    "MaskedLanguageModeling",
    "ObjectiveConfig",
    "ReplacedTokenDetection",
    "gumbel_sample",
    "mask_tokens",
    "num_mask_slots",
]
