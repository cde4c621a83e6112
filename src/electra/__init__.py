"""electra: Transformer building blocks and ELECTRA pretraining on PyTorch."""

__version__ = "0.2.0"
