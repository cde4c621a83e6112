"""Helpers for the Hugging Face interop tests: synthetic text, small configs, checkpoints, batches."""

from __future__ import annotations

from pathlib import Path

import torch

from electra.data.tokenizer import special_token_ids
from electra.recipes.pretrain.build import build_model, build_objective, padded_vocab_size
from electra.recipes.pretrain.config import PretrainConfig

WORDS = (
    "the cat sat on a mat and the dog ran far away from the house while children played in the garden "
    "with a red ball café naïve résumé über museum painting river mountain playing player plays"
).split()


def synthetic_texts(n: int = 300) -> list[str]:
    """Sentences with accents and punctuation, enough for a ~150-token WordPiece vocabulary."""
    out = []
    for i in range(n):
        words = [WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(6 + i % 6)]
        out.append(" ".join(words).capitalize() + ", " + WORDS[i % len(WORDS)] + ". It (was) fine!")
    return out


def small_config(
    embedding_size: int = 16, hidden_size: int = 32, kind: str = "electra", **model
) -> PretrainConfig:
    """A small but non-trivial config: 2 layers, 4 heads, generator half as wide, no dropout."""
    cfg = PretrainConfig()
    m = cfg.model
    m.hidden_size, m.num_layers, m.num_heads, m.intermediate_size = hidden_size, 2, 4, 2 * hidden_size
    m.embedding_size, m.max_position_embeddings = embedding_size, 40
    m.dropout = m.attention_dropout = 0.0
    m.generator_multiplier = 0.5
    for k, v in model.items():
        setattr(m, k, v)
    cfg.objective.kind = kind
    if kind == "mlm":
        cfg.objective.mask_token_prob, cfg.objective.random_token_prob = 0.8, 0.1
    cfg.data.max_seq_length = 32
    cfg.validate()
    return cfg


def random_batch(vocab: int, batch: int = 3, length: int = 20, seed: int = 0):
    """ids [B, L] (CLS w... SEP then padding), attention mask, token types with a second segment."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (batch, length), generator=g)
    mask = torch.ones(batch, length, dtype=torch.long)
    types = torch.zeros(batch, length, dtype=torch.long)
    for i, end in enumerate([length, length - 5, length // 2][:batch]):
        ids[i, 0], ids[i, end - 1] = 2, 3
        ids[i, end:] = 0
        mask[i, end:] = 0
        types[i, end // 2 : end] = 1
    return ids, mask, types


def train_a_little(model: torch.nn.Module, cfg: PretrainConfig, tok, steps: int = 4) -> None:
    """A few AdamW steps of the model's pretraining objective on random data (moves every weight)."""
    objective = build_objective(model, cfg, special_token_ids(tok))
    objective.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(steps):
        ids, mask, types = random_batch(tok.get_vocab_size(), batch=4, length=24, seed=100 + step)
        loss = objective(ids, mask.bool(), types)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


def write_checkpoint(root: Path, cfg: PretrainConfig, tok, trained: bool = False, seed: int = 0):
    """Build (and optionally briefly train) a model for ``cfg``, save it as our checkpoint; (path, model)."""
    torch.manual_seed(seed)
    vocab_size = padded_vocab_size(tok.get_vocab_size())
    model = build_model(cfg, vocab_size)
    if trained:
        train_a_little(model, cfg, tok)
    model.eval()
    return model.save_pretrained(root / "checkpoint-0000005", tok), model
