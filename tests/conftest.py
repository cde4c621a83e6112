import pytest

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


@pytest.fixture
def fallback_random():
    """Inductor draws eager's random numbers (it has its own generator otherwise), so that compiled and eager
    paths mask and sample the same tokens. Set through the config's own ``patch`` (monkeypatch's undo deletes
    the option from inductor's config module)."""
    import torch._inductor.config as inductor_config

    with inductor_config.patch(fallback_random=True):
        yield
