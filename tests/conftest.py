import pytest
import torch

from electra.models import ElectraConfig, EncoderConfig


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep every test's downloads and prepared data out of the user's cache (shared per session)."""
    monkeypatch.setenv("ELECTRA_CACHE", str(tmp_path_factory.getbasetemp() / "electra-cache"))


@pytest.fixture
def tiny_encoder_config() -> EncoderConfig:
    return EncoderConfig(
        vocab_size=101,
        hidden_size=32,
        num_layers=2,
        num_heads=4,
        intermediate_size=64,
        embedding_size=16,
        max_position_embeddings=64,
        dropout=0.0,
        attention_dropout=0.0,
    )


@pytest.fixture
def tiny_electra_config(tiny_encoder_config) -> ElectraConfig:
    return ElectraConfig(tiny_encoder_config, generator_multiplier=0.5)


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
