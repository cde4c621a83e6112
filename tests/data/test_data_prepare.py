"""Tokenizing and packing a corpus into shards."""

import json
import logging

import numpy as np
import pytest

import electra.data.prepare as prepare_mod
from electra.core.errors import ElectraError
from electra.data.prepare import PackingConfig, SequencePacker, prepare_corpus
from electra.data.tokenizer import SPECIAL_TOKENS, load_tokenizer

CLS, SEP, PAD = 2, 3, 0


def word(doc: int, j: int) -> str:
    return f"d{doc}w{j}"


def make_corpus(tmp_path, num_docs=60, seed=0):
    """Documents whose words are disjoint (word(d, j) belongs to document d only), one sentence per line,
    and a tokenizer whose vocabulary holds every word whole, so every token identifies its document."""
    rng = np.random.default_rng(seed)
    vocab = list(SPECIAL_TOKENS)
    doc_tokens = []
    lines_out = []
    for d in range(num_docs):
        n_words = int(rng.integers(3, 30))
        vocab += [word(d, j) for j in range(n_words)]
        sentences = []
        for _ in range(int(rng.integers(1, 40))):
            length = int(rng.integers(1, 25 if rng.random() < 0.95 else 200))
            sentences.append(" ".join(word(d, int(j)) for j in rng.integers(0, n_words, length)))
        doc_tokens.append(sentences)
        lines_out.append("\n".join(sentences))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join(lines_out) + "\n", encoding="utf-8")
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = load_tokenizer(vocab_file)
    owner = {tok.token_to_id(w): int(w[1:].split("w")[0]) for w in vocab[len(SPECIAL_TOKENS):]}
    return corpus, tok, owner


def load_rows(directory):
    manifest = json.loads((directory / "manifest.json").read_text())
    rows = np.concatenate([np.load(directory / s["file"]) for s in manifest["shards"]])
    return manifest, rows


def check_layout(row, max_len):
    """Assert [CLS] A [SEP] (B [SEP]) then padding; return (A, B)."""
    content = row[row != PAD]
    assert (row[len(content):] == PAD).all(), "padding only at the end"
    assert len(content) <= max_len
    assert content[0] == CLS and content[-1] == SEP
    assert (content[1:] != CLS).all()
    seps = np.flatnonzero(content == SEP)
    assert len(seps) in (1, 2)
    a = content[1:seps[0]]
    b = content[seps[0] + 1:-1] if len(seps) == 2 else content[:0]
    assert len(a) > 0 and (len(seps) == 1 or len(b) > 0)
    return a, b


def test_examples_never_cross_documents_and_have_the_layout(tmp_path):
    corpus, tok, owner = make_corpus(tmp_path)
    cfg = PackingConfig(max_seq_length=32, shard_size=50, seed=1)
    out = prepare_corpus([corpus], tok, tmp_path / "prepared", cfg, progress=False)
    manifest, rows = load_rows(out)
    assert rows.dtype == np.uint16 and rows.shape == (manifest["num_examples"], 32)
    assert len(manifest["shards"]) == -(-manifest["num_examples"] // 50) > 1
    assert manifest["num_documents"] == 60
    assert manifest["num_tokens"] == int((rows != PAD).sum())
    docs_seen = []
    for row in rows:
        a, b = check_layout(row, 32)
        docs = {owner[int(t)] for t in np.concatenate([a, b])}
        assert len(docs) == 1, f"example mixes documents {docs}"
        docs_seen.append(docs.pop())
    # Documents come out whole and in corpus order.
    assert docs_seen == sorted(docs_seen) and set(docs_seen) == set(range(60))


def test_packing_keeps_sentence_order_and_splits_at_sentence_boundaries():
    cfg = PackingConfig(max_seq_length=40, seed=3)
    packer = SequencePacker(cfg, CLS, SEP)
    # Token t of sentence s is 1000*s + t + 10, so order and boundaries can be read back.
    sentences = [[1000 * s + t + 10 for t in range(3 + (s * 7) % 11)] for s in range(200)]
    stream = [t for s in sentences for t in s]
    starts = {s[0] for s in sentences}
    examples = packer.pack_document(sentences)
    position = 0
    for ex in examples:
        a, b = check_layout(np.array(ex), 40)
        body = list(a) + list(b)
        assert body[0] in starts, "an example starts at a sentence start"
        if len(b):
            assert b[0] in starts, "B starts at a sentence boundary"
        found = stream.index(body[0], position)
        assert stream[found:found + len(body)] == body, "A+B is one contiguous run of the document"
        position = found + len(body)
    assert sum(len(e) for e in examples) > 0.8 * len(stream)  # truncation loses only sentence tails


def test_long_sentence_is_spread_over_examples_not_lost():
    packer = SequencePacker(PackingConfig(max_seq_length=16, short_seq_prob=0.0), CLS, SEP)
    examples = packer.pack_document([list(range(10, 110))])
    body = [t for ex in examples for t in ex if t not in (CLS, SEP)]
    assert body == list(range(10, 110))
    assert all(len(ex) <= 16 for ex in examples)


def test_short_targets_bound_the_example_length():
    packer = SequencePacker(PackingConfig(max_seq_length=64, short_seq_prob=1.0), CLS, SEP)
    lengths = []
    for _ in range(200):
        target = packer.target_length
        assert 5 <= target <= 64
        (example,) = packer.pack_document([list(range(10, 71))])  # one 61-token sentence
        assert len(example) == min(target, 63)
        lengths.append(len(example))
    assert min(lengths) < 15 and max(lengths) > 55


def test_single_segment_and_short_rates():
    max_len = 64
    cfg = PackingConfig(max_seq_length=max_len, seed=0)
    packer = SequencePacker(cfg, CLS, SEP)
    rng = np.random.default_rng(0)
    single = short = total = 0
    for _ in range(150):
        sentences = [list(rng.integers(10, 1000, int(rng.integers(4, 11)))) for _ in range(250)]
        examples = packer.pack_document(sentences)
        for ex in examples[:-1]:  # the last example of a document is whatever was left over
            total += 1
            single += ex.count(SEP) == 1
            short += len(ex) < max_len - 1  # full-target examples have at least L-1 tokens
    assert total > 3000
    assert 0.075 < single / total < 0.125, single / total
    assert 0.03 < short / total < 0.07, short / total
    none = SequencePacker(PackingConfig(max_seq_length=max_len, single_segment_prob=0.0, short_seq_prob=0.0),
                          CLS, SEP)
    examples = none.pack_document(sentences)[:-1]
    assert all(ex.count(SEP) == 2 and len(ex) >= max_len - 1 for ex in examples)


def test_deterministic_for_a_seed(tmp_path):
    corpus, tok, _ = make_corpus(tmp_path)
    cfg = PackingConfig(max_seq_length=24, shard_size=40, seed=5, short_seq_prob=0.3)
    a = load_rows(prepare_corpus([corpus], tok, tmp_path / "a", cfg, progress=False))[1]
    b = load_rows(prepare_corpus([corpus], tok, tmp_path / "b", cfg, progress=False))[1]
    assert np.array_equal(a, b)
    cfg.seed = 6
    c = load_rows(prepare_corpus([corpus], tok, tmp_path / "a", cfg, progress=False))[1]
    assert not (a.shape == c.shape and np.array_equal(a, c))


def test_reuse_skips_tokenizing_and_inputs_change_the_key(tmp_path, monkeypatch, caplog):
    corpus, tok, _ = make_corpus(tmp_path, num_docs=10)
    cfg = PackingConfig(max_seq_length=32, shard_size=1000)
    first = prepare_corpus([corpus], tok, tmp_path / "out", cfg, progress=False)

    def fail(*args, **kwargs):
        raise AssertionError("tokenized again")

    monkeypatch.setattr(prepare_mod, "encode_sentences", fail)
    with caplog.at_level(logging.INFO, logger="electra.data.prepare"):
        again = prepare_corpus([tmp_path / "corpus.txt"], tok, tmp_path / "out", cfg, progress=False)
    assert again == first and "reusing prepared data at" in caplog.text
    # Any change to the inputs, the packing or the tokenizer means preparing afresh.
    with pytest.raises(AssertionError, match="tokenized again"):
        prepare_corpus([corpus], tok, tmp_path / "out", PackingConfig(max_seq_length=32, seed=1),
                       progress=False)
    with corpus.open("a", encoding="utf-8") as f:
        f.write("\nd0w0 d0w1\n")
    with pytest.raises(AssertionError, match="tokenized again"):
        prepare_corpus([corpus], tok, tmp_path / "out", cfg, progress=False)


def test_failure_midway_leaves_nothing(tmp_path, monkeypatch):
    corpus, tok, _ = make_corpus(tmp_path, num_docs=40)
    monkeypatch.setattr(prepare_mod, "CHUNK_DOCUMENTS", 10)
    real = prepare_mod.encode_sentences
    calls = []

    def flaky(tokenizer, sentences):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(tokenizer, sentences)

    monkeypatch.setattr(prepare_mod, "encode_sentences", flaky)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        prepare_corpus([corpus], tok, out, PackingConfig(max_seq_length=16, shard_size=100), progress=False)
    assert len(calls) == 2
    assert not out.exists()  # neither the final directory nor the temporary one, nor the directory it made
    monkeypatch.setattr(prepare_mod, "encode_sentences", real)
    final = prepare_corpus([corpus], tok, out, PackingConfig(max_seq_length=16, shard_size=100),
                           progress=False)
    assert [p.name for p in out.iterdir()] == [final.name]


def test_literal_special_tokens_in_text_are_not_specials(tmp_path):
    from electra.data.tokenizer import train_wordpiece

    text = "the [SEP] token and [PAD] and [CLS] appear in text here"
    tok = train_wordpiece(iter([text] * 20), vocab_size=100, min_frequency=1)
    corpus = tmp_path / "c.txt"
    corpus.write_text(text + "\n", encoding="utf-8")
    out = prepare_corpus([corpus], tok, tmp_path / "out", PackingConfig(max_seq_length=64), progress=False)
    row = load_rows(out)[1][0]
    content = row[row != PAD]
    assert len(content) > 15  # nothing in the middle was turned into padding
    assert list(content).count(SEP) == 1 and list(content).count(CLS) == 1


def test_manifest_and_config_errors(tmp_path):
    corpus, tok, _ = make_corpus(tmp_path, num_docs=5)
    out = prepare_corpus([corpus], tok, tmp_path / "out", PackingConfig(max_seq_length=16), progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("format", "max_seq_length", "dtype", "vocab_size", "num_examples", "shards", "num_tokens",
                "num_documents", "skipped", "packing", "tokenizer_fingerprint"):
        assert key in manifest
    assert manifest["packing"]["max_seq_length"] == 16
    with pytest.raises(ElectraError, match="max_seq_length"):
        prepare_corpus([corpus], tok, tmp_path / "out", PackingConfig(max_seq_length=4), progress=False)
    with pytest.raises(ElectraError, match="short_seq_prob"):
        prepare_corpus([corpus], tok, tmp_path / "out", PackingConfig(short_seq_prob=1.5), progress=False)
