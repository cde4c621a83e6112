"""Build pretraining models and objectives from a config, and load them back from checkpoints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from electra.config import PretrainConfig, config_from_dict
from electra.errors import ElectraError
from electra.models import Discriminator, Electra, ElectraConfig, MaskedLM
from electra.pretraining.objective import MaskedLanguageModeling, ReplacedTokenDetection
from electra.train.checkpoint import latest_checkpoint, load_weights, read_meta


def padded_vocab_size(n: int, multiple: int = 64) -> int:
    """Round the embedding table up to a multiple of 64 rows (faster matmuls; extra rows unused)."""
    return -(-n // multiple) * multiple


def build_model(cfg: PretrainConfig, vocab_size: int) -> nn.Module:
    """:class:`Electra` (generator + discriminator) or, for ``objective.kind == "mlm"``, a :class:`MaskedLM`."""
    encoder = cfg.model.encoder(vocab_size)
    if cfg.objective.kind == "mlm":
        return MaskedLM(encoder)
    return Electra(ElectraConfig(encoder, cfg.model.generator_multiplier))


def build_objective(model: nn.Module, cfg: PretrainConfig, special_ids: dict[str, int]) -> nn.Module:
    """Wrap ``model`` in its pretraining objective; masking never touches CLS, SEP, MASK or PAD."""
    never_mask = [special_ids["cls"], special_ids["sep"], special_ids["mask"], special_ids["pad"]]
    if isinstance(model, Electra):
        return ReplacedTokenDetection(
            model.generator, model.discriminator, never_mask, special_ids["mask"], cfg.objective
        )
    return MaskedLanguageModeling(model, never_mask, special_ids["mask"], cfg.objective)


@dataclass
class Pretrained:
    """A model loaded from a checkpoint directory, with what is needed to use it."""

    path: Path
    model: nn.Module
    config: PretrainConfig
    special_ids: dict[str, int]
    step: int

    @property
    def generator(self) -> MaskedLM:
        return self.model.generator if isinstance(self.model, Electra) else self.model

    @property
    def discriminator(self) -> Discriminator:
        if not isinstance(self.model, Electra):
            raise ElectraError(f"checkpoint {self.path} was trained with the MLM objective: it has no discriminator")
        return self.model.discriminator


def resolve_checkpoint(path: Path) -> Path:
    """A checkpoint directory itself, or the newest ``checkpoint-*`` inside a run directory.

    A multi-seed fine-tuning directory (``seed-*`` sub-directories) is refused with the seeds listed.
    """
    path = Path(path)
    if not path.exists():
        raise ElectraError(f"checkpoint not found: {path}")
    if (path / "config.json").is_file():
        return path
    latest = latest_checkpoint(path)
    if latest is not None:
        return latest
    seeds = sorted(p.name for p in path.glob("seed-*") if p.is_dir())
    if seeds:
        raise ElectraError(
            f"{path} holds one fine-tuning run per seed; pass one of them, e.g. {path / seeds[0]}"
        )
    raise ElectraError(f"no checkpoint in {path} (expected config.json or checkpoint-* directories)")


def load_pretrained(path: Path, device: str | torch.device = "cpu") -> Pretrained:
    """Load the model of a checkpoint (or of the newest checkpoint of a run directory) for inference."""
    path = resolve_checkpoint(path)
    meta = read_meta(path)
    try:
        cfg = config_from_dict(meta["config"])
        vocab_size, special = int(meta["vocab_size"]), dict(meta["special_ids"])
    except KeyError as e:
        raise ElectraError(f"checkpoint config {path / 'config.json'} lacks key {e}") from None
    model = build_model(cfg, vocab_size)
    load_weights(model, path)
    model.to(device).eval()
    return Pretrained(path, model, cfg, special, int(meta.get("step", 0)))
