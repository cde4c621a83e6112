"""Fixtures for the fine-tuning tests: a tiny "pretrained" ELECTRA checkpoint and synthetic task files."""

from __future__ import annotations

from pathlib import Path

import pytest
from ft_helpers import corpus_texts, sentiment_rows, write_jsonl

from electra.data.tokenizer import train_wordpiece
from electra.recipes.pretrain.build import build_model, padded_vocab_size
from electra.recipes.pretrain.config import PretrainConfig


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised tiny ELECTRA saved as a pretraining checkpoint (loadable by load_pretrained)."""
    import torch

    root = tmp_path_factory.mktemp("tiny-electra")
    tok = train_wordpiece(corpus_texts(), vocab_size=200, min_frequency=1)
    cfg = PretrainConfig()
    m = cfg.model
    m.hidden_size, m.num_layers, m.num_heads, m.intermediate_size = 32, 2, 2, 64
    m.embedding_size, m.max_position_embeddings, m.generator_multiplier = 16, 64, 0.5
    vocab = padded_vocab_size(tok.get_vocab_size())
    torch.manual_seed(0)
    model = build_model(cfg, vocab)
    return model.save_pretrained(root / "checkpoint-0000000", tok)


@pytest.fixture(scope="session")
def tokenizer(tiny_checkpoint):
    from electra.data.tokenizer import load_tokenizer

    return load_tokenizer(tiny_checkpoint / "tokenizer.json")


@pytest.fixture(scope="session")
def sentiment_files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sentiment")
    return {
        "train": write_jsonl(root / "train.jsonl", sentiment_rows(320, 1)),
        "dev": write_jsonl(root / "dev.jsonl", sentiment_rows(100, 2)),
        "test": write_jsonl(root / "test.jsonl", sentiment_rows(100, 3)),
    }
