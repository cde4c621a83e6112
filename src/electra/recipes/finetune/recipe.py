"""The ELECTRA fine-tuning recipe: per-size learning rates, layer-wise learning-rate decay, AdamW, schedule.

Depths follow the official code: the embeddings (and their projection) are depth 0, encoder layer ``k``
(0-based) is depth ``k + 1``, the task head is depth ``L + 2``; a parameter at depth ``d`` trains with
``lr * decay ** (L + 2 - d)``. The head gets ``lr`` and the top encoder layer ``lr * decay**2`` (a quirk of
the official code that its reported results include).
"""

from __future__ import annotations

import re

import torch
from torch import nn

from electra.models import EncoderConfig
from electra.train.optim import build_adamw, no_decay

_LAYER = re.compile(r"^encoder\.layers\.(\d+)\.")


def size_name(config: EncoderConfig) -> str:
    """``large`` (hidden >= 1024), ``base`` (>= 768) or ``small`` (anything smaller, tiny included)."""
    if config.hidden_size >= 1024:
        return "large"
    if config.hidden_size >= 768:
        return "base"
    return "small"


def default_lr(config: EncoderConfig) -> float:
    """Official fine-tuning peak learning rate: 3e-4 Small, 1e-4 Base, 5e-5 Large."""
    return {"small": 3e-4, "base": 1e-4, "large": 5e-5}[size_name(config)]


def default_layer_decay(config: EncoderConfig) -> float:
    """Official layer-wise decay: 0.8, or 0.9 for Large."""
    return 0.9 if size_name(config) == "large" else 0.8


def parameter_depth(name: str, num_layers: int) -> int:
    """Official depth of a parameter of :class:`~electra.models.TaskModel` by its name."""
    if name.startswith("encoder.embeddings.") or name.startswith("encoder.projection."):
        return 0
    m = _LAYER.match(name)
    if m:
        return int(m.group(1)) + 1
    if name.startswith("encoder."):  # final LayerNorm of pre-LN encoders: with the top layer
        return num_layers
    return num_layers + 2  # task head


def layerwise_param_groups(
    model: nn.Module, num_layers: int, layer_decay: float, weight_decay: float = 0.0
) -> list[dict]:
    """One optimiser group per depth, each with ``lr_scale = layer_decay ** (L + 2 - depth)``.

    With ``weight_decay > 0`` biases and LayerNorm parameters are still exempt (separate groups).
    """
    groups: dict[tuple[int, bool], dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        depth = parameter_depth(name, num_layers)
        exempt = weight_decay == 0 or no_decay(name)
        key = (depth, exempt)
        if key not in groups:
            groups[key] = {
                "params": [],
                "names": [],
                "depth": depth,
                "lr_scale": layer_decay ** (num_layers + 2 - depth),
                "weight_decay": 0.0 if exempt else weight_decay,
            }
        groups[key]["params"].append(p)
        groups[key]["names"].append(name)
    return [groups[k] for k in sorted(groups)]


def build_optimizer(
    model: nn.Module,
    num_layers: int,
    layer_decay: float,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-6,
    bias_correction: bool = False,
) -> torch.optim.AdamW:
    """AdamW over :func:`layerwise_param_groups` (the one AdamW builder, :func:`electra.train.optim.build_adamw`)."""
    return build_adamw(layerwise_param_groups(model, num_layers, layer_decay, weight_decay), betas, eps,
                       bias_correction)  # fmt: skip
