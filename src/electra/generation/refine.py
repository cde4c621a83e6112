"""Iterative refinement with a generator / discriminator pair, for any tokens (pixels or word pieces).

Start with the editable positions masked. At each of T steps the generator samples every masked position in
parallel; then a selection rule scores the tokens and the lowest-scored ones are masked again, as many as
MaskGIT's cosine schedule says (``floor(n * cos(pi/2 * t/T))`` after step t: none after the last). Rules:

- ``critic`` (Token-Critic, Lezama et al., 2022): the discriminator, trained as ELECTRA's, scores every token
  (how likely it is original); any editable token may be masked again, so early choices can be revised.
- ``confidence`` (MaskGIT, Chang et al., 2022): the generator's probability of each newly sampled token; tokens
  kept at an earlier step stay fixed.
- ``random``: newly sampled tokens masked again at random (the baseline of both papers); earlier ones fixed.

Scores get Gumbel noise scaled by ``noise * (1 - t/T)`` (MaskGIT's annealed "choice temperature"). Shapes are
static (no host synchronisation inside the loop), so the loop runs batched on a GPU as on the CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from electra.tokens.masking import cosine_masked_count
from electra.tokens.sampling import gumbel_noise, gumbel_sample

RULES = ("critic", "confidence", "random")


@dataclass
class RefineStep:
    """One step: the tokens after sampling [B, L], and which of them were masked again (rejected) [B, L]."""

    tokens: torch.Tensor
    rejected: torch.Tensor


@dataclass
class Refinement:
    """The final tokens [B, L] and, when recorded, every step."""

    tokens: torch.Tensor
    steps: list[RefineStep] = field(default_factory=list)


def _scores(rule: str, tokens: torch.Tensor, logits: torch.Tensor, temperature: float,
            critic: Callable[[torch.Tensor], torch.Tensor] | None,
            rng: torch.Generator | None) -> torch.Tensor:  # fmt: skip
    """How much each token deserves to stay [B, L] (higher: keep)."""
    if rule == "critic":
        return -critic(tokens).float()  # the critic's logit says "replaced"
    if rule == "confidence":
        log_p = torch.log_softmax(logits / temperature, dim=-1)
        return log_p.gather(-1, tokens[..., None]).squeeze(-1)
    return torch.rand(tokens.shape, device=tokens.device, generator=rng)


@torch.no_grad()
def refine(
    generator: Callable[[torch.Tensor], torch.Tensor],
    critic: Callable[[torch.Tensor], torch.Tensor] | None,
    ids: torch.Tensor,
    editable: torch.Tensor,
    allowed: torch.Tensor,
    mask_id: int,
    steps: int = 12,
    rule: str = "critic",
    temperature: float = 1.0,
    noise: float = 1.0,
    seed: int | None = None,
    record: bool = False,
) -> Refinement:
    """Fill the ``editable`` positions [B, L] of ``ids`` [B, L] in ``steps`` steps.

    ``generator(tokens)`` gives vocabulary logits [B, L, V] and ``critic(tokens)`` replaced logits [B, L] (bind
    attention masks, token types and positions with a closure); only ids where ``allowed`` [V] is True are
    drawn. Tokens outside ``editable`` are never changed. ``seed`` makes the result reproducible (a private
    random stream; None draws from the global one)."""
    if rule not in RULES:
        raise ValueError(f"unknown selection rule {rule!r}; expected one of {', '.join(RULES)}")
    if rule == "critic" and critic is None:
        raise ValueError("the critic rule needs a critic (a discriminator)")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    device = ids.device
    rng = torch.Generator(device).manual_seed(seed) if seed is not None else None
    editable = editable.bool()
    masked = editable.clone()
    tokens = ids.masked_fill(masked, mask_id)
    total = editable.sum(1)
    blocked = ~allowed.bool().to(device)
    history = []
    for t in range(1, steps + 1):
        logits = generator(tokens).float().masked_fill(blocked, float("-inf"))
        tokens = torch.where(masked, gumbel_sample(logits, temperature, rng), tokens)
        score = _scores(rule, tokens, logits, temperature, critic, rng)
        if noise > 0 and rule != "random":
            score = score + noise * (1 - t / steps) * gumbel_noise(score.shape, device, rng)
        fixed = ~editable if rule == "critic" else ~masked
        score = score.masked_fill(fixed, float("inf"))
        rank = score.argsort(dim=1).argsort(dim=1)
        rejected = rank < cosine_masked_count(t, steps, total)[:, None]
        if record:
            history.append(RefineStep(tokens.clone(), rejected.clone()))
        masked = rejected
        tokens = tokens.masked_fill(masked, mask_id)
    return Refinement(tokens, history)
