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
from electra.train.checkpoint import FINETUNED, latest_checkpoint, load_weights, read_meta


def padded_vocab_size(n: int, multiple: int = 64) -> int:
    """Round the embedding table up to a multiple of 64 rows (faster matmuls; extra rows unused)."""
    return -(-n // multiple) * multiple


def build_model(cfg: PretrainConfig, vocab_size: int, pad_token_id: int = 0) -> nn.Module:
    """:class:`Electra` (generator + discriminator) or, for ``objective.kind == "mlm"``, a :class:`MaskedLM`.

    ``pad_token_id`` is the tokenizer's [PAD] id: its embedding row starts at zero and the look-up passes
    it no gradient."""
    encoder = cfg.model.encoder(vocab_size, pad_token_id)
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


def resolve_checkpoint(path: Path, pretrained: bool = False) -> Path:
    """A checkpoint directory itself, or the newest ``checkpoint-*`` inside a run directory.

    The output directory of a multi-seed fine-tuning run (``seed-*`` sub-directories) is refused, naming a
    seed's run directory; with ``pretrained`` (the caller needs a pretrained checkpoint) the error says
    which commands take fine-tuned checkpoints.
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
    if seeds and pretrained:
        raise ElectraError(
            f"{path} holds fine-tuned checkpoints (one run per seed, from `electra finetune`), not a pretrained "
            f"one: use `electra evaluate` or `electra predict` with one of them, e.g. -m {path / seeds[0]}"
        )
    if seeds:
        raise ElectraError(
            f"{path} holds one fine-tuning run per seed; pass one of them, e.g. {path / seeds[0]}"
        )
    raise ElectraError(f"no checkpoint in {path} (expected config.json or checkpoint-* directories)")


def load_pretrained(path: Path, device: str | torch.device = "cpu") -> Pretrained:
    """Load the model of a checkpoint (or of the newest checkpoint of a run directory) for inference.

    A fine-tuned checkpoint is refused with a one-line error naming the commands that use it.
    """
    path = resolve_checkpoint(path, pretrained=True)
    meta = read_meta(path)
    if meta.get("kind") == FINETUNED:
        raise ElectraError(
            f"{path} is a fine-tuned checkpoint (from `electra finetune`), not a pretrained one: "
            "use `electra evaluate` or `electra predict` with it"
        )
    try:
        cfg = config_from_dict(meta["config"])
        vocab_size, special = int(meta["vocab_size"]), dict(meta["special_ids"])
    except KeyError as e:
        raise ElectraError(f"checkpoint config {path / 'config.json'} lacks key {e}") from None
    model = build_model(cfg, vocab_size, int(special.get("pad", 0)))
    load_weights(model, path)
    model.to(device).eval()
    return Pretrained(path, model, cfg, special, int(meta.get("step", 0)))
