"""Hugging Face ``transformers`` interop: our models to and from ELECTRA and BERT checkpoint directories.

Export (:func:`save_hf`, :func:`export_hf`) writes directories that ``transformers`` loads offline with
``from_pretrained``: ``ElectraForPreTraining`` for a :class:`~electra.models.Discriminator`,
``ElectraForMaskedLM`` for a :class:`~electra.models.MaskedLM` (ELECTRA's generator, or a model trained
with the MLM objective). Each holds ``config.json``, ``model.safetensors`` and, when a tokenizer is
given, ``tokenizer.json``, ``vocab.txt``, ``tokenizer_config.json`` and ``special_tokens_map.json``.
The embedding table is written with the model's (possibly padded) vocabulary size unless
``trim_vocab`` is set; ``transformers`` accepts a tokenizer smaller than the table.

Import (:func:`load_hf`, :func:`import_hf`) reads ``ElectraForPreTraining`` / ``ElectraModel`` /
``ElectraForMaskedLM`` and ``BertModel`` / ``BertForMaskedLM`` / ``BertForPreTraining`` directories
(with or without the ``electra.`` / ``bert.`` prefix; pooler and next-sentence head ignored) from
``model.safetensors`` (or sharded safetensors), or from a legacy ``pytorch_model.bin`` read with
``torch.load(weights_only=True)``. Nothing is ever unpickled.

The two layouts are the same network: post-LN Transformer layers with exact (erf) GELU, learned
absolute positions, an ELECTRA generator head ``dense -> GELU -> LayerNorm`` tied to the word
embeddings with its own bias (BERT's ``cls.predictions.transform`` is the same head with
``embedding_size == hidden_size``) and a discriminator head ``dense -> GELU -> dense(1)``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer
from torch import nn

from electra.errors import ElectraError
from electra.models import (
    Discriminator,
    Electra,
    ElectraConfig,
    EncoderConfig,
    MaskedLM,
    scaled_generator_config,
)

__all__ = [
    "ImportReport",
    "export_hf",
    "hf_config",
    "hf_state_dict",
    "import_hf",
    "load_as",
    "load_hf",
    "load_hf_with_report",
    "save_hf",
]

DISCRIMINATOR_ARCH = "ElectraForPreTraining"
GENERATOR_ARCH = "ElectraForMaskedLM"
KINDS = ("auto", "discriminator", "generator")
_T = TypeVar("_T")

# Defaults of transformers' ElectraConfig / BertConfig, for config.json files that omit a field.
_HF_DEFAULTS: dict[str, dict[str, Any]] = {
    "electra": {
        "vocab_size": 30522,
        "embedding_size": 128,
        "hidden_size": 256,
        "num_hidden_layers": 12,
        "num_attention_heads": 4,
        "intermediate_size": 1024,
    },
    "bert": {
        "vocab_size": 30522,
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
    },
}
_HF_SHARED_DEFAULTS: dict[str, Any] = {
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
}

# Per-layer sub-module names: ours (under ``encoder.layers.N.``) -> theirs (under ``encoder.layer.N.``).
_LAYER_NAMES = [
    ("attention.query", "attention.self.query"),
    ("attention.key", "attention.self.key"),
    ("attention.value", "attention.self.value"),
    ("attention.output", "attention.output.dense"),
    ("attention_norm", "attention.output.LayerNorm"),
    ("feed_forward.dense_in", "intermediate.dense"),
    ("feed_forward.dense_out", "output.dense"),
    ("ffn_norm", "output.LayerNorm"),
]
_DISC_HEAD = [
    ("head.dense", "discriminator_predictions.dense"),
    ("head.out", "discriminator_predictions.dense_prediction"),
]
_ELECTRA_MLM_HEAD = [
    ("head.dense", "generator_predictions.dense"),
    ("head.layer_norm", "generator_predictions.LayerNorm"),
]
_BERT_MLM_HEAD = [
    ("head.dense", "cls.predictions.transform.dense"),
    ("head.layer_norm", "cls.predictions.transform.LayerNorm"),
]
_ELECTRA_MLM_BIAS, _ELECTRA_MLM_WEIGHT = "generator_lm_head.bias", "generator_lm_head.weight"
_BERT_MLM_BIAS, _BERT_DECODER_WEIGHT, _BERT_DECODER_BIAS = (
    "cls.predictions.bias",
    "cls.predictions.decoder.weight",
    "cls.predictions.decoder.bias",
)
_WORD_EMB = "embeddings.word_embeddings.weight"
# HF tensors that are not weights of the encoder or of a pretraining head we map: buffers, BERT's
# pooler and next-sentence-prediction head.
_IGNORED = re.compile(r"^(embeddings\.(position_ids|token_type_ids)|pooler\..*|cls\.seq_relationship\..*)$")


def _wb(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Expand module-name pairs into ``.weight`` / ``.bias`` parameter-name pairs."""
    return [(f"{a}.{p}", f"{b}.{p}") for a, b in pairs for p in ("weight", "bias")]


def _body_pairs(num_layers: int, projection: bool) -> list[tuple[str, str]]:
    """(our name under ``encoder.``, HF name without the ``electra.``/``bert.`` prefix) for the encoder."""
    pairs = [
        ("embeddings.word_embeddings.weight", _WORD_EMB),
        ("embeddings.position_embeddings.weight", "embeddings.position_embeddings.weight"),
        ("embeddings.token_type_embeddings.weight", "embeddings.token_type_embeddings.weight"),
        *_wb([("embeddings.layer_norm", "embeddings.LayerNorm")]),
    ]
    if projection:
        pairs += _wb([("projection", "embeddings_project")])
    for i in range(num_layers):
        pairs += _wb((f"layers.{i}.{ours}", f"encoder.layer.{i}.{theirs}") for ours, theirs in _LAYER_NAMES)
    return pairs


# --------------------------------------------------------------------------------------------- export


def _check_post_ln(config: EncoderConfig, what: str) -> None:
    if config.norm_first:
        raise ElectraError(
            f"cannot export {what}: it is a pre-LN model (model.norm_first = true); Hugging Face "
            "ELECTRA and BERT are post-LN and cannot represent it"
        )


def hf_config(
    config: EncoderConfig, architecture: str, vocab_size: int | None = None, pad_token_id: int | None = None
) -> dict[str, Any]:
    """The ``config.json`` of ``transformers``' ElectraConfig for an encoder of shape ``config``."""
    return {
        "architectures": [architecture],
        "model_type": "electra",
        "vocab_size": vocab_size if vocab_size is not None else config.vocab_size,
        "embedding_size": config.embedding_size,
        "hidden_size": config.hidden_size,
        "num_hidden_layers": config.num_layers,
        "num_attention_heads": config.num_heads,
        "intermediate_size": config.intermediate_size,
        "hidden_act": "gelu",
        "hidden_dropout_prob": config.dropout,
        "attention_probs_dropout_prob": config.attention_dropout,
        "max_position_embeddings": config.max_position_embeddings,
        "type_vocab_size": max(config.type_vocab_size, 1),
        "initializer_range": config.initializer_range,
        "layer_norm_eps": config.layer_norm_eps,
        "pad_token_id": pad_token_id if pad_token_id is not None else config.pad_token_id,
        "position_embedding_type": "absolute",
        "is_decoder": False,
        "add_cross_attention": False,
        "tie_word_embeddings": True,
        "dtype": "float32",
    }


def hf_state_dict(model: Discriminator | MaskedLM, vocab_size: int | None = None) -> dict[str, torch.Tensor]:
    """``model``'s weights under ``ElectraForPreTraining`` / ``ElectraForMaskedLM`` names.

    ``vocab_size`` (at most the model's) keeps only the first rows of the word embeddings and of the
    generator's output bias. The tied ``generator_lm_head.weight`` is left out, as ``transformers``
    does. Tensors are fresh contiguous float copies, safe to pass to ``safetensors``.
    """
    cfg = model.config
    ours = model.state_dict()
    rows = cfg.vocab_size if vocab_size is None else vocab_size
    out: dict[str, torch.Tensor] = {}
    for mine, theirs in _body_pairs(cfg.num_layers, model.encoder.projection is not None):
        if (
            mine == "embeddings.token_type_embeddings.weight"
            and model.encoder.embeddings.token_type_embeddings is None
        ):
            # No segment embeddings: a single all-zero row adds nothing, exactly like ours.
            out[f"electra.{theirs}"] = torch.zeros(1, cfg.embedding_size)
            continue
        out[f"electra.{theirs}"] = ours[f"encoder.{mine}"]
    out[f"electra.{_WORD_EMB}"] = out[f"electra.{_WORD_EMB}"][:rows]
    if isinstance(model, Discriminator):
        out.update({theirs: ours[mine] for mine, theirs in _wb(_DISC_HEAD)})
    elif isinstance(model, MaskedLM):
        out.update({theirs: ours[mine] for mine, theirs in _wb(_ELECTRA_MLM_HEAD)})
        out[_ELECTRA_MLM_BIAS] = ours["head.bias"][:rows]
    else:
        raise TypeError(f"expected a Discriminator or MaskedLM, got {type(model).__name__}")
    return {k: v.detach().to("cpu", torch.float32).clone().contiguous() for k, v in out.items()}


def _as_tokenizer(tokenizer: Tokenizer | str | Path | None) -> Tokenizer | None:
    if tokenizer is None or isinstance(tokenizer, Tokenizer):
        return tokenizer
    from electra.data.tokenizer import load_tokenizer

    return load_tokenizer(Path(tokenizer))


def _find_normalizer(node: Any) -> dict[str, Any]:
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
            found.update({k: v for k, v in _find_normalizer(child).items() if k != "type"})
        return found
    if node.get("type") == "Lowercase":
        return {"lowercase": True}
    return {}


def _write_tokenizer(directory: Path, tok: Tokenizer, model_max_length: int) -> None:
    """tokenizer.json, vocab.txt, tokenizer_config.json and special_tokens_map.json for AutoTokenizer."""
    from electra.data.tokenizer import save_tokenizer, special_token_ids

    special_token_ids(tok)  # raises naming a missing special token
    save_tokenizer(tok, directory)
    norm = _find_normalizer(json.loads(tok.to_str()).get("normalizer"))
    lowercase = bool(norm.get("lowercase", False))
    strip = norm.get("strip_accents")
    specials = {
        "unk_token": "[UNK]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
    }
    tok_config = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": lowercase,
        "strip_accents": lowercase if strip is None else bool(strip),
        "tokenize_chinese_chars": bool(norm.get("handle_chinese_chars", True)),
        "model_max_length": model_max_length,
        "clean_up_tokenization_spaces": True,
        **specials,
    }
    (directory / "tokenizer_config.json").write_text(
        json.dumps(tok_config, indent=2) + "\n", encoding="utf-8"
    )
    (directory / "special_tokens_map.json").write_text(
        json.dumps(specials, indent=2) + "\n", encoding="utf-8"
    )


def _write_one(
    model: Discriminator | MaskedLM,
    directory: Path,
    tok: Tokenizer | None,
    pad_token_id: int | None,
    trim_vocab: bool,
) -> Path:
    arch = DISCRIMINATOR_ARCH if isinstance(model, Discriminator) else GENERATOR_ARCH
    _check_post_ln(model.config, arch)
    rows = model.config.vocab_size
    if tok is not None:
        n = tok.get_vocab_size(with_added_tokens=True)
        if n > rows:
            raise ElectraError(
                f"the tokenizer has {n} tokens but the model's embedding table only {rows} rows"
            )
        if trim_vocab:
            rows = n
    elif trim_vocab:
        raise ElectraError("trim_vocab needs the tokenizer (to know the vocabulary size)")
    directory.mkdir(parents=True, exist_ok=True)
    config = hf_config(model.config, arch, rows, pad_token_id)
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    try:
        save_file(hf_state_dict(model, rows), str(directory / "model.safetensors"), metadata={"format": "pt"})
    except OSError as e:
        raise ElectraError(f"could not write {directory / 'model.safetensors'}: {e.strerror or e}") from None
    if tok is not None:
        _write_tokenizer(directory, tok, model.config.max_position_embeddings)
    return directory


def save_hf(
    model: nn.Module,
    directory: str | Path,
    tokenizer: Tokenizer | str | Path | None = None,
    trim_vocab: bool = False,
) -> dict[str, Path]:
    """Write ``model`` as ``transformers`` checkpoint directories; returns them keyed by role.

    An :class:`Electra` goes to ``directory/discriminator`` (``ElectraForPreTraining``) and
    ``directory/generator`` (``ElectraForMaskedLM``); a :class:`Discriminator` or :class:`MaskedLM`
    goes to ``directory`` itself. ``tokenizer`` (a ``tokenizers.Tokenizer`` or a path) adds the tokenizer
    files and sets ``pad_token_id``; ``trim_vocab`` cuts the (padded) embedding table to its size.
    """
    directory = Path(directory)
    tok = _as_tokenizer(tokenizer)
    pad = None
    if tok is not None:
        from electra.data.tokenizer import special_token_ids

        pad = special_token_ids(tok)["pad"]
    if isinstance(model, Electra):
        _check_post_ln(model.config.discriminator, "the ELECTRA model")
        return {
            "discriminator": _write_one(
                model.discriminator, directory / "discriminator", tok, pad, trim_vocab
            ),
            "generator": _write_one(model.generator, directory / "generator", tok, pad, trim_vocab),
        }
    if isinstance(model, Discriminator):
        return {"discriminator": _write_one(model, directory, tok, pad, trim_vocab)}
    if isinstance(model, MaskedLM):
        return {"generator": _write_one(model, directory, tok, pad, trim_vocab)}
    raise ElectraError(f"cannot export a {type(model).__name__}: expected Electra, Discriminator or MaskedLM")


def export_hf(checkpoint: str | Path, out_dir: str | Path, trim_vocab: bool = False) -> dict[str, Path]:
    """Export a checkpoint (or the newest one of a run directory) to ``out_dir/{discriminator,generator}``.

    An ELECTRA checkpoint gives both directories. A checkpoint trained with the MLM objective has no
    discriminator: its masked LM is written as a generator-style ``ElectraForMaskedLM`` to
    ``out_dir/generator`` only. Returns the directories written, keyed by role.
    """
    from electra.data.tokenizer import load_tokenizer
    from electra.pretraining.builder import load_pretrained

    pre = load_pretrained(Path(checkpoint))
    tok_file = pre.path / "tokenizer.json"
    tok = load_tokenizer(tok_file if tok_file.is_file() else pre.path)
    model_vocab = pre.generator.config.vocab_size
    if tok.get_vocab_size(with_added_tokens=True) > model_vocab:
        raise ElectraError(f"checkpoint {pre.path}: its tokenizer is larger than the model's vocabulary")
    out_dir = Path(out_dir)
    if isinstance(pre.model, Electra):
        return save_hf(pre.model, out_dir, tok, trim_vocab)
    return save_hf(pre.model, out_dir / "generator", tok, trim_vocab)


# --------------------------------------------------------------------------------------------- import


@dataclass
class _HFDir:
    """A ``transformers`` checkpoint directory: its config and its tensors with normalised names."""

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
    def architecture(self) -> str:
        """The first of config.json's ``architectures`` (or the model type)."""
        archs = self.config.get("architectures") or []
        return archs[0] if archs else self.model_type


@dataclass
class ImportReport:
    """What an import did: the kind of model built, freshly initialised parts, HF tensors not used."""

    kind: str  # "discriminator", "generator" or "electra"
    sources: list[str]
    fresh: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def _weights_file(path: Path) -> Path:
    for name in (
        "model.safetensors",
        "model.safetensors.index.json",
        "pytorch_model.bin",
        "pytorch_model.bin.index.json",
    ):
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
    except Exception as e:  # noqa: BLE001 - any refusal by the safe unpickler is a bad file for the user
        raise ElectraError(f"cannot read {file} safely (weights_only): {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ElectraError(f"{file} is not a state dict of tensors")
    return dict(data)


def _read_weights(file: Path) -> dict[str, torch.Tensor]:
    if not file.name.endswith(".index.json"):
        return _load_tensor_file(file)
    try:
        weight_map = json.loads(file.read_text(encoding="utf-8"))["weight_map"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as e:
        raise ElectraError(f"shard index {file} is not valid: {e}") from None
    tensors: dict[str, torch.Tensor] = {}
    for shard in sorted(set(weight_map.values())):
        if "/" in shard or "\\" in shard or not (file.parent / shard).is_file():
            raise ElectraError(f"shard index {file} names a missing or invalid shard {shard!r}")
        tensors.update(_load_tensor_file(file.parent / shard))
    return tensors


def _read_hf_dir(path: str | Path) -> _HFDir:
    path = Path(path)
    if not path.is_dir():
        raise ElectraError(f"Hugging Face checkpoint directory not found: {path}")
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise ElectraError(f"{path} has no config.json (expected a Hugging Face checkpoint directory)")
    try:
        config = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ElectraError(f"{cfg_file} is not valid JSON: {e}") from None
    if not isinstance(config, dict):
        raise ElectraError(f"{cfg_file} is not a JSON object")
    if config.get("format") == "electra":
        raise ElectraError(f"{path} is one of this project's checkpoints, not a Hugging Face one")
    model_type = config.get("model_type")
    if model_type is None:
        arch = (config.get("architectures") or [""])[0]
        model_type = "electra" if arch.startswith("Electra") else "bert" if arch.startswith("Bert") else None
    if model_type not in ("electra", "bert"):
        raise ElectraError(
            f"{cfg_file}: model_type {model_type!r} is not supported (expected 'electra' or 'bert')"
        )
    for key, default in {**_HF_SHARED_DEFAULTS, **_HF_DEFAULTS[model_type]}.items():
        config.setdefault(key, default)
    if config["hidden_act"] != "gelu":
        raise ElectraError(
            f"{cfg_file}: hidden_act {config['hidden_act']!r} is not supported (only exact 'gelu')"
        )
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise ElectraError(
            f"{cfg_file}: position_embedding_type {config['position_embedding_type']!r} is not supported "
            "(only 'absolute')"
        )
    if config.get("is_decoder") or config.get("add_cross_attention"):
        raise ElectraError(f"{cfg_file}: decoder / cross-attention models are not supported")
    if config["hidden_size"] % config["num_attention_heads"]:
        raise ElectraError(
            f"{cfg_file}: hidden_size {config['hidden_size']} is not divisible by num_attention_heads "
            f"{config['num_attention_heads']}"
        )
    weights = _weights_file(path)
    raw = _read_weights(weights)
    prefix = f"{model_type}."
    tensors: dict[str, torch.Tensor] = {}
    original: dict[str, str] = {}
    for name, tensor in raw.items():
        norm = name[len(prefix) :] if name.startswith(prefix) else name
        norm = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", norm)
        norm = re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", norm)
        if norm in tensors:
            raise ElectraError(
                f"{weights}: tensor {name!r} appears twice (with and without the {prefix!r} prefix)"
            )
        tensors[norm] = tensor
        original[norm] = name
    return _HFDir(path, weights, config, model_type, tensors, original)


def _encoder_config(hf: _HFDir) -> EncoderConfig:
    c = hf.config
    if not isinstance(c["type_vocab_size"], int) or c["type_vocab_size"] < 1:
        raise ElectraError(
            f"{hf.path / 'config.json'}: type_vocab_size {c['type_vocab_size']!r} is not supported"
        )
    try:
        return EncoderConfig(
            vocab_size=int(c["vocab_size"]),
            hidden_size=int(c["hidden_size"]),
            num_layers=int(c["num_hidden_layers"]),
            num_heads=int(c["num_attention_heads"]),
            intermediate_size=int(c["intermediate_size"]),
            embedding_size=int(c["embedding_size"]) if hf.model_type == "electra" else int(c["hidden_size"]),
            max_position_embeddings=int(c["max_position_embeddings"]),
            type_vocab_size=int(c["type_vocab_size"]),
            dropout=float(c["hidden_dropout_prob"]),
            attention_dropout=float(c["attention_probs_dropout_prob"]),
            layer_norm_eps=float(c["layer_norm_eps"]),
            initializer_range=float(c["initializer_range"]),
            norm_first=False,
            pad_token_id=int(c["pad_token_id"] if c["pad_token_id"] is not None else 0),
        )
    except (TypeError, ValueError) as e:
        raise ElectraError(f"{hf.path / 'config.json'}: a size field is not a number ({e})") from None


def _head_kind(hf: _HFDir) -> str | None:
    """ "discriminator", "generator" or None (bare encoder), from the head tensors present."""
    names = hf.tensors.keys()
    if hf.model_type == "electra":
        disc = any(n.startswith("discriminator_predictions.") for n in names)
        gen = any(n.startswith(("generator_predictions.", "generator_lm_head.")) for n in names)
        if disc and gen:
            raise ElectraError(f"{hf.weights} holds both a discriminator and a generator head")
        return "discriminator" if disc else "generator" if gen else None
    return "generator" if any(n.startswith("cls.predictions.") for n in names) else None


def _copy(target: torch.Tensor, hf: _HFDir, name: str, ours: str) -> None:
    if name not in hf.tensors:
        raise ElectraError(f"{hf.weights}: missing tensor {name!r} (needed for {ours})")
    found = hf.tensors[name]
    if tuple(found.shape) != tuple(target.shape):
        raise ElectraError(
            f"{hf.where(name)} has shape {list(found.shape)}, expected {list(target.shape)} "
            f"(for {ours}, from {hf.path / 'config.json'})"
        )
    with torch.no_grad():
        target.copy_(found)


def _fill(
    model: Discriminator | MaskedLM, hf: _HFDir, kind: str, report: ImportReport, skip_embeddings: bool
) -> set[str]:
    """Copy ``hf``'s tensors into ``model``; returns the HF names used. Missing heads are left fresh."""
    ours = model.state_dict(keep_vars=True)
    used: set[str] = set()
    projection = model.encoder.projection is not None
    if hf.model_type == "bert" and "embeddings_project.weight" in hf.tensors:
        raise ElectraError(f"{hf.where('embeddings_project.weight')} is not part of a BERT model")
    if not projection and "embeddings_project.weight" in hf.tensors:
        raise ElectraError(
            f"{hf.where('embeddings_project.weight')} is unexpected: embedding_size equals hidden_size in "
            f"{hf.path / 'config.json'}"
        )
    for mine, theirs in _body_pairs(model.config.num_layers, projection):
        if skip_embeddings and mine.startswith("embeddings."):
            used.add(theirs)
            continue
        _copy(ours[f"encoder.{mine}"], hf, theirs, f"encoder.{mine}")
        used.add(theirs)
    role = hf.architecture
    if kind == "discriminator":
        if _head_kind(hf) == "discriminator":
            for mine, theirs in _wb(_DISC_HEAD):
                _copy(ours[mine], hf, theirs, mine)
                used.add(theirs)
        else:
            report.fresh.append(f"discriminator head (not in {role} {hf.path})")
    elif _head_kind(hf) == "generator":
        electra = hf.model_type == "electra"
        for mine, theirs in _wb(_ELECTRA_MLM_HEAD if electra else _BERT_MLM_HEAD):
            _copy(ours[mine], hf, theirs, mine)
            used.add(theirs)
        bias, weight = (
            (_ELECTRA_MLM_BIAS, _ELECTRA_MLM_WEIGHT) if electra else (_BERT_MLM_BIAS, _BERT_DECODER_WEIGHT)
        )
        if not electra and bias not in hf.tensors and _BERT_DECODER_BIAS in hf.tensors:
            bias = _BERT_DECODER_BIAS
        _copy(ours["head.bias"], hf, bias, "head.bias")
        used.add(bias)
        if weight in hf.tensors:
            ref = hf.tensors.get(_WORD_EMB)
            if ref is not None and (
                hf.tensors[weight].shape != ref.shape or not torch.equal(hf.tensors[weight], ref)
            ):
                raise ElectraError(
                    f"{hf.where(weight)} differs from the word embeddings (an untied output layer); this "
                    "project's masked-LM head is tied to the word embeddings"
                )
            used.add(weight)
        elif hf.config.get("tie_word_embeddings") is False:
            raise ElectraError(
                f"{hf.path / 'config.json'}: tie_word_embeddings is false but {weight} is missing"
            )
        if not electra and _BERT_DECODER_BIAS in hf.tensors and bias != _BERT_DECODER_BIAS:
            used.add(_BERT_DECODER_BIAS)
    else:
        report.fresh.append(f"masked-LM head (not in {role} {hf.path})")
    for name in hf.tensors:
        if name in used:
            continue
        if _IGNORED.match(name) or name.startswith(("discriminator_predictions.", "generator_", "cls.")):
            report.ignored.append(hf.original.get(name, name))
            continue
        raise ElectraError(
            f"{hf.where(name)} is unexpected: not part of an ELECTRA/BERT encoder or of a pretraining head"
        )
    return used


def _resolve_kind(hf: _HFDir, kind: str) -> str:
    if kind not in KINDS:
        raise ElectraError(f"unknown import kind {kind!r} (expected one of {', '.join(KINDS)})")
    if kind != "auto":
        return kind
    return _head_kind(hf) or "discriminator"


def _find_multiplier(disc: EncoderConfig, gen: EncoderConfig, where: Path) -> float:
    """The width multiplier that turns ``disc`` into ``gen`` in :func:`scaled_generator_config`."""
    for key, a, b in (
        ("num_hidden_layers", disc.num_layers, gen.num_layers),
        ("embedding_size", disc.embedding_size, gen.embedding_size),
        ("vocab_size", disc.vocab_size, gen.vocab_size),
        ("max_position_embeddings", disc.max_position_embeddings, gen.max_position_embeddings),
        ("type_vocab_size", disc.type_vocab_size, gen.type_vocab_size),
        ("layer_norm_eps", disc.layer_norm_eps, gen.layer_norm_eps),
    ):
        if a != b:
            raise ElectraError(
                f"{where / 'config.json'}: generator {key} = {b} differs from the discriminator's {a}; "
                "an ELECTRA model here shares embeddings and depth between the two"
            )
    for m in (
        gen.hidden_size / disc.hidden_size,
        gen.num_heads / disc.num_heads,
        gen.intermediate_size / disc.intermediate_size,
    ):
        s = scaled_generator_config(disc, m)
        if 0 < m <= 1 and (s.hidden_size, s.num_heads, s.intermediate_size) == (
            gen.hidden_size,
            gen.num_heads,
            gen.intermediate_size,
        ):
            return m
    raise ElectraError(
        f"{where / 'config.json'}: generator sizes (hidden {gen.hidden_size}, heads {gen.num_heads}, FFN "
        f"{gen.intermediate_size}) are not one width multiplier <= 1 of the discriminator's (hidden "
        f"{disc.hidden_size}, heads {disc.num_heads}, FFN {disc.intermediate_size})"
    )


def _fresh(seed: int, build: Callable[[], _T]) -> _T:
    """Build a module with its fresh parameters drawn from ``seed``, leaving the global RNG as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _with_fresh_generator(disc: Discriminator, multiplier: float, seed: int, report: ImportReport) -> Electra:
    """An :class:`Electra` around ``disc`` whose generator (sharing its embeddings) is freshly initialised."""
    if not 0 < multiplier <= 1:
        raise ElectraError(f"generator multiplier {multiplier} is out of range (expected in (0, 1])")
    g = scaled_generator_config(disc.config, multiplier)
    if g.hidden_size % g.num_heads:
        raise ElectraError(
            f"generator multiplier {multiplier:g} gives hidden size {g.hidden_size}, not divisible by its "
            f"{g.num_heads} heads; choose another multiplier"
        )
    electra: Electra = _fresh(seed, lambda: Electra(ElectraConfig(disc.config, multiplier)))
    electra.discriminator.load_state_dict(disc.state_dict())
    report.kind = "electra"
    report.fresh.append(
        f"generator (width multiplier {multiplier:g}; embeddings shared with the discriminator)"
    )
    return electra


def _check_shared_embeddings(electra: Electra, gen_hf: _HFDir) -> None:
    shared = electra.embeddings.state_dict()
    for mine, theirs in _body_pairs(0, False):
        key = mine.removeprefix("embeddings.")
        if theirs not in gen_hf.tensors:
            raise ElectraError(f"{gen_hf.weights}: missing tensor {theirs!r}")
        t = gen_hf.tensors[theirs]
        if tuple(t.shape) != tuple(shared[key].shape):
            raise ElectraError(
                f"{gen_hf.where(theirs)} has shape {list(t.shape)}, expected {list(shared[key].shape)} "
                "(the discriminator's)"
            )
        if not torch.equal(t.to(shared[key].dtype), shared[key]):
            diff = (t.to(shared[key].dtype) - shared[key]).abs().max().item()
            raise ElectraError(
                f"{gen_hf.where(theirs)} differs from the discriminator's (max abs diff {diff:.3g}); ELECTRA "
                "shares embeddings between generator and discriminator (keep the discriminator's with "
                "--keep-discriminator-embeddings / check_shared=False)"
            )


def load_hf_with_report(
    hf_dir: str | Path,
    generator_dir: str | Path | None = None,
    kind: str = "auto",
    check_shared: bool = True,
    generator_multiplier: float | None = None,
    seed: int = 0,
) -> tuple[nn.Module, ImportReport]:
    """Like :func:`load_hf`, also returning what was imported, freshly initialised and ignored."""
    if generator_dir is not None and generator_multiplier is not None:
        raise ElectraError("give either a generator directory or a generator multiplier, not both")
    if (generator_dir is not None or generator_multiplier is not None) and kind not in (
        "auto",
        "discriminator",
    ):
        raise ElectraError(
            f"with a generator the import builds an ELECTRA model; kind {kind!r} does not apply"
        )
    hf = _read_hf_dir(hf_dir)
    enc = _encoder_config(hf)
    kind = (
        "discriminator"
        if generator_dir is not None or generator_multiplier is not None
        else _resolve_kind(hf, kind)
    )
    report = ImportReport(kind, [f"{hf.architecture} {hf.path}"])
    if generator_dir is None:
        model: Discriminator | MaskedLM = _fresh(
            seed, lambda: Discriminator(enc) if kind == "discriminator" else MaskedLM(enc)
        )
        _fill(model, hf, kind, report, skip_embeddings=False)
        if generator_multiplier is not None and isinstance(model, Discriminator):
            return _with_fresh_generator(model, generator_multiplier, seed, report).eval(), report
        return model.eval(), report

    gen_hf = _read_hf_dir(generator_dir)
    if _head_kind(gen_hf) != "generator":
        raise ElectraError(
            f"{gen_hf.weights}: the generator directory has no masked-LM head (expected ElectraForMaskedLM)"
        )
    multiplier = _find_multiplier(enc, _encoder_config(gen_hf), gen_hf.path)
    report.kind = "electra"
    report.sources.append(f"{gen_hf.architecture} {gen_hf.path}")
    electra: Electra = _fresh(seed, lambda: Electra(ElectraConfig(enc, multiplier)))
    _fill(electra.discriminator, hf, "discriminator", report, skip_embeddings=False)
    if check_shared:
        _check_shared_embeddings(electra, gen_hf)
    _fill(electra.generator, gen_hf, "generator", report, skip_embeddings=True)
    return electra.eval(), report


def load_hf(
    hf_dir: str | Path,
    generator_dir: str | Path | None = None,
    kind: str = "auto",
    check_shared: bool = True,
    generator_multiplier: float | None = None,
    seed: int = 0,
) -> nn.Module:
    """Read a ``transformers`` ELECTRA or BERT checkpoint directory into one of our models (eval mode).

    ``kind`` ``"auto"`` gives a :class:`MaskedLM` for a checkpoint with a masked-LM head
    (``ElectraForMaskedLM``, ``BertForMaskedLM``, ``BertForPreTraining``) and a :class:`Discriminator`
    otherwise (``ElectraForPreTraining``; for ``ElectraModel`` / ``BertModel`` its head is freshly
    initialised). ``"discriminator"`` / ``"generator"`` force one (unused head tensors are ignored).
    With ``generator_dir`` (an ``ElectraForMaskedLM``) the result is an :class:`Electra` whose
    generator width multiplier is inferred from the two configs; the generator's embeddings must
    equal the discriminator's unless ``check_shared`` is False. With ``generator_multiplier`` instead,
    the :class:`Electra` gets a fresh generator of that width. Fresh parameters are drawn from ``seed``.
    """
    return load_hf_with_report(hf_dir, generator_dir, kind, check_shared, generator_multiplier, seed)[0]


def _hf_tokenizer(dirs: list[Path]) -> Tokenizer | None:
    """The tokenizer of the first directory holding tokenizer.json or vocab.txt, or None."""
    from electra.data.tokenizer import load_tokenizer

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


def _pair_dirs(path: Path) -> tuple[Path, Path] | None:
    """``(discriminator, generator)`` sub-directories of an export made by :func:`export_hf`, if any."""
    if (path / "config.json").is_file():
        return None
    disc, gen = path / "discriminator", path / "generator"
    if (disc / "config.json").is_file() and (gen / "config.json").is_file():
        return disc, gen
    return None


def import_hf(
    hf_dir: str | Path,
    out_dir: str | Path,
    generator_dir: str | Path | None = None,
    kind: str = "auto",
    tokenizer: Tokenizer | str | Path | None = None,
    generator_multiplier: float | None = None,
    check_shared: bool = True,
    seed: int = 0,
) -> tuple[Path, ImportReport]:
    """Convert a ``transformers`` checkpoint into this project's checkpoint format; returns its path.

    ``out_dir`` is a run directory: the checkpoint is written to ``out_dir/checkpoint-0000000`` (no
    trainer state), which :func:`electra.pretraining.builder.load_pretrained`, ``electra detect`` /
    ``fill-mask`` and ``electra export`` read. ``hf_dir`` may also be a directory written by
    :func:`export_hf` (with ``discriminator/`` and ``generator/``). Our checkpoints hold either an
    ELECTRA model or an MLM-objective masked LM, so:

    * discriminator + generator -> ELECTRA checkpoint, all weights imported;
    * a masked LM alone (``kind`` auto/generator) -> MLM-objective checkpoint;
    * a discriminator / encoder alone -> ELECTRA checkpoint whose generator (width
      ``generator_multiplier``, default 0.25) and any missing head are freshly initialised from ``seed``.

    The tokenizer comes from ``tokenizer`` or else from ``hf_dir`` / ``generator_dir``
    (``tokenizer.json``, or ``vocab.txt`` with ``do_lower_case`` from ``tokenizer_config.json``).
    """
    from electra.config import PretrainConfig
    from electra.data.tokenizer import special_token_ids
    from electra.train.checkpoint import checkpoint_dirs, save_checkpoint

    hf_dir, out_dir = Path(hf_dir), Path(out_dir)
    for d in (hf_dir, generator_dir):
        if d is not None and not Path(d).is_dir():
            raise ElectraError(f"Hugging Face checkpoint directory not found: {d}")
    if generator_dir is None and (pair := _pair_dirs(hf_dir)) is not None:
        hf_dir, generator_dir = pair
    if (out_dir / "config.json").is_file() or checkpoint_dirs(out_dir):
        raise ElectraError(f"{out_dir} already holds a checkpoint; choose another output directory")
    if generator_dir is not None and generator_multiplier is not None:
        raise ElectraError("give either a generator directory or a generator multiplier, not both")
    tok_dirs = [hf_dir, *([Path(generator_dir)] if generator_dir else [])]
    tok = _as_tokenizer(tokenizer) or _hf_tokenizer(tok_dirs)
    if tok is None:
        raise ElectraError(f"no tokenizer.json or vocab.txt in {hf_dir}; pass a tokenizer (--tokenizer)")
    model, report = load_hf_with_report(hf_dir, generator_dir, kind, check_shared, None, seed)
    if isinstance(model, Discriminator):
        multiplier = 0.25 if generator_multiplier is None else generator_multiplier
        model = _with_fresh_generator(model, multiplier, seed, report)
    elif generator_multiplier is not None and not isinstance(model, Electra):
        raise ElectraError("a generator multiplier applies only to a discriminator import")
    special = special_token_ids(tok)
    enc = model.discriminator.config if isinstance(model, Electra) else model.config
    n_tok = tok.get_vocab_size(with_added_tokens=True)
    if n_tok > enc.vocab_size:
        raise ElectraError(
            f"the tokenizer has {n_tok} tokens but the model's vocab_size is {enc.vocab_size} "
            f"({hf_dir / 'config.json'})"
        )
    norm = _find_normalizer(json.loads(tok.to_str()).get("normalizer"))

    cfg = PretrainConfig()
    m = cfg.model
    for name in (
        "hidden_size",
        "num_layers",
        "num_heads",
        "intermediate_size",
        "embedding_size",
        "max_position_embeddings",
        "type_vocab_size",
        "dropout",
        "attention_dropout",
        "layer_norm_eps",
        "initializer_range",
    ):
        setattr(m, name, getattr(enc, name))
    m.norm_first = False
    if isinstance(model, Electra):
        m.generator_multiplier = model.config.generator_multiplier
        cfg.objective.kind = "electra"
    else:
        cfg.objective.kind = "mlm"
        cfg.objective.mask_token_prob, cfg.objective.random_token_prob = 0.8, 0.1
    cfg.data.lowercase = bool(norm.get("lowercase", False))
    cfg.data.vocab_size = max(n_tok, 10)
    cfg.data.max_seq_length = max(8, min(128, enc.max_position_embeddings))
    cfg.validate()

    vocab = sorted(tok.get_vocab(with_added_tokens=True).items(), key=lambda kv: kv[1])
    meta = {
        "config": cfg.to_dict(),
        "vocab_size": enc.vocab_size,
        "special_ids": special,
        "imported_from": report.sources,
    }
    files = {"tokenizer.json": tok.to_str(pretty=True), "vocab.txt": "".join(f"{w}\n" for w, _ in vocab)}
    path = save_checkpoint(out_dir, 0, model, meta, files)
    return path, report


# ------------------------------------------------------------------------------- from_pretrained

M = TypeVar("M", bound=nn.Module)


def _is_ours(path: Path) -> bool:
    cfg = path / "config.json"
    if cfg.is_file():
        try:
            return json.loads(cfg.read_text(encoding="utf-8")).get("format") == "electra"
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            return False
    from electra.train.checkpoint import checkpoint_dirs

    return bool(checkpoint_dirs(path))


def load_as(cls: type[M], directory: str | Path) -> M:
    """``cls.from_pretrained(directory)`` for :class:`Electra`, :class:`Discriminator`, :class:`MaskedLM`.

    ``directory`` is one of our checkpoints (or a run directory), an export with ``discriminator/``
    and ``generator/`` sub-directories, or a single ``transformers`` ELECTRA/BERT directory.
    """
    directory = Path(directory)
    if not directory.exists():
        raise ElectraError(f"model directory not found: {directory}")
    if _is_ours(directory):
        from electra.pretraining.builder import load_pretrained

        pre = load_pretrained(directory)
        model: nn.Module
        if issubclass(cls, Electra):
            if not isinstance(pre.model, Electra):
                raise ElectraError(
                    f"checkpoint {pre.path} was trained with the MLM objective: it is not an ELECTRA model"
                )
            model = pre.model
        elif issubclass(cls, Discriminator):
            model = pre.discriminator
        else:
            model = pre.generator
    else:
        pair = _pair_dirs(directory)
        if issubclass(cls, Electra):
            if pair is None:
                raise ElectraError(f"{directory} has no discriminator/ and generator/ sub-directories")
            model = load_hf(pair[0], pair[1])
        elif issubclass(cls, Discriminator):
            model = load_hf(pair[0] if pair else directory, kind="discriminator")
        else:
            model = load_hf(pair[1] if pair else directory, kind="generator")
    if not isinstance(model, cls):
        raise ElectraError(f"{directory} does not hold a {cls.__name__}")
    return model.eval()
