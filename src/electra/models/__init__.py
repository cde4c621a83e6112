"""Models built from :mod:`electra.nn`: the encoder, ELECTRA's generator and discriminator, task models.

Every model maps token ids to outputs and knows nothing of text or training; each saves and loads itself
on the native checkpoint format (:mod:`electra.models.pretrained`).
"""

from electra.models.config import (
    ElectraConfig,
    EncoderConfig,
    EncoderShape,
    ReplaceMLMConfig,
    Seq2SeqConfig,
    TaskModelConfig,
    scaled_generator_config,
)
from electra.models.electra import CopyMaskedLM, Discriminator, Electra, MaskedLM, ReplaceMLMPair
from electra.models.encoder import TransformerEncoder
from electra.models.heads import SequenceHead, SpanHead, TaskModel, TokenHead
from electra.models.pretrained import (
    CheckpointInfo,
    Pretrained,
    PretrainedModel,
    build_model,
    load_checkpoint,
    read_checkpoint,
)
from electra.models.seq2seq import DecoderState, TransformerSeq2Seq

__all__ = [
    "CheckpointInfo",
    "CopyMaskedLM",
    "DecoderState",
    "Discriminator",
    "Electra",
    "ElectraConfig",
    "EncoderConfig",
    "EncoderShape",
    "MaskedLM",
    "Pretrained",
    "PretrainedModel",
    "ReplaceMLMConfig",
    "ReplaceMLMPair",
    "Seq2SeqConfig",
    "SequenceHead",
    "SpanHead",
    "TaskModel",
    "TaskModelConfig",
    "TokenHead",
    "TransformerEncoder",
    "TransformerSeq2Seq",
    "build_model",
    "load_checkpoint",
    "read_checkpoint",
    "scaled_generator_config",
]
