"""Hugging Face checkpoint directories on disk: reading config.json and weights, writing and finding
tokenizer files. Only safetensors (or a legacy ``pytorch_model.bin`` read with ``weights_only=True``) are
read: nothing is ever unpickled."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer

from electra.core.errors import ElectraError
from electra.core.files import read_json, read_json_object
from electra.data.tokenizer import load_tokenizer, save_tokenizer, special_token_ids
from electra.interop.hf_config import complete_hf_config

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


@dataclass
class HFDir:
    """A ``transformers`` checkpoint directory: its (completed) config and its tensors with normalised names
    (the ``electra.`` / ``bert.`` prefix removed, TF-style ``gamma`` / ``beta`` renamed)."""

    path: Path
    weights: Path
    config: dict[str, Any]
    model_type: str
    tensors: dict[str, torch.Tensor]
    original: dict[str, str] = field(default_factory=dict)  # normalised name -> name in the file

    def where(self, name: str) -> str:
        """``<file>: tensor '<name as stored>'`` for error messages."""
        return f"{self.weights}: tensor {self.original.get(name, name)!r}"

    @property
    def config_file(self) -> Path:
        return self.path / "config.json"

    @property
    def architecture(self) -> str:
        """The first of config.json's ``architectures`` (or the model type)."""
        archs = self.config.get("architectures") or []
        return archs[0] if archs else self.model_type


def _weights_file(path: Path) -> Path:
    for name in WEIGHT_FILES:
        if (path / name).is_file():
            return path / name
    raise ElectraError(
        f"no model.safetensors or pytorch_model.bin in {path} (only safetensors or legacy PyTorch weights "
        "can be imported)"
    )


def _load_tensor_file(file: Path) -> dict[str, torch.Tensor]:
    if file.name.endswith(".safetensors"):
        try:
            return load_file(str(file), device="cpu")
        except (SafetensorError, OSError, ValueError) as e:
            raise ElectraError(f"cannot read {file}: {str(e).splitlines()[0] if str(e) else e}") from None
    try:
        data = torch.load(file, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any refusal by the safe unpickler is a bad file for the user
        raise ElectraError(f"cannot read {file} safely (weights_only): it is corrupt, or holds objects other than "
                           "tensors (it is never unpickled)") from None  # fmt: skip
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ElectraError(f"{file} is not a state dict of tensors")
    return dict(data)


def read_weights(file: Path) -> dict[str, torch.Tensor]:
    """The tensors of a weight file, or of every shard a ``*.index.json`` names."""
    if not file.name.endswith(".index.json"):
        return _load_tensor_file(file)
    index = read_json(file, "shard index")
    try:
        weight_map = index["weight_map"]
        shards = sorted(set(weight_map.values()))
    except (KeyError, TypeError, AttributeError) as e:
        raise ElectraError(f"shard index {file} is not valid: {e}") from None
    tensors: dict[str, torch.Tensor] = {}
    for shard in shards:
        if "/" in shard or "\\" in shard or not (file.parent / shard).is_file():
            raise ElectraError(f"shard index {file} names a missing or invalid shard {shard!r}")
        tensors.update(_load_tensor_file(file.parent / shard))
    return tensors


def _model_type(config: dict[str, Any], file: Path) -> str:
    if config.get("format") == "electra":
        raise ElectraError(f"{file.parent} is one of this project's checkpoints, not a Hugging Face one")
    model_type = config.get("model_type")
    if model_type is None:
        arch = (config.get("architectures") or [""])[0]
        model_type = "electra" if arch.startswith("Electra") else "bert" if arch.startswith("Bert") else None
    if model_type not in ("electra", "bert"):
        raise ElectraError(f"{file}: model_type {model_type!r} is not supported (expected 'electra' or 'bert')")
    return model_type


def read_hf_dir(path: str | Path) -> HFDir:
    """Read a ``transformers`` ELECTRA or BERT checkpoint directory, with one-line errors."""
    path = Path(path)
    if not path.is_dir():
        raise ElectraError(f"Hugging Face checkpoint directory not found: {path}")
    file = path / "config.json"
    if not file.is_file():
        raise ElectraError(f"{path} has no config.json (expected a Hugging Face checkpoint directory)")
    raw = read_json_object(file, "Hugging Face config")
    model_type = _model_type(raw, file)
    config = complete_hf_config(raw, model_type, file)
    weights = _weights_file(path)
    prefix = f"{model_type}."
    tensors: dict[str, torch.Tensor] = {}
    original: dict[str, str] = {}
    for name, tensor in read_weights(weights).items():
        norm = name[len(prefix) :] if name.startswith(prefix) else name
        norm = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", norm)
        norm = re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", norm)
        if norm in tensors:
            raise ElectraError(f"{weights}: tensor {name!r} appears twice (with and without the {prefix!r} prefix)")
        tensors[norm] = tensor
        original[norm] = name
    return HFDir(path, weights, config, model_type, tensors, original)


def write_hf_dir(directory: Path, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    """config.json and model.safetensors of a ``transformers`` directory."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    try:
        save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})
    except OSError as e:
        raise ElectraError(f"could not write {directory / 'model.safetensors'}: {e.strerror or e}") from None


# ------------------------------------------------------------------------------------------- tokenizers


def find_normalizer(node: Any) -> dict[str, Any]:
    """Lower-casing / accent settings of a tokenizer.json normalizer (BertNormalizer or a Sequence)."""
    if not isinstance(node, dict):
        return {}
    if node.get("type") == "BertNormalizer":
        return node
    if node.get("type") == "Sequence":
        found: dict[str, Any] = {}
        for child in node.get("normalizers", []):
            if isinstance(child, dict) and child.get("type") == "Lowercase":
                found["lowercase"] = True
            if isinstance(child, dict) and child.get("type") == "StripAccents":
                found["strip_accents"] = True
            found.update({k: v for k, v in find_normalizer(child).items() if k != "type"})
        return found
    if node.get("type") == "Lowercase":
        return {"lowercase": True}
    return {}


SPECIAL_TOKENS_MAP = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                      "mask_token": "[MASK]"}  # fmt: skip


def write_hf_tokenizer(directory: Path, tok: Tokenizer, model_max_length: int) -> None:
    """tokenizer.json, vocab.txt, tokenizer_config.json and special_tokens_map.json for AutoTokenizer."""
    special_token_ids(tok)  # raises naming a missing special token
    save_tokenizer(tok, directory)
    norm = find_normalizer(json.loads(tok.to_str()).get("normalizer"))
    lowercase = bool(norm.get("lowercase", False))
    strip = norm.get("strip_accents")
    tok_config = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": lowercase,
        "strip_accents": lowercase if strip is None else bool(strip),
        "tokenize_chinese_chars": bool(norm.get("handle_chinese_chars", True)),
        "model_max_length": model_max_length,
        "clean_up_tokenization_spaces": True,
        **SPECIAL_TOKENS_MAP,
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2) + "\n", encoding="utf-8")
    (directory / "special_tokens_map.json").write_text(json.dumps(SPECIAL_TOKENS_MAP, indent=2) + "\n",
                                                        encoding="utf-8")  # fmt: skip


def find_hf_tokenizer(dirs: list[Path]) -> Tokenizer | None:
    """The tokenizer of the first directory holding tokenizer.json or vocab.txt (with ``do_lower_case`` from
    tokenizer_config.json), or None."""
    for d in dirs:
        if (d / "tokenizer.json").is_file():
            return load_tokenizer(d / "tokenizer.json")
        if (d / "vocab.txt").is_file():
            lowercase = None
            cfg = d / "tokenizer_config.json"
            if cfg.is_file():
                try:
                    value = json.loads(cfg.read_text(encoding="utf-8")).get("do_lower_case")
                except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
                    value = None
                lowercase = bool(value) if value is not None else None
            return load_tokenizer(d / "vocab.txt", lowercase=lowercase)
    return None


def as_tokenizer(tokenizer: Tokenizer | str | Path | None) -> Tokenizer | None:
    """A tokenizer object for an object, a path (file or directory) or None."""
    if tokenizer is None or isinstance(tokenizer, Tokenizer):
        return tokenizer
    return load_tokenizer(Path(tokenizer))
