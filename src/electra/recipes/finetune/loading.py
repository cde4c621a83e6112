"""Loading encoders to fine-tune (pretrained or freshly initialised) and fine-tuned checkpoints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer

from electra.core.errors import ElectraError
from electra.data.tokenizer import load_tokenizer, tokenizer_files
from electra.models import EncoderConfig, PretrainedModel, TaskModel, TransformerEncoder, load_checkpoint
from electra.recipes.finetune.spec import TaskSpec


@dataclass
class BaseEncoder:
    """What fine-tuning starts from: an encoder shape, its weights (None = random init) and the tokenizer."""

    path: Path
    config: EncoderConfig
    state: dict[str, torch.Tensor] | None
    tokenizer: Tokenizer
    special_ids: dict[str, int]
    meta: dict[str, Any]  # the checkpoint's config.json

    @property
    def tokenizer_files(self) -> dict[str, str]:
        """tokenizer.json and vocab.txt texts, copied into fine-tuned checkpoints."""
        return tokenizer_files(self.tokenizer)


def encoder_of(model: PretrainedModel) -> TransformerEncoder:
    """The encoder fine-tuning starts from: an ELECTRA's discriminator's, else the model's own."""
    return model.transfer_encoder()


def load_base_encoder(path: Path | str, random_init: bool = False) -> BaseEncoder:
    """The discriminator encoder of an ELECTRA checkpoint (or the encoder of an MLM checkpoint, or of a
    fine-tuned checkpoint), with the checkpoint's tokenizer. ``random_init`` keeps only the shape."""
    loaded = load_checkpoint(Path(path))
    tokenizer = loaded.tokenizer or load_tokenizer(loaded.path)
    if not loaded.special_ids:
        raise ElectraError(f"checkpoint config {loaded.path / 'config.json'} lacks key 'special_ids'")
    encoder = encoder_of(loaded.model)
    state = None if random_init else {k: v.detach().clone() for k, v in encoder.state_dict().items()}
    return BaseEncoder(loaded.path, encoder.config, state, tokenizer, loaded.special_ids, loaded.meta)


@dataclass
class Finetuned:
    """A fine-tuned checkpoint, ready for evaluation and prediction."""

    path: Path
    model: TaskModel
    spec: TaskSpec
    labels: list[str]
    tokenizer: Tokenizer
    special_ids: dict[str, int]
    meta: dict[str, Any]

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.meta.get("settings", {}))


def load_finetuned(path: Path | str, device: str | torch.device = "cpu") -> Finetuned:
    """Load a checkpoint written by ``electra finetune`` (a checkpoint or a seed's run directory)."""
    loaded = load_checkpoint(Path(path), device)
    if not loaded.finetuned:
        raise ElectraError(
            f"{loaded.path} is a pretrained checkpoint, not a fine-tuned one: run `electra finetune` first"
        )
    try:
        spec = TaskSpec.from_dict(loaded.meta["task"])
    except KeyError as e:
        raise ElectraError(f"checkpoint config {loaded.path / 'config.json'} lacks key {e}") from None
    if loaded.tokenizer is None:
        raise ElectraError(f"checkpoint {loaded.path} has no tokenizer.json")
    labels = list(loaded.meta.get("labels") or [])
    return Finetuned(loaded.path, loaded.as_class(TaskModel), spec, labels, loaded.tokenizer, loaded.special_ids,
                     loaded.meta)  # fmt: skip
