"""Drawing tokens from a model's logits, for pretraining (the generator's samples) and generation."""

from __future__ import annotations

import torch


def drawing_from(generator: torch.Generator | None) -> dict[str, torch.Generator]:
    """Keyword arguments for ``torch.rand``-like calls: the generator only when there is one. torch.compile
    cannot trace an explicit ``generator=None`` once a shape is dynamic (its second shape), and the global
    generator is what training draws from."""
    return {} if generator is None else {"generator": generator}


def gumbel_noise(shape: torch.Size | tuple[int, ...], device: torch.device | str = "cpu",
                 generator: torch.Generator | None = None) -> torch.Tensor:  # fmt: skip
    """Standard Gumbel noise ``-log(-log(u))``, ``u ~ U[0, 1)``, in float32."""
    u = torch.rand(shape, device=device, **drawing_from(generator))
    return -torch.log(-torch.log(u + 1e-9) + 1e-9)


def gumbel_sample(
    logits: torch.Tensor, temperature: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Gumbel-max sample ``argmax(logits / T + g)``, drawn in float32 with no gradient."""
    with torch.no_grad():
        logits = logits.float()
        return (logits / temperature + gumbel_noise(logits.shape, logits.device, generator)).argmax(-1)
