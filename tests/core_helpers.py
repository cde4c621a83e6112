"""Helpers shared by the core tests (a unique module name: conftest.py files shadow each other)."""

import torch


def random_batch(batch: int, length: int, vocab: int, seed: int = 0, pad_from: list[int] | None = None):
    """[CLS] w... [SEP] rows with ids in [5, vocab) and optional padding starting at pad_from[i]."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (batch, length), generator=g)
    mask = torch.ones(batch, length, dtype=torch.bool)
    ids[:, 0] = 2
    for i in range(batch):
        end = pad_from[i] if pad_from else length
        ids[i, end - 1] = 3
        ids[i, end:] = 0
        mask[i, end:] = False
    return ids, mask
