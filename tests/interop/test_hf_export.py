"""Our checkpoints -> ``electra export`` -> transformers loads them and computes the same logits."""

from __future__ import annotations

import json

import pytest
import torch
from hf_helpers import random_batch, small_config, write_checkpoint
from transformers import AutoTokenizer, ElectraForMaskedLM, ElectraForPreTraining, ElectraModel

from electra.core.errors import ElectraError
from electra.interop import export_hf, save_hf
from electra.models import Discriminator, EncoderConfig

ATOL = 1e-5
SENTENCES = [
    "The Café was naïve, wasn't it? Résumé: ÉLAN über Straße!",
    "Zyxqvw unknownword ☃ 東京 — played; playing... (garden) [brackets] 42 3.14",
    "mixed CASE Words, and\ttabs  and   spaces; the cat sat on the mat.",
    "",
]


def _hf_load(cls, path, head_dropped: bool = False):
    """Load with transformers; every tensor must be used (the head may be dropped by a bare encoder)."""
    model, info = cls.from_pretrained(path, output_loading_info=True)
    assert not info["missing_keys"] and not info["mismatched_keys"], info
    assert head_dropped or not info["unexpected_keys"], info
    return model.eval()


def _max_diff(ours: torch.Tensor, theirs: torch.Tensor, mask: torch.Tensor) -> float:
    """Max |difference| over the non-padding positions (asserted: at every position too)."""
    assert ours.shape == theirs.shape
    assert torch.allclose(ours, theirs, atol=ATOL, rtol=0)
    return (ours - theirs)[mask.bool()].abs().max().item()


@pytest.mark.parametrize("trained", [False, True], ids=["fresh", "trained"])
@pytest.mark.parametrize("sizes", [(16, 32), (32, 32)], ids=["emb16-hid32", "emb32-hid32"])
def test_electra_export_logits_match(tmp_path, tokenizer, sizes, trained):
    cfg = small_config(*sizes)
    ckpt, model = write_checkpoint(tmp_path / "run", cfg, tokenizer, trained=trained)
    out = export_hf(tmp_path / "run", tmp_path / "hf")  # a run directory: its newest checkpoint
    assert set(out) == {"discriminator", "generator"}
    disc = _hf_load(ElectraForPreTraining, out["discriminator"])
    gen = _hf_load(ElectraForMaskedLM, out["generator"])
    assert gen.config.hidden_size == 16 and disc.config.hidden_size == 32  # generator narrower

    for seed in range(2):
        ids, mask, types = random_batch(tokenizer.get_vocab_size(), seed=seed)
        with torch.no_grad():
            d = _max_diff(model.discriminator(ids, mask.bool(), types), disc(ids, mask, types).logits, mask)
            g = _max_diff(model.generator(ids, mask.bool(), types), gen(ids, mask, types).logits, mask)
        print(f"max abs diff {sizes} trained={trained}: discriminator {d:.2e}, generator {g:.2e}")

    # The discriminator directory also serves the bare encoder (and the fine-tuning classes).
    enc = _hf_load(ElectraModel, out["discriminator"], head_dropped=True)
    with torch.no_grad():
        _max_diff(
            model.discriminator.encoder(ids, mask.bool(), types),
            enc(ids, mask, types).last_hidden_state,
            mask,
        )


def test_config_json_fields(tmp_path, tokenizer):
    cfg = small_config(16, 32)
    cfg.model.layer_norm_eps, cfg.model.initializer_range, cfg.model.dropout = 1e-7, 0.03, 0.1
    write_checkpoint(tmp_path / "run", cfg, tokenizer)
    out = export_hf(tmp_path / "run", tmp_path / "hf")
    for role, arch, hidden, heads, ffn in [
        ("discriminator", "ElectraForPreTraining", 32, 4, 64),
        ("generator", "ElectraForMaskedLM", 16, 2, 32),
    ]:
        c = json.loads((out[role] / "config.json").read_text())
        assert c["architectures"] == [arch] and c["model_type"] == "electra"
        assert c["vocab_size"] == 192  # 137 tokens padded to a multiple of 64
        assert (c["embedding_size"], c["hidden_size"], c["num_attention_heads"], c["intermediate_size"]) == (
            16,
            hidden,
            heads,
            ffn,
        )
        assert (
            c["num_hidden_layers"] == 2 and c["max_position_embeddings"] == 40 and c["type_vocab_size"] == 2
        )
        assert c["hidden_act"] == "gelu" and c["position_embedding_type"] == "absolute"
        assert c["layer_norm_eps"] == 1e-7 and c["initializer_range"] == 0.03
        assert c["hidden_dropout_prob"] == 0.1 and c["attention_probs_dropout_prob"] == 0.0
        assert c["pad_token_id"] == 0 and c["tie_word_embeddings"] is True
        tc = json.loads((out[role] / "tokenizer_config.json").read_text())
        assert tc["do_lower_case"] is True and tc["model_max_length"] == 40
        assert tc["mask_token"] == "[MASK]"
        for name in ("vocab.txt", "tokenizer.json", "special_tokens_map.json", "model.safetensors"):
            assert (out[role] / name).is_file()


def test_mlm_checkpoint_exports_generator_style(tmp_path, tokenizer):
    cfg = small_config(16, 32, kind="mlm")
    _, model = write_checkpoint(tmp_path / "run", cfg, tokenizer, trained=True)
    out = export_hf(tmp_path / "run", tmp_path / "hf")
    assert set(out) == {"generator"} and not (tmp_path / "hf" / "discriminator").exists()
    hf = _hf_load(ElectraForMaskedLM, out["generator"])
    assert hf.config.hidden_size == 32  # the MLM model itself, full width
    ids, mask, types = random_batch(tokenizer.get_vocab_size())
    with torch.no_grad():
        d = _max_diff(model(ids, mask.bool(), types), hf(ids, mask, types).logits, mask)
    print(f"max abs diff MLM model: {d:.2e}")


def test_trim_vocab(tmp_path, tokenizer):
    _, model = write_checkpoint(tmp_path / "run", small_config(16, 32), tokenizer)
    out = export_hf(tmp_path / "run", tmp_path / "hf", trim_vocab=True)
    n = tokenizer.get_vocab_size()
    gen = _hf_load(ElectraForMaskedLM, out["generator"])
    assert gen.config.vocab_size == n
    ids, mask, types = random_batch(n)
    with torch.no_grad():
        _max_diff(model.generator(ids, mask.bool(), types)[..., :n], gen(ids, mask, types).logits, mask)


@pytest.mark.parametrize("cased", [False, True], ids=["uncased", "cased"])
def test_exported_tokenizer_gives_same_ids(tmp_path, tokenizer, cased_tokenizer, cased):
    tok = cased_tokenizer if cased else tokenizer
    write_checkpoint(tmp_path / "run", small_config(16, 32), tok)
    out = export_hf(tmp_path / "run", tmp_path / "hf")
    for role in ("discriminator", "generator"):
        hf_tok = AutoTokenizer.from_pretrained(out[role])
        assert hf_tok.mask_token_id == tok.token_to_id("[MASK]") and hf_tok.pad_token_id == 0
        for s in SENTENCES:
            assert hf_tok(s)["input_ids"] == tok.encode(s).ids, s
        a, b = SENTENCES[0], SENTENCES[1]
        pair = hf_tok(a, b)
        enc = tok.encode(a, b)
        assert pair["input_ids"] == enc.ids and pair["token_type_ids"] == enc.type_ids
    assert any(i == tok.token_to_id("[UNK]") for i in tok.encode(SENTENCES[1]).ids)  # unknown words covered


def test_pre_ln_is_refused(tmp_path, tokenizer):
    write_checkpoint(tmp_path / "run", small_config(16, 32, norm_first=True), tokenizer)
    with pytest.raises(ElectraError, match="pre-LN"):
        export_hf(tmp_path / "run", tmp_path / "hf")
    assert not (tmp_path / "hf" / "discriminator" / "model.safetensors").exists()


def test_no_token_types_exports_a_zero_table(tmp_path):
    torch.manual_seed(0)
    cfg = EncoderConfig(
        vocab_size=64,
        hidden_size=32,
        num_layers=1,
        num_heads=4,
        intermediate_size=64,
        embedding_size=16,
        max_position_embeddings=32,
        type_vocab_size=0,
        dropout=0.0,
        attention_dropout=0.0,
    )
    model = Discriminator(cfg).eval()
    save_hf(model, tmp_path / "d")
    hf = _hf_load(ElectraForPreTraining, tmp_path / "d")
    ids, mask, _ = random_batch(64)
    with torch.no_grad():
        _max_diff(model(ids, mask.bool()), hf(ids, mask).logits, mask)


def test_missing_checkpoint_is_an_error(tmp_path):
    with pytest.raises(ElectraError, match="not found"):
        export_hf(tmp_path / "nothing", tmp_path / "hf")


@pytest.mark.parametrize("sharing", ["separate", "gdes"])
def test_export_of_untied_embeddings_gives_the_same_logits(tmp_path, tokenizer, sharing):
    """Separate and gradient-disentangled (GDES) embeddings export as ordinary ELECTRA directories: GDES's
    discriminator with its tables merged (generator's + residual), trained so the residuals are not zero."""
    cfg = small_config(16, 32, embedding_sharing=sharing)
    _, model = write_checkpoint(tmp_path / "run", cfg, tokenizer, trained=True)
    if sharing == "gdes":
        assert model.discriminator.encoder.embeddings.word_embeddings.weight.abs().sum() > 0
    out = export_hf(tmp_path / "run", tmp_path / "hf")
    disc = _hf_load(ElectraForPreTraining, out["discriminator"])
    gen = _hf_load(ElectraForMaskedLM, out["generator"])
    ids, mask, types = random_batch(tokenizer.get_vocab_size())
    with torch.no_grad():
        _max_diff(model.discriminator(ids, mask.bool(), types), disc(ids, mask, types).logits, mask)
        _max_diff(model.generator(ids, mask.bool(), types), gen(ids, mask, types).logits, mask)


def test_replace_mlm_pair_is_not_exported(tmp_path, tokenizer):
    write_checkpoint(tmp_path / "run", small_config(16, 32, kind="replace-mlm"), tokenizer)
    with pytest.raises(ElectraError, match="ReplaceMLMPair"):
        export_hf(tmp_path / "run", tmp_path / "hf")
