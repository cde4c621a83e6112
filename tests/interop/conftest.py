"""Fixtures for the Hugging Face interop tests (helpers live in hf_helpers.py)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
from hf_helpers import synthetic_texts  # noqa: E402

from electra.data.tokenizer import train_wordpiece  # noqa: E402


@pytest.fixture(scope="session")
def tokenizer():
    """Uncased WordPiece tokenizer (its size is not a multiple of 64, so the model's table is padded)."""
    return train_wordpiece(iter(synthetic_texts()), vocab_size=150, min_frequency=1)


@pytest.fixture(scope="session")
def cased_tokenizer():
    return train_wordpiece(iter(synthetic_texts()), vocab_size=170, min_frequency=1, lowercase=False)
