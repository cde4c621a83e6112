"""Model configuration: one dataclass for an encoder, one for an ELECTRA generator/discriminator pair."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field


@dataclass
class EncoderConfig:
    """Shape of a Transformer encoder (defaults: ELECTRA-Small's discriminator)."""

    vocab_size: int = 30522
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
    pad_token_id: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> EncoderConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def scaled_generator_config(disc: EncoderConfig, multiplier: float) -> EncoderConfig:
    """The generator of the ELECTRA paper: width (hidden, FFN, heads) scaled, depth and embeddings kept."""
    return dataclasses.replace(
        disc,
        hidden_size=max(1, round(disc.hidden_size * multiplier)),
        intermediate_size=max(1, round(disc.intermediate_size * multiplier)),
        num_heads=max(1, round(disc.num_heads * multiplier)),
    )


@dataclass
class ElectraConfig:
    """A discriminator encoder plus the generator derived from it by ``generator_multiplier``."""

    discriminator: EncoderConfig = field(default_factory=EncoderConfig)
    generator_multiplier: float = 0.25

    @property
    def generator(self) -> EncoderConfig:
        return scaled_generator_config(self.discriminator, self.generator_multiplier)

    def to_dict(self) -> dict:
        return {"discriminator": self.discriminator.to_dict(), "generator_multiplier": self.generator_multiplier}

    @classmethod
    def from_dict(cls, data: dict) -> ElectraConfig:
        return cls(EncoderConfig.from_dict(data["discriminator"]), float(data["generator_multiplier"]))
