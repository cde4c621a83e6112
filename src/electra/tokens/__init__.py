"""Token-level operations with static shapes, for any vocabulary (word pieces or pixel tokens).

Torch only: nothing here knows about text, images or models.
"""

from electra.tokens.masking import MaskedBatch, candidate_mask, mask_tokens, num_mask_slots
from electra.tokens.sampling import gumbel_sample

__all__ = ["MaskedBatch", "candidate_mask", "gumbel_sample", "mask_tokens", "num_mask_slots"]
