"""Drawing tokens from a model's logits, for pretraining (the generator's samples) and generation."""

from __future__ import annotations

import torch


def gumbel_noise(shape: torch.Size | tuple[int, ...], device: torch.device | str = "cpu",
                 generator: torch.Generator | None = None) -> torch.Tensor:  # fmt: skip
    """Standard Gumbel noise ``-log(-log(u))``, ``u ~ U[0, 1)``, in float32."""
    u = torch.rand(shape, device=device, generator=generator)
    return -torch.log(-torch.log(u + 1e-9) + 1e-9)


def gumbel_sample(
    logits: torch.Tensor, temperature: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Gumbel-max sample ``argmax(logits / T + g)``, drawn in float32 with no gradient."""
    with torch.no_grad():
        logits = logits.float()
        return (logits / temperature + gumbel_noise(logits.shape, logits.device, generator)).argmax(-1)
