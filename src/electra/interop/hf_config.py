"""Configuration translation: our :class:`~electra.models.EncoderConfig` to and from ``transformers``'
``config.json`` (ELECTRA and BERT)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from electra.core.errors import ElectraError
from electra.models import EncoderConfig

DISCRIMINATOR_ARCH = "ElectraForPreTraining"
GENERATOR_ARCH = "ElectraForMaskedLM"

# Defaults of transformers' ElectraConfig / BertConfig, for config.json files that omit a field.
HF_DEFAULTS: dict[str, dict[str, Any]] = {
    "electra": {"vocab_size": 30522, "embedding_size": 128, "hidden_size": 256, "num_hidden_layers": 12,
                "num_attention_heads": 4, "intermediate_size": 1024},
    "bert": {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
             "intermediate_size": 3072},
}  # fmt: skip
HF_SHARED_DEFAULTS: dict[str, Any] = {
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
}


def check_post_ln(config: EncoderConfig, what: str) -> None:
    """Refuse pre-LN models: Hugging Face ELECTRA and BERT cannot represent them."""
    if config.norm_first:
        raise ElectraError(
            f"cannot export {what}: it is a pre-LN model (model.norm_first = true); Hugging Face "
            "ELECTRA and BERT are post-LN and cannot represent it"
        )


def to_hf_config(config: EncoderConfig, architecture: str, vocab_size: int | None = None,
                 pad_token_id: int | None = None) -> dict[str, Any]:  # fmt: skip
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


def complete_hf_config(config: dict[str, Any], model_type: str, file: Path) -> dict[str, Any]:
    """``config`` with transformers' defaults filled in; one-line errors for what we cannot represent."""
    config = {**HF_SHARED_DEFAULTS, **HF_DEFAULTS[model_type], **config}
    if config["hidden_act"] != "gelu":
        raise ElectraError(f"{file}: hidden_act {config['hidden_act']!r} is not supported (only exact 'gelu')")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise ElectraError(
            f"{file}: position_embedding_type {config['position_embedding_type']!r} is not supported (only 'absolute')"
        )
    if config.get("is_decoder") or config.get("add_cross_attention"):
        raise ElectraError(f"{file}: decoder / cross-attention models are not supported")
    if config["hidden_size"] % config["num_attention_heads"]:
        raise ElectraError(
            f"{file}: hidden_size {config['hidden_size']} is not divisible by num_attention_heads "
            f"{config['num_attention_heads']}"
        )
    return config


def from_hf_config(c: dict[str, Any], model_type: str, file: Path) -> EncoderConfig:
    """Our encoder config for a (completed) ``transformers`` config."""
    if not isinstance(c["type_vocab_size"], int) or c["type_vocab_size"] < 1:
        raise ElectraError(f"{file}: type_vocab_size {c['type_vocab_size']!r} is not supported")
    try:
        return EncoderConfig(
            vocab_size=int(c["vocab_size"]),
            hidden_size=int(c["hidden_size"]),
            num_layers=int(c["num_hidden_layers"]),
            num_heads=int(c["num_attention_heads"]),
            intermediate_size=int(c["intermediate_size"]),
            embedding_size=int(c["embedding_size"]) if model_type == "electra" else int(c["hidden_size"]),
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
        raise ElectraError(f"{file}: a size field is not a number ({e})") from None
