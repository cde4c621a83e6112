"""Fixtures for the fine-tuning tests: a tiny "pretrained" ELECTRA checkpoint and synthetic task files."""

from __future__ import annotations

from pathlib import Path

import pytest
from ft_helpers import corpus_texts, sentiment_rows, write_jsonl

from electra.config import PretrainConfig
from electra.data.tokenizer import special_token_ids, train_wordpiece
from electra.pretraining.builder import build_model, padded_vocab_size
from electra.train.checkpoint import save_checkpoint


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
    vocab_txt = "".join(f"{w}\n" for w, _ in sorted(tok.get_vocab().items(), key=lambda kv: kv[1]))
    return save_checkpoint(
        root,
        0,
        model,
        {"config": cfg.to_dict(), "vocab_size": vocab, "special_ids": special_token_ids(tok)},
        {"tokenizer.json": tok.to_str(), "vocab.txt": vocab_txt},
    )


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
