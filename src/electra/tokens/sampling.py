"""Drawing tokens from a model's logits, for pretraining (the generator's samples) and generation."""

from __future__ import annotations

import torch


def gumbel_sample(
    logits: torch.Tensor, temperature: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Gumbel-max sample ``argmax(logits / T + g)``, drawn in float32 with no gradient."""
    with torch.no_grad():
        logits = logits.float()
        u = torch.rand(logits.shape, device=logits.device, generator=generator)
        g = -torch.log(-torch.log(u + 1e-9) + 1e-9)
        return (logits / temperature + g).argmax(-1)
