"""AdamW and the learning-rate schedule of the ELECTRA recipe."""

from __future__ import annotations

import math

import torch
from torch import nn

NO_DECAY_MARKERS = ("bias", "norm")


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: weights with decay, biases and LayerNorm parameters without (as the official code).

    Shared parameters (ELECTRA's embeddings) appear once: ``named_parameters`` de-duplicates them.
    """
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        lowered = name.lower()
        (no_decay if any(m in lowered for m in NO_DECAY_MARKERS) else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay, "base_weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0, "base_weight_decay": 0.0},
    ]


def build_adamw(
    model: nn.Module,
    weight_decay: float = 0.01,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-6,
    fused: bool | None = None,
) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups`; fused on CUDA unless told otherwise."""
    groups = param_groups(model, weight_decay)
    if fused is None:
        fused = all(p.is_cuda for g in groups for p in g["params"])
    opt = torch.optim.AdamW(groups, lr=0.0, betas=betas, eps=eps, weight_decay=weight_decay, fused=fused)
    for g in opt.param_groups:
        g["base_eps"] = eps
    return opt


def recipe_lr(step: int, peak: float, warmup_steps: int, total_steps: int) -> float:
    """``peak * min(1, step / warmup) * (1 - step / total)``: warm-up and decay overlap, as officially."""
    warm = min(1.0, step / warmup_steps) if warmup_steps > 0 else 1.0
    return peak * warm * max(0.0, 1.0 - step / total_steps)


def set_step_hyperparameters(optimizer: torch.optim.Optimizer, lr: float, step: int, bias_correction: bool) -> None:
    """Set this step's learning rate on every group.

    With ``bias_correction=False`` the update becomes the official optimiser's
    ``p -= lr * (m / (sqrt(v) + eps) + wd * p)``: torch's AdamW divides by ``1 - b1^t`` and
    ``sqrt(1 - b2^t)``, so we pre-scale lr, eps and weight decay by the inverse factors for the
    optimiser's next step ``t = step + 1``. This keeps torch's fused kernel while matching the recipe.
    """
    for g in optimizer.param_groups:
        if bias_correction:
            g["lr"], g["eps"], g["weight_decay"] = lr, g["base_eps"], g["base_weight_decay"]
            continue
        b1, b2 = g["betas"]
        t = step + 1
        bc1, bc2_sqrt = 1.0 - b1**t, math.sqrt(1.0 - b2**t)
        g["lr"] = lr * bc1 / bc2_sqrt
        g["eps"] = g["base_eps"] / bc2_sqrt
        g["weight_decay"] = g["base_weight_decay"] * bc2_sqrt / bc1
