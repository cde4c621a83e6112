"""A lower bound on the memory of one pretraining step, so that a size that cannot fit is refused before
the corpus is prepared and the model built, not by the allocator an hour later."""

from __future__ import annotations

import torch

from electra.core.errors import ElectraError
from electra.core.runtime import memory_bytes, uses_bf16
from electra.models import EncoderConfig, scaled_generator_config
from electra.recipes.pretrain.config import PretrainConfig

GIB = 1 << 30


def activation_bytes(encoder: EncoderConfig, batch: int, length: int, value_bytes: int, quadratic: bool,
                     recompute: bool = False) -> int:  # fmt: skip
    """Activations one encoder keeps for backward, at the least: per layer its input, attention output,
    feed-forward input and the feed-forward's inner activation; with ``quadratic`` attention (a kernel
    that materialises the scores, as SDPA on CPU does when dropout is on) also the scores, probabilities
    and dropped-out probabilities, ``3 * heads * length^2`` values per sequence. Measured on CPU (the
    tiny preset at 1,024 to 4,096 positions, batch 2) the real peak is 1.2-1.7x this. With ``recompute``
    (activation checkpointing) each layer keeps only its input, and one layer's activations are rebuilt at a
    time in backward."""
    per_layer = batch * length * (4 * encoder.hidden_size + encoder.intermediate_size)
    if quadratic:
        per_layer += 3 * batch * encoder.num_heads * length * length
    if recompute:
        return (encoder.num_layers * batch * length * encoder.hidden_size + per_layer) * value_bytes
    return encoder.num_layers * per_layer * value_bytes


def step_bytes(cfg: PretrainConfig, micro_batch: int, device: torch.device) -> int:
    """A lower bound on one micro-batch's activation memory on ``device`` (both networks for ELECTRA).
    Selective checkpointing keeps at least what the bound counts without it, so it is counted as that."""
    encoder = cfg.model.encoder(cfg.data.vocab_size, 0)
    encoders = [encoder]
    if cfg.objective.kind != "mlm":  # every other objective runs a generator too
        encoders.append(scaled_generator_config(encoder, cfg.model.generator_multiplier))
    value_bytes = 2 if uses_bf16(device, cfg.train.precision) else 4
    quadratic = device.type != "cuda"  # CUDA's memory-efficient SDPA kernels keep no [L, L] tensors
    length = cfg.data.max_seq_length
    recompute = cfg.train.activation_checkpointing
    return sum(activation_bytes(e, micro_batch, length, value_bytes, quadratic, recompute) for e in encoders)


def check_step_memory(cfg: PretrainConfig, micro_batch: int, device: torch.device) -> None:
    """Raise a one-line :class:`ElectraError` when one training step cannot fit in ``device``'s memory."""
    need, have = step_bytes(cfg, micro_batch, device), memory_bytes(device)
    if need <= have:
        return
    where = "GPU" if device.type == "cuda" else "machine"
    raise ElectraError(
        f"data.max_seq_length = {cfg.data.max_seq_length} with a micro-batch of {micro_batch} sequences needs at "
        f"least {need / GIB:,.1f} GiB for one step's activations; this {where} has {have / GIB:,.1f} GiB: lower "
        "data.max_seq_length or train.batch_size, raise train.grad_accum, or set train.activation_checkpointing"
    )
