"""The encoder-decoder Transformer (Vaswani et al., 2017) from the shared building blocks.

Encoder and decoder are stacks of :class:`~electra.nn.TransformerLayer` (the decoder's with causal
self-attention and cross-attention); embeddings are ``sqrt(d) * word + position`` (sinusoidal or learned);
the output projection is the target embedding table. Decoding step by step uses a :class:`DecoderState`:
per layer a static-shape :class:`~electra.nn.KVCache` and the memory's cross-attention keys / values,
computed once. The model knows nothing of text, training or search.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from electra.models.config import Seq2SeqConfig
from electra.models.pretrained import PretrainedModel
from electra.nn import KVCache, TokenEmbeddings, TransformerLayer, padding_to_attn_mask


def _stack(config: Seq2SeqConfig, num_layers: int, decoder: bool) -> nn.ModuleList:
    return nn.ModuleList(
        TransformerLayer(config.hidden_size, config.num_heads, config.intermediate_size, config.dropout,
                         config.attention_dropout, config.layer_norm_eps, config.norm_first,
                         cross_attention=decoder)  # fmt: skip
        for _ in range(num_layers)
    )


def _init_weights(module: nn.Module, hidden_size: int) -> None:
    """fairseq's initialisation: Xavier-uniform linear layers with zero biases, embeddings N(0, d^-0.5)."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=hidden_size**-0.5)
        if module.padding_idx is not None:
            module.weight.data[module.padding_idx].zero_()


@dataclass
class DecoderState:
    """What step-by-step decoding keeps between steps: a key/value cache and the memory's cross-attention
    keys / values per decoder layer, and the memory's padding mask."""

    caches: list[KVCache]
    memory_kv: list[tuple[torch.Tensor, torch.Tensor]]
    memory_mask: torch.Tensor | None

    def reorder(self, index: torch.Tensor) -> None:
        """Keep rows ``index`` [B] (the beams that survive a search step), in place where it can."""
        for cache in self.caches:
            cache.reorder(index)
        self.memory_kv = [(k.index_select(0, index), v.index_select(0, index)) for k, v in self.memory_kv]
        if self.memory_mask is not None:
            self.memory_mask = self.memory_mask.index_select(0, index)


class TransformerSeq2Seq(PretrainedModel):
    """Encoder-decoder Transformer: ``forward(src, src_mask, tgt_in)`` gives next-token logits [B, T, V]."""

    config_class = Seq2SeqConfig

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        self.config = config
        c = config

        def embeddings(vocab: int) -> TokenEmbeddings:
            return TokenEmbeddings(vocab, c.hidden_size, c.max_positions, c.positions, c.dropout, c.pad_token_id)

        self.src_embeddings = embeddings(c.vocab_size)
        self.tgt_embeddings = self.src_embeddings if c.shared_embeddings else embeddings(c.target_vocab_size)
        self.encoder_layers = _stack(c, c.encoder_layers, decoder=False)
        self.decoder_layers = _stack(c, c.decoder_layers, decoder=True)
        self.encoder_norm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps) if c.norm_first else None
        self.decoder_norm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps) if c.norm_first else None
        self.apply(lambda m: _init_weights(m, c.hidden_size))

    def parallel_blocks(self) -> list[nn.Module]:
        return [*self.encoder_layers, *self.decoder_layers]

    def encode(self, src_ids: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The encoder's output [B, S, H] for source ids [B, S] (``src_mask``: True at real tokens)."""
        x = self.src_embeddings(src_ids)
        mask = padding_to_attn_mask(src_mask)
        for layer in self.encoder_layers:
            x = layer(x, attn_mask=mask)
        return self.encoder_norm(x) if self.encoder_norm is not None else x

    def _output(self, x: torch.Tensor) -> torch.Tensor:
        if self.decoder_norm is not None:
            x = self.decoder_norm(x)
        return F.linear(x, self.tgt_embeddings.word_table())

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Next-token logits [B, T, V] for the target prefix ``tgt_in`` [B, T] (teacher forcing: causal)."""
        x = self.tgt_embeddings(tgt_in)
        memory_mask = padding_to_attn_mask(src_mask)
        for layer in self.decoder_layers:
            x = layer(x, causal=True, memory=memory, memory_mask=memory_mask)
        return self._output(x)

    def forward(self, src_ids: torch.Tensor, src_mask: torch.Tensor | None, tgt_in: torch.Tensor) -> torch.Tensor:
        """Logits [B, T, V] of the token after each position of ``tgt_in`` given the source."""
        return self.decode(tgt_in, self.encode(src_ids, src_mask), src_mask)

    def start_decoding(self, memory: torch.Tensor, src_mask: torch.Tensor | None, max_length: int) -> DecoderState:
        """A :class:`DecoderState` for up to ``max_length`` target positions over ``memory`` [B, S, H]."""
        c, (batch, _, _) = self.config, memory.shape
        caches = [KVCache(batch, c.num_heads, max_length, c.hidden_size // c.num_heads, dtype=memory.dtype,
                          device=memory.device) for _ in self.decoder_layers]  # fmt: skip
        memory_kv = [layer.cross_attention.project_memory(memory) for layer in self.decoder_layers]
        return DecoderState(caches, memory_kv, padding_to_attn_mask(src_mask))

    def decode_step(self, tokens: torch.Tensor, state: DecoderState, position: torch.Tensor | int) -> torch.Tensor:
        """Next-token logits [B, V] after ``tokens`` [B, 1] at target ``position`` (the cache holds the
        earlier positions; static shapes throughout)."""
        x = self.tgt_embeddings(tokens, position_offset=position)
        for layer, cache, kv in zip(self.decoder_layers, state.caches, state.memory_kv):
            x = layer(x, cache=cache, position=position, memory_kv=kv, memory_mask=state.memory_mask)
        return self._output(x)[:, 0]
