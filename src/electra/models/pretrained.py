"""Our models on disk: ``save_pretrained`` / ``from_pretrained`` on the native checkpoint format.

Every model class derives from :class:`PretrainedModel`: it has a ``config`` (a dataclass with
``to_dict`` / ``from_dict``) and registers under its class name, so a checkpoint's ``config.json``
(``model_class`` + ``model_config``) rebuilds it without any training configuration. The two methods are
exact inverses: ``Cls.from_pretrained(model.save_pretrained(d))`` has ``model``'s config and weights.

Checkpoints written before ``format_version`` 2 (this project's 0.1 releases: the training configuration in
``config.json`` and separate query/key/value projections) are upgraded on reading (:func:`upgrade_config`;
the weights through the attention modules' state-dict hook). Hugging Face directories are not read here:
convert them explicitly with ``electra import`` or :func:`electra.interop.load_hf`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from tokenizers import Tokenizer
from torch import nn

from electra.core import checkpoint as ckpt
from electra.core.errors import ElectraError
from electra.data.tokenizer import load_tokenizer, special_token_ids, tokenizer_files
from electra.models.config import ElectraConfig, EncoderConfig, TaskModelConfig, known_fields

_M = TypeVar("_M", bound="PretrainedModel")
FINETUNED = "finetuned"  # config.json "kind" of a checkpoint written by ``electra finetune``


class PretrainedModel(nn.Module):
    """Base of this project's models: a config, native save/load, and the blocks parallelism wraps."""

    config_class: ClassVar[type]
    registry: ClassVar[dict[str, type[PretrainedModel]]] = {}
    config: Any

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "config_class" in cls.__dict__:
            PretrainedModel.registry[cls.__name__] = cls

    def parallel_blocks(self) -> list[nn.Module]:
        """The repeated blocks (Transformer layers) that FSDP shards as units and compilers treat as regions."""
        raise NotImplementedError

    def transfer_encoder(self) -> nn.Module:
        """The encoder that fine-tuning starts from: the model's own (ELECTRA: its discriminator's)."""
        return self.encoder

    def part(self, cls: type[_M]) -> _M | None:
        """This model, or the sub-model of class ``cls`` it holds (ELECTRA's discriminator), or None."""
        return self if isinstance(self, cls) else None

    def checkpoint_config(self, special_ids: dict[str, int] | None = None) -> dict[str, Any]:
        """What config.json says about this model: class, config and the tokenizer's special ids."""
        out: dict[str, Any] = {"model_class": type(self).__name__, "model_config": self.config.to_dict()}
        if special_ids is not None:
            out["special_ids"] = dict(special_ids)
        return out

    def save_pretrained(
        self,
        directory: str | Path,
        tokenizer: Tokenizer | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Path:
        """Write this model as a native checkpoint directory (atomically); returns it.

        With a ``tokenizer`` its files and special-token ids are included (what ``electra detect`` and
        fine-tuning need); ``extra`` entries are added to config.json."""
        special = special_token_ids(tokenizer) if tokenizer is not None else None
        files = tokenizer_files(tokenizer) if tokenizer is not None else {}
        meta = {**self.checkpoint_config(special), **(extra or {})}
        return ckpt.write_checkpoint(Path(directory), self, meta, files)

    @classmethod
    def from_pretrained(cls: type[_M], path: str | Path, device: str | torch.device = "cpu") -> _M:
        """Load a native checkpoint (or the newest of a run directory) as this class, in eval mode.

        A class held inside the checkpoint's model is returned on its own (``Discriminator.from_pretrained``
        of an ELECTRA checkpoint gives its discriminator)."""
        return load_checkpoint(path, device).as_class(cls)


def build_model(model_class: str, model_config: dict[str, Any], where: str = "checkpoint") -> PretrainedModel:
    """A freshly initialised model of the registered ``model_class`` with ``model_config``."""
    cls = PretrainedModel.registry.get(model_class)
    if cls is None:
        known = ", ".join(sorted(PretrainedModel.registry))
        raise ElectraError(f"{where}: unknown model_class {model_class!r} (known: {known})")
    try:
        config = cls.config_class.from_dict(model_config)
    except (KeyError, TypeError, ValueError) as e:
        raise ElectraError(f"{where}: model_config does not describe a {model_class}: {e}") from None
    return cls(config)


@dataclass
class Pretrained:
    """A checkpoint loaded for use: the model, its config.json (upgraded), tokenizer and training config."""

    path: Path
    model: PretrainedModel
    meta: dict[str, Any]
    tokenizer: Tokenizer | None = None
    train_config: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def special_ids(self) -> dict[str, int]:
        return {k: int(v) for k, v in (self.meta.get("special_ids") or {}).items()}

    @property
    def step(self) -> int:
        return int(self.meta.get("step", 0))

    @property
    def finetuned(self) -> bool:
        return self.meta.get("kind") == FINETUNED

    @property
    def discriminator(self) -> PretrainedModel:
        """The ELECTRA discriminator held (an error for a masked LM or a fine-tuned model)."""
        return self.as_class(PretrainedModel.registry["Discriminator"])

    @property
    def generator(self) -> PretrainedModel:
        """The masked LM held: an ELECTRA's generator, or the MLM objective's model."""
        return self.as_class(PretrainedModel.registry["MaskedLM"])

    def as_class(self, cls: type[_M]) -> _M:
        """The model as ``cls`` (itself or the part of that class it holds), or a one-line error."""
        found = self.model.part(cls)
        if found is None:
            raise ElectraError(
                f"{self.path} holds a {type(self.model).__name__}{_what(self.meta)}, which has no {cls.__name__}"
            )
        return found


def _what(meta: dict[str, Any]) -> str:
    if meta.get("kind") == FINETUNED:
        return " (a fine-tuned checkpoint, from `electra finetune`)"
    return " (trained with the MLM objective)" if meta.get("model_class") == "MaskedLM" else ""


@dataclass
class CheckpointInfo:
    """A checkpoint without its weights: where it is, its config.json (as format version 2) and the
    configuration of the run that wrote it (None for imported or hand-saved checkpoints)."""

    path: Path
    meta: dict[str, Any]
    train_config: dict[str, Any] | None

    @property
    def model_class(self) -> type[PretrainedModel]:
        cls = PretrainedModel.registry.get(self.meta["model_class"])
        if cls is None:
            known = ", ".join(sorted(PretrainedModel.registry))
            raise ElectraError(f"{self.path / ckpt.CONFIG}: unknown model_class {self.meta['model_class']!r} "
                               f"(known: {known})")  # fmt: skip
        return cls

    def build(self) -> PretrainedModel:
        """A freshly initialised model of the checkpoint's class and config (no weights loaded)."""
        return build_model(self.meta["model_class"], self.meta["model_config"], str(self.path / ckpt.CONFIG))

    def load(self, device: str | torch.device = "cpu") -> PretrainedModel:
        """The checkpoint's model with its weights, in eval mode."""
        model = self.build()
        ckpt.load_weights(model, self.path)
        return model.to(device).eval()


def read_checkpoint(path: str | Path, pretrained: bool = False) -> CheckpointInfo:
    """Describe a checkpoint (or the newest checkpoint of a run directory) without loading its weights.

    With ``pretrained`` a fine-tuned checkpoint is refused with a one-line error naming the commands that
    use it (for ``detect``, ``fill-mask``, ``export`` and continued pretraining)."""
    path = ckpt.resolve_checkpoint(Path(path), pretrained=pretrained)
    raw = ckpt.read_config(path)
    if pretrained and raw.get("kind") == FINETUNED:
        raise ElectraError(
            f"{path} is a fine-tuned checkpoint (from `electra finetune`), not a pretrained one: "
            "use `electra evaluate` or `electra predict` with it"
        )
    return CheckpointInfo(path, upgrade_config(raw, path), saved_train_config(path))


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu", pretrained: bool = False) -> Pretrained:
    """Load the model of a checkpoint (or of the newest checkpoint of a run directory), in eval mode, with its
    tokenizer (see :func:`read_checkpoint` for ``pretrained``)."""
    info = read_checkpoint(path, pretrained)
    tokenizer_file = info.path / "tokenizer.json"
    tokenizer = load_tokenizer(tokenizer_file) if tokenizer_file.is_file() else None
    return Pretrained(info.path, info.load(device), info.meta, tokenizer, info.train_config)


def saved_train_config(path: Path) -> dict[str, Any] | None:
    """The training configuration stored with a checkpoint (``train_config.json``; in ``config.json`` before
    format version 2), or None."""
    raw = ckpt.read_config(path)
    return raw.get("config") if _version(raw) < 2 else ckpt.read_train_config(path)


def _version(meta: dict[str, Any]) -> int:
    return int(meta.get("format_version", 1))


_LEGACY_HEADS = {"classification": "sequence", "regression": "sequence", "token-classification": "token", "qa": "span"}


def upgrade_config(meta: dict[str, Any], path: Path) -> dict[str, Any]:
    """A config.json of any format version as version 2 (model class and model config); one-line errors.

    Version 1 (0.1 releases) stored the training configuration instead: the model is rebuilt from its
    ``model`` section, ``objective.kind`` (ELECTRA or masked LM), ``vocab_size`` and the [PAD] id; a
    fine-tuned checkpoint from its ``encoder``, ``task`` and ``labels``."""
    if _version(meta) >= 2:
        for key in ("model_class", "model_config"):
            if key not in meta:
                raise ElectraError(f"checkpoint config {path / ckpt.CONFIG} lacks key {key!r}")
        return meta
    out = copy.deepcopy(meta)
    try:
        special = {k: int(v) for k, v in meta["special_ids"].items()}
        if meta.get("kind") == FINETUNED:
            task, labels = meta["task"]["task"], meta.get("labels") or []
            config = TaskModelConfig(EncoderConfig.from_dict(meta["encoder"]), _LEGACY_HEADS[task],
                                     max(1, len(labels)), bool(meta.get("version2")))  # fmt: skip
            out.update(model_class="TaskModel", model_config=config.to_dict())
        else:
            train = meta["config"]
            encoder = EncoderConfig(**known_fields(EncoderConfig, train["model"]), vocab_size=int(meta["vocab_size"]),
                                    pad_token_id=special.get("pad", 0))  # fmt: skip
            if train["objective"]["kind"] == "mlm":
                out.update(model_class="MaskedLM", model_config=encoder.to_dict())
            else:
                electra = ElectraConfig(encoder, float(train["model"]["generator_multiplier"]))
                out.update(model_class="Electra", model_config=electra.to_dict())
    except KeyError as e:
        raise ElectraError(f"checkpoint config {path / ckpt.CONFIG} lacks key {e}") from None
    out["format_version"] = 2
    for key in ("config", "encoder", "vocab_size", "version2"):
        out.pop(key, None)
    return out
