"""Transformer building blocks shared by every model in the package."""

from electra.nn.attention import KVCache, MultiHeadAttention, causal_mask, padding_to_attn_mask
from electra.nn.embeddings import (
    Embeddings,
    GradientDisentangledEmbeddings,
    GridEmbeddings,
    TokenEmbeddings,
    sinusoidal_table,
)
from electra.nn.init import init_bert_weights
from electra.nn.layers import FeedForward, TransformerLayer

__all__ = [
    "Embeddings",
    "GradientDisentangledEmbeddings",
    "GridEmbeddings",
    "FeedForward",
    "KVCache",
    "MultiHeadAttention",
    "TokenEmbeddings",
    "TransformerLayer",
    "causal_mask",
    "init_bert_weights",
    "padding_to_attn_mask",
    "sinusoidal_table",
]
