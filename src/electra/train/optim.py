"""AdamW and the learning-rate schedule of the ELECTRA recipe, with per-step scalars held in tensors.

The official optimiser is AdamW *without* bias correction: ``p -= lr * (m / (sqrt(v) + eps) + wd * p)``.
torch's AdamW divides by ``1 - beta1^t`` and ``sqrt(1 - beta2^t)`` with ``t`` its per-parameter step
counter; with that counter held at a huge value (``PINNED_STEP``: ``beta^t`` underflows to 0, so both
factors are exactly 1) torch's own update *is* the official one, fused kernels included, and the learning
rate is the only scalar that changes from step to step. It lives in a 0-dim tensor per parameter group,
written before each step (:func:`set_lr`), so a whole step can later be captured in one CUDA graph.
Saved optimiser states carry the real step count (:func:`with_step_count`); loading re-pins it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

NO_DECAY_MARKERS = ("bias", "norm")
PINNED_STEP = 2.0**40  # exactly representable in float32; 0.999 ** 2**40 == 0.0


def no_decay(name: str) -> bool:
    """Biases and LayerNorm parameters get no weight decay (as in the official code)."""
    lowered = name.lower()
    return any(m in lowered for m in NO_DECAY_MARKERS)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two groups: weights with decay, biases and LayerNorm parameters without.

    Shared parameters (ELECTRA's embeddings) appear once: ``named_parameters`` de-duplicates them."""
    decay, exempt = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (exempt if no_decay(name) else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": exempt, "weight_decay": 0.0}]


def build_adamw(
    groups: Iterable[dict[str, Any]],
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-6,
    bias_correction: bool = False,
    fused: bool | None = None,
    capturable: bool = False,
) -> torch.optim.AdamW:
    """AdamW over parameter ``groups`` (each may carry ``lr_scale``, a factor on the scheduled rate);
    torch's fused kernel unless told otherwise (or the parameters are sharded DTensors).
    Without ``bias_correction`` the update is the official one. ``capturable``: its step may be captured in
    a CUDA graph (torch then keeps every scalar of the update on the device)."""
    groups = [dict(g) for g in groups]
    params = [p for g in groups for p in g["params"]]
    if fused is None:  # torch's fused kernel on CUDA and CPU (8% of a tiny-preset CPU step); not for DTensors
        fused = bool(params) and all(_fusable(p) for p in params)
    device = params[0].device if params else torch.device("cpu")
    for g in groups:
        g["lr"] = torch.zeros((), dtype=torch.float32, device=device)
        g.setdefault("lr_scale", 1.0)
        g["bias_correction"] = bias_correction
    opt = torch.optim.AdamW(groups, lr=torch.zeros(()), betas=betas, eps=eps, fused=fused, capturable=capturable)
    if fused:  # the fused kernel skips the whole update, on the device, where this is non-zero
        opt.found_inf = torch.zeros((), dtype=torch.float32, device=device)  # type: ignore[attr-defined]
    pin_steps(opt)
    return opt


def step_if_finite(optimizer: torch.optim.Optimizer, finite: torch.Tensor) -> None:
    """``optimizer.step()``, skipped when ``finite`` (a 0-dim bool tensor: loss and gradient norm finite) is
    false: on the device through the fused kernel's ``found_inf`` (no host synchronisation); for optimisers
    without it (sharded DTensor parameters) by reading the flag."""
    found_inf = getattr(optimizer, "found_inf", None)
    if found_inf is not None:
        found_inf.copy_(~finite)
        optimizer.step()
    elif bool(finite):
        optimizer.step()


def _fusable(p: torch.Tensor) -> bool:
    return type(p) in (torch.Tensor, nn.Parameter) and p.device.type in ("cuda", "cpu") and p.dtype.is_floating_point


def load_state(optimizer: torch.optim.Optimizer, load: Callable[[], None]) -> None:
    """Run ``load`` (which loads a saved state into ``optimizer``), keeping only the per-parameter state:
    hyper-parameters (learning-rate tensors, eps, weight decay, betas, scales) stay those of the run's
    configuration, and the step counters are re-pinned."""
    kept = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    load()
    for group, hyper in zip(optimizer.param_groups, kept, strict=True):
        for key in [k for k in group if k not in hyper and k != "params"]:
            del group[key]  # e.g. base_eps of checkpoints from before the pinned counter
        group.update(hyper)
    pin_steps(optimizer)


def pin_steps(optimizer: torch.optim.Optimizer) -> None:
    """Hold every parameter's step counter at ``PINNED_STEP`` (creating the state where there is none yet),
    which turns torch's bias correction off; a no-op for groups built with bias correction."""
    for group in optimizer.param_groups:
        if group.get("bias_correction", False):
            continue
        on_device = group.get("fused") or group.get("capturable")
        for p in group["params"]:
            state = optimizer.state[p]
            if not state:
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["step"] = torch.tensor(PINNED_STEP, dtype=torch.float32, device=p.device if on_device else "cpu")


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Write this step's rate into every group's tensor: ``lr * lr_scale`` (no host synchronisation)."""
    for g in optimizer.param_groups:
        g["lr"].fill_(lr * g.get("lr_scale", 1.0))


def with_step_count(state: dict[str, Any], step: int, bias_correction: bool) -> dict[str, Any]:
    """An optimiser state dict whose per-parameter ``step`` is the run's real step count (what a reader of
    the checkpoint expects) instead of the pinned counter; unchanged with bias correction."""
    if bias_correction:
        return state
    for s in state["state"].values():
        if "step" in s:
            s["step"] = torch.tensor(float(step))
    return state


def recipe_lr(step: int, peak: float, warmup_steps: int, total_steps: int) -> float:
    """``peak * min(1, step / warmup) * (1 - step / total)``: warm-up and decay overlap, as officially."""
    warm = min(1.0, step / warmup_steps) if warmup_steps > 0 else 1.0
    return peak * warm * max(0.0, 1.0 - step / total_steps)


def inverse_sqrt_lr(step: int, peak: float, warmup_steps: int) -> float:
    """The Transformer's schedule (fairseq's ``inverse_sqrt``): linear warm-up to ``peak`` over
    ``warmup_steps``, then ``peak * sqrt(warmup_steps / step)``."""
    if warmup_steps > 0 and step < warmup_steps:
        return peak * step / warmup_steps
    return peak * (max(warmup_steps, 1) / max(step, 1)) ** 0.5
