"""Pretraining compute: the floating-point operations of one optimiser step, for equal-compute comparisons.

Counted as ``6 x tokens x matmul parameters`` (forward 2, backward 4) for every linear layer a token goes
through, plus attention's two ``[L, L]`` products; embedding look-ups, LayerNorm, softmax and the optimiser
are left out (a few per cent at most). Output layers are counted where they run: the masked-LM layers at the
masked slots only, except All-Tokens MLM's, which runs at every position.
"""

from __future__ import annotations

from electra.models import EncoderConfig, scaled_generator_config
from electra.recipes.pretrain.config import PretrainConfig
from electra.tokens import num_mask_slots


def encoder_flops(enc: EncoderConfig, batch: int, seq: int) -> float:
    """One training step of a Transformer encoder over ``batch`` sequences of ``seq`` positions."""
    h, ff, e = enc.hidden_size, enc.intermediate_size, enc.embedding_size
    per_layer = 4 * h * h + 2 * h * ff
    projection = e * h if e != h else 0
    dense = 6 * batch * seq * (enc.num_layers * per_layer + projection)
    attention = 12 * enc.num_layers * batch * seq * seq * h  # QK^T and AV, forward and backward
    return float(dense + attention)


def mlm_head_flops(enc: EncoderConfig, positions: int) -> float:
    """The masked-LM head (dense to the embedding size, then the tied output layer) at ``positions`` tokens."""
    return 6.0 * positions * (enc.hidden_size * enc.embedding_size + enc.embedding_size * enc.vocab_size)


def pretraining_flops(kind: str, disc: EncoderConfig, generator_multiplier: float, batch: int, seq: int,
                      mask_rate: float = 0.15) -> float:  # fmt: skip
    """One step of objective ``kind`` (``electra``, ``mlm``, ``replace-mlm``, ``all-tokens-mlm``) for a
    main model of shape ``disc`` and, except for ``mlm``, its generator."""
    slots = batch * num_mask_slots(seq, mask_rate)
    total = encoder_flops(disc, batch, seq)
    if kind == "mlm":
        return total + mlm_head_flops(disc, slots)
    gen = scaled_generator_config(disc, generator_multiplier)
    total += encoder_flops(gen, batch, seq) + mlm_head_flops(gen, slots)
    h = disc.hidden_size
    if kind == "electra":
        return total + 6.0 * batch * seq * (h * h + h)  # the discriminator head at every token
    if kind == "replace-mlm":
        return total + mlm_head_flops(disc, slots)
    if kind == "all-tokens-mlm":
        return total + mlm_head_flops(disc, batch * seq) + 6.0 * batch * seq * h  # and the copy gate
    raise ValueError(f"unknown objective kind {kind!r}")


def step_flops(cfg: PretrainConfig, vocab_size: int) -> float:
    """One optimiser step of the run ``cfg`` describes (the whole global batch), with the table's
    ``vocab_size`` rows."""
    return pretraining_flops(cfg.objective.kind, cfg.model.encoder(vocab_size), cfg.model.generator_multiplier,
                             cfg.train.batch_size, cfg.data.max_seq_length, cfg.objective.mask_rate)  # fmt: skip
