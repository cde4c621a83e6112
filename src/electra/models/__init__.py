"""Models built from :mod:`electra.nn`: the encoder, ELECTRA's generator and discriminator."""

from electra.models.config import ElectraConfig, EncoderConfig, scaled_generator_config
from electra.models.electra import Discriminator, Electra, MaskedLM
from electra.models.encoder import TransformerEncoder

__all__ = [
    "Discriminator",
    "Electra",
    "ElectraConfig",
    "EncoderConfig",
    "MaskedLM",
    "TransformerEncoder",
    "scaled_generator_config",
]
