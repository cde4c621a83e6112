"""Settings of the pretraining objectives (a plain dataclass: the configuration files name these keys)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ObjectiveConfig:
    """Settings of the pretraining objective (defaults: the official ELECTRA recipe)."""

    kind: str = "electra"  # "electra" or "mlm"
    mask_rate: float = 0.15
    mask_token_prob: float = 0.85
    random_token_prob: float = 0.0
    disc_weight: float = 50.0
    gen_weight: float = 1.0
    temperature: float = 1.0
