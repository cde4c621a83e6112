"""Transformer building blocks shared by every model in the package."""

from electra.nn.attention import MultiHeadAttention, padding_to_attn_mask
from electra.nn.embeddings import Embeddings, GradientDisentangledEmbeddings
from electra.nn.init import init_bert_weights
from electra.nn.layers import FeedForward, TransformerLayer

__all__ = [
    "Embeddings",
    "GradientDisentangledEmbeddings",
    "FeedForward",
    "MultiHeadAttention",
    "TransformerLayer",
    "init_bert_weights",
    "padding_to_attn_mask",
]
