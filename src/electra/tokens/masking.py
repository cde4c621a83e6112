"""Token-agnostic masking with a fixed number of slots per sequence (static shapes, no host sync)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from electra.tokens.sampling import drawing_from


def num_mask_slots(seq_length: int, mask_rate: float) -> int:
    """N of the official recipe: ``int((mask_rate + 0.005) * L)`` (19 for L=128 at 15%, 79 for 512)."""
    return max(1, int((mask_rate + 0.005) * seq_length))


def cosine_mask_rates(batch: int, device: torch.device | str = "cpu",
                      generator: torch.Generator | None = None) -> torch.Tensor:  # fmt: skip
    """MaskGIT's training schedule (Chang et al., 2022): per sequence the masked share ``cos(pi/2 * u)`` for
    ``u ~ U[0, 1)`` [B], so that every amount of context, down to none, is seen in training."""
    u = torch.rand(batch, device=device, **drawing_from(generator))
    return torch.cos(0.5 * math.pi * u)


def cosine_masked_count(step: torch.Tensor | int, steps: int, total: torch.Tensor) -> torch.Tensor:
    """Tokens still masked after refinement step ``step`` (1..``steps``) of ``total`` [B] editable ones, by the
    same schedule: ``floor(total * cos(pi/2 * step / steps))``, which reaches 0 at the last step."""
    share = math.cos(0.5 * math.pi * float(step) / steps)
    return torch.floor(total.float() * share + 1e-6).long().clamp(0)


@dataclass
class MaskedBatch:
    """Result of :func:`mask_tokens`.

    ``positions`` [B, N]: selected token positions (distinct within a row); ``weights`` [B, N]:
    1.0 for used slots, 0.0 for unused ones; ``targets`` [B, N]: original tokens at the slots;
    ``input_ids`` [B, L]: the corrupted sequence.
    """

    input_ids: torch.Tensor
    positions: torch.Tensor
    weights: torch.Tensor
    targets: torch.Tensor


def candidate_mask(input_ids: torch.Tensor, attention_mask: torch.Tensor, special_ids: torch.Tensor) -> torch.Tensor:
    """True where a token may be masked: a real (non-padding) token that is not a special token."""
    return attention_mask.bool() & ~torch.isin(input_ids, special_ids)


def mask_tokens(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    special_ids: torch.Tensor,
    mask_id: int,
    mask_rate: float | torch.Tensor = 0.15,
    mask_token_prob: float = 0.85,
    random_token_prob: float = 0.0,
    vocab_size: int | None = None,
    num_slots: int | None = None,
    generator: torch.Generator | None = None,
) -> MaskedBatch:
    """Select positions to predict and corrupt them, as in the official ELECTRA code.

    Per sequence ``max(1, min(N, round(real_tokens * mask_rate)))`` positions are drawn without
    replacement among candidates (never special tokens or padding). Of those, ``mask_token_prob``
    become ``mask_id``, ``random_token_prob`` a uniformly random non-special token (BERT's 10%),
    and the rest keep their token. ELECTRA: 0.85 / 0.0; BERT: 0.8 / 0.1.

    ``mask_rate`` may be one rate per sequence [B] (a schedule, :func:`cosine_mask_rates`); then
    ``num_slots`` must be given (the batch's maximum: the sequence length for a schedule reaching 1).
    """
    batch, length = input_ids.shape
    if num_slots is None and isinstance(mask_rate, torch.Tensor):
        raise ValueError("per-sequence mask rates need num_slots")
    n = num_slots if num_slots is not None else num_mask_slots(length, mask_rate)
    n = min(n, length)
    device = input_ids.device
    candidates = candidate_mask(input_ids, attention_mask, special_ids)
    # Random scores; non-candidates sink below every candidate so top-k picks candidates first.
    scores = torch.rand(batch, length, device=device, **drawing_from(generator))
    scores = scores.masked_fill(~candidates, -1.0)
    positions = scores.topk(n, dim=1).indices
    real = attention_mask.sum(1).float()
    wanted = torch.round(real * mask_rate).clamp(1, n)
    wanted = torch.minimum(wanted, candidates.sum(1).float())
    slot = torch.arange(n, device=device)
    weights = (slot[None, :] < wanted[:, None]).float()
    targets = input_ids.gather(1, positions)

    u = torch.rand(batch, n, device=device, **drawing_from(generator))
    new_tokens = torch.where(u < mask_token_prob, torch.full_like(targets, mask_id), targets)
    if random_token_prob > 0:
        if vocab_size is None:
            raise ValueError("random_token_prob > 0 needs vocab_size")
        rand_tok = torch.randint(0, vocab_size, targets.shape, device=device, **drawing_from(generator))
        rand_tok = torch.where(torch.isin(rand_tok, special_ids), targets, rand_tok)
        use_rand = (u >= mask_token_prob) & (u < mask_token_prob + random_token_prob)
        new_tokens = torch.where(use_rand, rand_tok, new_tokens)
    new_tokens = torch.where(weights > 0, new_tokens, targets)
    corrupted = input_ids.scatter(1, positions, new_tokens)
    return MaskedBatch(corrupted, positions, weights, targets)
