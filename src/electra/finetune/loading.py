"""Loading encoders to fine-tune (pretrained or freshly initialised) and fine-tuned checkpoints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer

from electra.data.tokenizer import load_tokenizer
from electra.errors import ElectraError
from electra.finetune.heads import FinetuneModel
from electra.finetune.tasks import TaskSpec
from electra.models import EncoderConfig, MaskedLM
from electra.pretraining.builder import load_pretrained, resolve_checkpoint
from electra.train.checkpoint import FINETUNED, load_weights, read_meta


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
        files = {"tokenizer.json": self.tokenizer.to_str(pretty=True)}
        vocab = sorted(self.tokenizer.get_vocab().items(), key=lambda kv: kv[1])
        files["vocab.txt"] = "".join(f"{w}\n" for w, _ in vocab)
        return files


def load_base_encoder(path: Path | str, random_init: bool = False) -> BaseEncoder:
    """The discriminator encoder of an ELECTRA checkpoint (or the encoder of an MLM checkpoint, or of a
    fine-tuned checkpoint), with the checkpoint's tokenizer. ``random_init`` keeps only the shape."""
    path = resolve_checkpoint(Path(path))
    meta = read_meta(path)
    tokenizer = (
        load_tokenizer(path / "tokenizer.json")
        if (path / "tokenizer.json").exists()
        else load_tokenizer(path)
    )
    if meta.get("kind") == FINETUNED:
        config = EncoderConfig.from_dict(meta["encoder"])
        state = None
        if not random_init:
            model = FinetuneModel(
                config,
                TaskSpec.from_dict(meta["task"]).task,
                len(meta.get("labels") or []) or 1,
                bool(meta.get("version2")),
            )
            load_weights(model, path)
            state = model.encoder.state_dict()
    else:
        pre = load_pretrained(path)
        encoder = pre.model.encoder if isinstance(pre.model, MaskedLM) else pre.discriminator.encoder
        config = encoder.config
        state = None if random_init else {k: v.detach().clone() for k, v in encoder.state_dict().items()}
    try:
        special = {k: int(v) for k, v in meta["special_ids"].items()}
    except KeyError:
        raise ElectraError(f"checkpoint config {path / 'config.json'} lacks key 'special_ids'") from None
    return BaseEncoder(path, config, state, tokenizer, special, meta)


@dataclass
class Finetuned:
    """A fine-tuned checkpoint, ready for evaluation and prediction."""

    path: Path
    model: FinetuneModel
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
    path = resolve_checkpoint(Path(path))
    meta = read_meta(path)
    if meta.get("kind") != FINETUNED:
        raise ElectraError(
            f"{path} is a pretrained checkpoint, not a fine-tuned one: run `electra finetune` first"
        )
    try:
        config = EncoderConfig.from_dict(meta["encoder"])
        spec = TaskSpec.from_dict(meta["task"])
        labels = list(meta.get("labels") or [])
        special = {k: int(v) for k, v in meta["special_ids"].items()}
    except KeyError as e:
        raise ElectraError(f"checkpoint config {path / 'config.json'} lacks key {e}") from None
    model = FinetuneModel(config, spec.task, max(1, len(labels)), bool(meta.get("version2")))
    load_weights(model, path)
    model.to(device).eval()
    return Finetuned(path, model, spec, labels, load_tokenizer(path / "tokenizer.json"), special, meta)
