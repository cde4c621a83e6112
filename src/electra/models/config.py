"""Model configurations: plain dataclasses that round-trip to JSON (a checkpoint's ``config.json``).

:class:`EncoderShape` lists a Transformer encoder's shape once; :class:`EncoderConfig` adds what the
tokenizer decides (vocabulary size, padding id). Pretraining's ``model`` section is the same shape plus
the generator's width (``electra.recipes.pretrain.config.ModelSection``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

_C = TypeVar("_C")


def known_fields(cls: type[_C], data: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``data`` that are fields of dataclass ``cls`` (unknown keys are ignored)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass
class EncoderShape:
    """Shape of a Transformer encoder (defaults: ELECTRA-Small's discriminator), vocabulary aside."""

    hidden_size: int = 256
    num_layers: int = 12
    num_heads: int = 4
    intermediate_size: int = 1024
    embedding_size: int = 128
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    dropout: float = 0.1
    attention_dropout: float = 0.1
    layer_norm_eps: float = 1e-12
    initializer_range: float = 0.02
    norm_first: bool = False
    # Tokens on a grid (image pixels in raster order): 2-D positions, row + column tables (nn.GridEmbeddings);
    # the first max_position_embeddings - grid_rows * grid_cols tokens (a class token) have their own.
    # 0: the text encoder's 1-D positions.
    grid_rows: int = 0
    grid_cols: int = 0


@dataclass
class EncoderConfig(EncoderShape):
    """A Transformer encoder: its shape, vocabulary size and padding id (the embedding row kept at zero)."""

    vocab_size: int = 30522
    pad_token_id: int = 0

    def __post_init__(self) -> None:
        if self.grid_rows or self.grid_cols:
            if self.grid_rows <= 0 or self.grid_cols <= 0:
                raise ValueError(f"grid_rows and grid_cols must both be positive, got {self.grid_rows} x "
                                 f"{self.grid_cols}")  # fmt: skip
            if self.max_position_embeddings < self.grid_rows * self.grid_cols:
                raise ValueError(f"max_position_embeddings {self.max_position_embeddings} is less than the grid's "
                                 f"{self.grid_rows} x {self.grid_cols} cells")  # fmt: skip

    @property
    def grid_prefix(self) -> int:
        """Tokens before the grid (a class token) in a grid model's sequences; 0 for a text model."""
        return self.max_position_embeddings - self.grid_rows * self.grid_cols if self.grid_rows else 0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if not self.grid_rows:  # a text model's config.json reads as before grids existed
            del out["grid_rows"], out["grid_cols"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderConfig:
        return cls(**known_fields(cls, data))


def scaled_generator_config(disc: EncoderConfig, multiplier: float) -> EncoderConfig:
    """The generator of the ELECTRA paper: width (hidden, FFN, heads) scaled, depth and embeddings kept."""
    return dataclasses.replace(
        disc,
        hidden_size=max(1, round(disc.hidden_size * multiplier)),
        intermediate_size=max(1, round(disc.intermediate_size * multiplier)),
        num_heads=max(1, round(disc.num_heads * multiplier)),
    )


EMBEDDING_SHARING = ("tied", "separate", "gdes")


@dataclass
class ElectraConfig:
    """A discriminator encoder plus the generator derived from it by ``generator_multiplier``.

    ``embedding_sharing``: ``tied`` (the paper: one embedding module for both), ``separate`` (each its own)
    or ``gdes`` (DeBERTa-v3: the discriminator adds residual tables to the generator's, gradient stopped).
    """

    discriminator: EncoderConfig = field(default_factory=EncoderConfig)
    generator_multiplier: float = 0.25
    embedding_sharing: str = "tied"

    def __post_init__(self) -> None:
        if self.embedding_sharing not in EMBEDDING_SHARING:
            raise ValueError(f"unknown embedding_sharing {self.embedding_sharing!r}; "
                             f"expected one of {', '.join(EMBEDDING_SHARING)}")  # fmt: skip
        if self.embedding_sharing == "gdes" and self.discriminator.grid_rows:
            raise ValueError("embedding_sharing gdes is for 1-D positions; a grid model shares tied or separate")

    @property
    def generator(self) -> EncoderConfig:
        return scaled_generator_config(self.discriminator, self.generator_multiplier)

    def to_dict(self) -> dict[str, Any]:
        out = {"discriminator": self.discriminator.to_dict(), "generator_multiplier": self.generator_multiplier}
        if self.embedding_sharing != "tied":  # checkpoints of the paper's model read as before
            out["embedding_sharing"] = self.embedding_sharing
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ElectraConfig:
        return cls(EncoderConfig.from_dict(data["discriminator"]), float(data["generator_multiplier"]),
                   str(data.get("embedding_sharing", "tied")))  # fmt: skip


@dataclass
class ReplaceMLMConfig(ElectraConfig):
    """The paper's Replace-MLM / All-Tokens-MLM pair: a generator and a main masked LM of the discriminator's
    shape; ``copy_mechanism`` adds the main model's per-token copy gate (All-Tokens MLM)."""

    copy_mechanism: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "copy_mechanism": self.copy_mechanism}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReplaceMLMConfig:
        base = ElectraConfig.from_dict(data)
        return cls(base.discriminator, base.generator_multiplier, base.embedding_sharing,
                   bool(data.get("copy_mechanism", False)))  # fmt: skip


HEAD_KINDS = ("sequence", "token", "span")


@dataclass
class TaskModelConfig:
    """An encoder with a task head: ``sequence`` (one vector of ``num_labels`` logits from [CLS]), ``token``
    (``num_labels`` logits per token) or ``span`` (start / end logits, with an answerability classifier when
    ``answerability``; ``joint_span``: the end conditioned on the start, as the official ELECTRA code's
    ``joint_prediction``). ``classifier_dropout`` None: the encoder's dropout."""

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    head: str = "sequence"
    num_labels: int = 1
    answerability: bool = False
    classifier_dropout: float | None = None
    joint_span: bool = False  # span head: end logits conditioned on the start (the official ELECTRA QA head)
    span_beam: int = 20  # with joint_span: the starts (and, per start, the ends) kept at inference

    def __post_init__(self) -> None:
        if self.head not in HEAD_KINDS:
            raise ValueError(f"unknown head {self.head!r}; expected one of {', '.join(HEAD_KINDS)}")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "encoder": self.encoder.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskModelConfig:
        values = known_fields(cls, data)
        values["encoder"] = EncoderConfig.from_dict(data["encoder"])
        return cls(**values)


SEQ2SEQ_PRESETS: dict[str, dict[str, Any]] = {
    # Vaswani et al. (2017), Table 3: base and big
    "base": {"hidden_size": 512, "encoder_layers": 6, "decoder_layers": 6, "num_heads": 8, "intermediate_size": 2048,
             "dropout": 0.1},
    "big": {"hidden_size": 1024, "encoder_layers": 6, "decoder_layers": 6, "num_heads": 16,
            "intermediate_size": 4096, "dropout": 0.3},
    # fairseq's transformer_iwslt_de_en
    "small": {"hidden_size": 512, "encoder_layers": 6, "decoder_layers": 6, "num_heads": 4, "intermediate_size": 1024,
              "dropout": 0.3},
    "tiny": {"hidden_size": 128, "encoder_layers": 2, "decoder_layers": 2, "num_heads": 4, "intermediate_size": 512,
             "dropout": 0.1},
}  # fmt: skip


@dataclass
class Seq2SeqShape:
    """The encoder-decoder's shape (defaults: the paper's base), vocabulary aside. ``norm_first``: pre-LN
    (with a final LayerNorm on each stack) instead of the paper's post-LN; ``positions``: ``sinusoidal`` or
    ``learned``; ``shared_embeddings``: one table for source, target and output (one vocabulary)."""

    hidden_size: int = 512
    encoder_layers: int = 6
    decoder_layers: int = 6
    num_heads: int = 8
    intermediate_size: int = 2048
    dropout: float = 0.1
    attention_dropout: float = 0.0
    norm_first: bool = False
    positions: str = "sinusoidal"
    max_positions: int = 1024
    shared_embeddings: bool = True


@dataclass
class Seq2SeqConfig(Seq2SeqShape):
    """The encoder-decoder Transformer: its shape plus the vocabularies. ``tgt_vocab_size`` None: one
    vocabulary for both sides; the output projection is always tied to the target table."""

    vocab_size: int = 32000
    tgt_vocab_size: int | None = None
    layer_norm_eps: float = 1e-5
    pad_token_id: int = 0

    def __post_init__(self) -> None:
        if self.shared_embeddings and self.tgt_vocab_size not in (None, self.vocab_size):
            raise ValueError("shared_embeddings needs one vocabulary (tgt_vocab_size None or equal to vocab_size)")
        if self.positions not in ("sinusoidal", "learned"):
            raise ValueError(f"unknown positions {self.positions!r}; expected sinusoidal or learned")

    @property
    def target_vocab_size(self) -> int:
        return self.tgt_vocab_size or self.vocab_size

    @classmethod
    def preset(cls, name: str, vocab_size: int, **changes: Any) -> Seq2SeqConfig:
        """The ``base``, ``big``, ``small`` or ``tiny`` shape with ``vocab_size`` (and ``changes``)."""
        if name not in SEQ2SEQ_PRESETS:
            raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(SEQ2SEQ_PRESETS)}")
        return cls(vocab_size=vocab_size, **{**SEQ2SEQ_PRESETS[name], **changes})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Seq2SeqConfig:
        return cls(**known_fields(cls, data))
