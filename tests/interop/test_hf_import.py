"""transformers ELECTRA/BERT models (random init, save_pretrained) -> import -> our logits equal theirs."""

from __future__ import annotations

import json

import pytest
import torch
from hf_helpers import random_batch
from safetensors.torch import load_file, save_file
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertForMaskedLM,
    BertForPreTraining,
    BertModel,
    ElectraConfig,
    ElectraForMaskedLM,
    ElectraForPreTraining,
    ElectraModel,
)

from electra.core.errors import ElectraError
from electra.interop import import_hf, load_hf, load_hf_with_report
from electra.models import Discriminator, Electra, MaskedLM, load_checkpoint

ATOL = 1e-5
VOCAB = 90


def _electra_config(hidden: int = 32, emb: int = 16, heads: int = 4, **kw) -> ElectraConfig:
    return ElectraConfig(
        vocab_size=VOCAB,
        embedding_size=emb,
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=heads,
        intermediate_size=2 * hidden,
        max_position_embeddings=40,
        layer_norm_eps=1e-6,
        **kw,
    )


def _bert_config(**kw) -> BertConfig:
    return BertConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=40,
        type_vocab_size=3,
        **kw,
    )


def _randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Perturb every parameter (biases, LayerNorms, heads too) so that nothing is left at a trivial init."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return model.eval()


def _save(model, path):
    model.save_pretrained(path)
    return path


def _close(ours: torch.Tensor, theirs: torch.Tensor, mask: torch.Tensor) -> float:
    assert ours.shape == theirs.shape
    assert torch.allclose(ours, theirs, atol=ATOL, rtol=0)
    return (ours - theirs)[mask.bool()].abs().max().item()


def _batch(types: bool = True):
    ids, mask, tt = random_batch(VOCAB, seed=3)
    return ids, mask, tt if types else None


CASES = {
    "ElectraForPreTraining": (lambda: ElectraForPreTraining(_electra_config()), Discriminator, "logits"),
    "ElectraForPreTraining-emb=hid": (
        lambda: ElectraForPreTraining(_electra_config(emb=32)),
        Discriminator,
        "logits",
    ),
    "ElectraModel": (lambda: ElectraModel(_electra_config()), Discriminator, "hidden"),
    "ElectraForMaskedLM": (
        lambda: ElectraForMaskedLM(_electra_config(hidden=16, heads=2)),
        MaskedLM,
        "logits",
    ),
    "BertModel": (lambda: BertModel(_bert_config()), Discriminator, "hidden"),
    "BertModel-nopooler": (
        lambda: BertModel(_bert_config(), add_pooling_layer=False),
        Discriminator,
        "hidden",
    ),
    "BertForMaskedLM": (lambda: BertForMaskedLM(_bert_config()), MaskedLM, "logits"),
    "BertForPreTraining": (lambda: BertForPreTraining(_bert_config()), MaskedLM, "prediction_logits"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_import_matches_transformers(tmp_path, name):
    build, ours_cls, output = CASES[name]
    torch.manual_seed(0)
    hf = _randomise(build())
    path = _save(hf, tmp_path / name)
    model, report = load_hf_with_report(path)
    assert type(model) is ours_cls and not model.training
    ids, mask, types = _batch()
    with torch.no_grad():
        out = hf(input_ids=ids, attention_mask=mask, token_type_ids=types)
        if output == "hidden":  # bare encoder: compare hidden states; our task head is fresh
            diff = _close(model.encoder(ids, mask.bool(), types), out.last_hidden_state, mask)
            assert report.fresh
        else:
            diff = _close(model(ids, mask.bool(), types), getattr(out, output), mask)
            assert not report.fresh
    print(f"max abs diff import {name}: {diff:.2e}")


def _hf_tokenizer_files(directory, words: list[str], lower: bool = True) -> None:
    """A vocab.txt, re-saved by transformers' own AutoTokenizer (so its tokenizer.json is theirs)."""
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    (directory / "vocab.txt").write_text("".join(t + "\n" for t in tokens))
    (directory / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "BertTokenizer", "do_lower_case": lower})
    )
    AutoTokenizer.from_pretrained(directory).save_pretrained(directory)


def _electra_pair(tmp_path, same_embeddings: bool = True):
    torch.manual_seed(1)
    disc = _randomise(ElectraForPreTraining(_electra_config()), seed=1)
    gen = _randomise(ElectraForMaskedLM(_electra_config(hidden=16, heads=2)), seed=2)
    if same_embeddings:
        gen.electra.embeddings.load_state_dict(disc.electra.embeddings.state_dict())
    for m, sub in ((disc, "disc"), (gen, "gen")):
        m.save_pretrained(tmp_path / sub)
        _hf_tokenizer_files(tmp_path / sub, [f"w{i}" for i in range(80)])
    return disc, gen, tmp_path / "disc", tmp_path / "gen"


def test_discriminator_and_generator_into_one_electra(tmp_path):
    disc, gen, dpath, gpath = _electra_pair(tmp_path)
    model = load_hf(dpath, gpath)
    assert isinstance(model, Electra)
    assert model.config.generator.hidden_size == 16 and model.config.generator.num_heads == 2
    assert model.generator.encoder.embeddings is model.discriminator.encoder.embeddings
    ids, mask, types = _batch()
    with torch.no_grad():
        _close(model.discriminator(ids, mask.bool(), types), disc(ids, mask, types).logits, mask)
        _close(model.generator(ids, mask.bool(), types), gen(ids, mask, types).logits, mask)

    # Written as our checkpoint (model class and config, no invented training config): it loads back.
    ckpt, report = import_hf(dpath, tmp_path / "run", generator_dir=gpath)
    assert report.kind == "electra" and not report.fresh
    meta = json.loads((ckpt / "config.json").read_text())
    assert meta["format"] == "electra" and meta["model_class"] == "Electra" and "config" not in meta
    assert meta["model_config"]["discriminator"]["vocab_size"] == VOCAB and meta["special_ids"]["mask"] == 4
    assert not (ckpt / "train_config.json").exists()
    pre = load_checkpoint(tmp_path / "run")
    with torch.no_grad():
        _close(pre.discriminator(ids, mask.bool(), types), disc(ids, mask, types).logits, mask)
        _close(pre.generator(ids, mask.bool(), types), gen(ids, mask, types).logits, mask)
    from electra.generation import detect

    assert len(detect(pre.discriminator, pre.tokenizer, "w1 w2 w3")) == 3


def test_generator_with_other_embeddings_is_refused(tmp_path):
    _, _, dpath, gpath = _electra_pair(tmp_path, same_embeddings=False)
    with pytest.raises(ElectraError, match="word_embeddings.*differs from the discriminator"):
        load_hf(dpath, gpath)
    model = load_hf(dpath, gpath, check_shared=False)  # keeps the discriminator's embeddings
    assert isinstance(model, Electra)


def test_discriminator_only_import_gets_fresh_generator(tmp_path):
    disc, _, dpath, _ = _electra_pair(tmp_path)
    ckpt, report = import_hf(dpath, tmp_path / "run", generator_multiplier=0.5)
    assert report.kind == "electra" and any("generator" in f for f in report.fresh)
    pre = load_checkpoint(ckpt)
    assert pre.model.config.generator_multiplier == 0.5
    ids, mask, types = _batch()
    with torch.no_grad():
        _close(pre.discriminator(ids, mask.bool(), types), disc(ids, mask, types).logits, mask)


def test_bert_mlm_import_as_mlm_checkpoint_and_as_discriminator(tmp_path):
    torch.manual_seed(0)
    hf = _randomise(BertForPreTraining(_bert_config()))
    hf.save_pretrained(tmp_path / "bert")
    _hf_tokenizer_files(tmp_path / "bert", ["hello", "world"])
    ckpt, report = import_hf(tmp_path / "bert", tmp_path / "run")
    assert report.kind == "generator"
    assert any("seq_relationship" in n for n in report.ignored) and any("pooler" in n for n in report.ignored)
    pre = load_checkpoint(ckpt)
    assert isinstance(pre.model, MaskedLM) and pre.meta["model_class"] == "MaskedLM"
    ids, mask, types = _batch()
    with torch.no_grad():
        _close(pre.model(ids, mask.bool(), types), hf(ids, mask, types).prediction_logits, mask)
    # Forced to a discriminator: the encoder is kept, the MLM head ignored, a fresh head added.
    disc = load_hf(tmp_path / "bert", kind="discriminator")
    assert isinstance(disc, Discriminator)
    with torch.no_grad():
        _close(disc.encoder(ids, mask.bool(), types), hf.bert(ids, mask, types).last_hidden_state, mask)


def test_prefix_is_optional(tmp_path):
    torch.manual_seed(0)
    hf = _randomise(BertForMaskedLM(_bert_config()))
    hf.save_pretrained(tmp_path / "a")
    tensors = load_file(tmp_path / "a" / "model.safetensors")
    (tmp_path / "b").mkdir()
    save_file({k.removeprefix("bert."): v for k, v in tensors.items()}, tmp_path / "b" / "model.safetensors")
    (tmp_path / "b" / "config.json").write_text((tmp_path / "a" / "config.json").read_text())
    a, b = load_hf(tmp_path / "a"), load_hf(tmp_path / "b")
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)


def test_legacy_bin_is_read_without_unpickling(tmp_path):
    torch.manual_seed(0)
    hf = _randomise(ElectraForPreTraining(_electra_config()))
    (tmp_path / "d").mkdir()
    hf.config.to_json_file(tmp_path / "d" / "config.json")
    torch.save(hf.state_dict(), tmp_path / "d" / "pytorch_model.bin")
    model = load_hf(tmp_path / "d")
    ids, mask, types = _batch()
    with torch.no_grad():
        _close(model(ids, mask.bool(), types), hf(ids, mask, types).logits, mask)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "d" / "pytorch_model.bin")
    with pytest.raises(ElectraError, match="weights_only"):
        load_hf(tmp_path / "d")


@pytest.fixture
def electra_dir(tmp_path):
    torch.manual_seed(0)
    _randomise(ElectraForPreTraining(_electra_config())).save_pretrained(tmp_path / "e")
    return tmp_path / "e"


def _edit(path, fn):
    tensors = load_file(path / "model.safetensors")
    fn(tensors)
    save_file(tensors, path / "model.safetensors")


def test_bad_shape_names_the_tensor(electra_dir):
    name = "electra.encoder.layer.1.attention.self.query.weight"
    _edit(electra_dir, lambda t: t.__setitem__(name, torch.zeros(32, 31)))
    with pytest.raises(
        ElectraError,
        match=r"'electra\.encoder\.layer\.1\.attention\.self\.query\.weight' has shape "
        r"\[32, 31\], expected \[32, 32\]",
    ):
        load_hf(electra_dir)


def test_vocab_mismatch_with_config_names_the_tensor(electra_dir):
    cfg = json.loads((electra_dir / "config.json").read_text())
    cfg["vocab_size"] = VOCAB + 1
    (electra_dir / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(
        ElectraError, match=r"word_embeddings\.weight' has shape \[90, 16\], expected \[91, 16\]"
    ):
        load_hf(electra_dir)


def test_missing_and_unexpected_tensors(electra_dir):
    _edit(electra_dir, lambda t: t.__setitem__("electra.encoder.layer.2.output.dense.weight", torch.zeros(2)))
    with pytest.raises(ElectraError, match=r"layer\.2\.output\.dense\.weight' is unexpected"):
        load_hf(electra_dir)
    _edit(
        electra_dir,
        lambda t: (
            t.pop("electra.encoder.layer.2.output.dense.weight"),
            t.pop("electra.embeddings_project.bias"),
        ),
    )
    with pytest.raises(ElectraError, match=r"missing tensor 'embeddings_project\.bias'"):
        load_hf(electra_dir)


def test_unsupported_configs_are_refused(electra_dir, tmp_path):
    cfg = json.loads((electra_dir / "config.json").read_text())
    (electra_dir / "config.json").write_text(json.dumps({**cfg, "hidden_act": "gelu_new"}))
    with pytest.raises(ElectraError, match="hidden_act 'gelu_new'"):
        load_hf(electra_dir)
    (electra_dir / "config.json").write_text(json.dumps({**cfg, "model_type": "roberta"}))
    with pytest.raises(ElectraError, match="model_type 'roberta'"):
        load_hf(electra_dir)
    with pytest.raises(ElectraError, match="not found"):
        load_hf(tmp_path / "nope")


def test_untied_output_layer_is_refused(tmp_path):
    torch.manual_seed(0)
    _randomise(BertForMaskedLM(_bert_config())).save_pretrained(tmp_path / "b")
    _edit(tmp_path / "b", lambda t: t.__setitem__("cls.predictions.decoder.weight", torch.randn(VOCAB, 32)))
    with pytest.raises(ElectraError, match="untied"):
        load_hf(tmp_path / "b")


def test_vocab_txt_tokenizer_and_missing_tokenizer(electra_dir, tmp_path):
    with pytest.raises(ElectraError, match="no tokenizer"):
        import_hf(electra_dir, tmp_path / "run")
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "Hello", "world"]
    (electra_dir / "vocab.txt").write_text("".join(t + "\n" for t in tokens))
    (electra_dir / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}))
    ckpt, _ = import_hf(electra_dir, tmp_path / "run")
    from electra.data.tokenizer import load_tokenizer

    tok = load_tokenizer(ckpt / "tokenizer.json")  # do_lower_case false: the checkpoint's tokenizer keeps case
    assert tok.encode("Hello world").ids == [2, 5, 6, 3] and tok.encode("hello").ids == [2, 1, 3]
    with pytest.raises(ElectraError, match="already holds a checkpoint"):
        import_hf(electra_dir, tmp_path / "run")
