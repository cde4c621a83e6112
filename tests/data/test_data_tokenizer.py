"""WordPiece training, saving and loading."""

import pytest

from electra.core.errors import ElectraError
from electra.data.tokenizer import (
    SPECIAL_TOKENS,
    load_tokenizer,
    save_tokenizer,
    special_token_ids,
    tokenizer_fingerprint,
    train_wordpiece,
)

WORDS = (
    "the cat sat on mat and dog ran far away from house while children played in garden with ball "
    "café naïve résumé élan über straße museum painting river mountain played playing player plays"
).split()


def synthetic_texts(n: int = 400) -> list[str]:
    texts = []
    for i in range(n):
        words = [WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(8 + i % 5)]
        texts.append(" ".join(words).capitalize() + ", " + WORDS[i % len(WORDS)] + ". It (was) fine!")
    return texts


@pytest.fixture(scope="module")
def tok():
    return train_wordpiece(iter(synthetic_texts()), vocab_size=300, min_frequency=1)


SAMPLES = [
    "The Café was naïve, wasn't it? Résumé: ÉLAN über Straße!",
    "Zyxqvw unknownword ☃ 東京 — played; playing... (garden) [brackets] 42 3.14",
    "mixed CASE Words, and\ttabs  and   spaces",
]


def test_special_tokens_get_ids_0_to_4(tok):
    assert special_token_ids(tok) == {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}
    assert [tok.id_to_token(i) for i in range(5)] == SPECIAL_TOKENS
    assert 100 < tok.get_vocab_size() <= 300


def test_round_trip_and_post_processor(tok):
    text = "the cat sat on the mat, and the dog ran far away from the house."
    enc = tok.encode(text, add_special_tokens=False)
    assert "[UNK]" not in enc.tokens
    assert tok.decode(enc.ids) == text
    # Lower-casing and accent stripping happen in the normalizer.
    plain = tok.encode("cafe", add_special_tokens=False).ids
    assert tok.encode("CAFÉ", add_special_tokens=False).ids == plain
    single = tok.encode("the cat")
    assert single.ids[0] == 2 and single.ids[-1] == 3
    pair = tok.encode("the cat", "the dog")
    assert pair.tokens.count("[SEP]") == 2
    first_sep = pair.tokens.index("[SEP]")
    assert pair.type_ids == [0] * (first_sep + 1) + [1] * (len(pair.ids) - first_sep - 1)


def test_train_from_file_list(tmp_path, tok):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(synthetic_texts()), encoding="utf-8")
    from_files = train_wordpiece([path], vocab_size=300, min_frequency=1)
    assert special_token_ids(from_files) == special_token_ids(tok)
    # (Training is not bit-for-bit repeatable: the Rust trainer breaks ties in hash order.)
    for text in synthetic_texts(20):
        assert "[UNK]" not in from_files.encode(text).tokens
    assert from_files.token_to_id("garden") is not None


def test_save_and_load_give_identical_ids(tok, tmp_path):
    save_tokenizer(tok, tmp_path / "tok")
    vocab_lines = (tmp_path / "tok" / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert vocab_lines[:5] == SPECIAL_TOKENS
    assert len(vocab_lines) == tok.get_vocab_size()
    assert all(tok.token_to_id(t) == i for i, t in enumerate(vocab_lines))

    loaded = {
        "dir": load_tokenizer(tmp_path / "tok"),
        "json": load_tokenizer(tmp_path / "tok" / "tokenizer.json"),
        "vocab": load_tokenizer(tmp_path / "tok" / "vocab.txt"),
    }
    for text in SAMPLES:
        want = tok.encode(text)
        for name, other in loaded.items():
            got = other.encode(text)
            assert got.ids == want.ids, (name, text)
            assert got.type_ids == want.type_ids, (name, text)
        pair_want = tok.encode(text, SAMPLES[0])
        assert loaded["vocab"].encode(text, SAMPLES[0]).type_ids == pair_want.type_ids
    assert any(i == 1 for i in tok.encode(SAMPLES[1]).ids)  # the unknown words really are unknown
    assert tokenizer_fingerprint(loaded["json"]) == tokenizer_fingerprint(tok)


def test_directory_without_json_falls_back_to_vocab(tok, tmp_path):
    save_tokenizer(tok, tmp_path / "tok")
    (tmp_path / "tok" / "tokenizer.json").unlink()
    assert load_tokenizer(tmp_path / "tok").encode(SAMPLES[0]).ids == tok.encode(SAMPLES[0]).ids


def test_fingerprint_differs_between_vocabularies(tok):
    other = train_wordpiece(iter(synthetic_texts()), vocab_size=200, min_frequency=1)
    assert tokenizer_fingerprint(other) != tokenizer_fingerprint(tok)


def test_cased_vocab_is_detected(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(SPECIAL_TOKENS + ["Hello", "hello", "world", "!"]) + "\n", encoding="utf-8")
    cased = load_tokenizer(vocab)
    assert cased.encode("Hello world!", add_special_tokens=False).tokens == ["Hello", "world", "!"]
    forced = load_tokenizer(vocab, lowercase=True)
    assert forced.encode("Hello world!", add_special_tokens=False).tokens == ["hello", "world", "!"]


def test_vocab_missing_special_token(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"]) + "\n", encoding="utf-8")
    with pytest.raises(ElectraError, match=r"vocab\.txt.*\[MASK\]"):
        load_tokenizer(vocab)


def test_missing_tokenizer_files(tmp_path):
    with pytest.raises(ElectraError, match="not found"):
        load_tokenizer(tmp_path / "nope.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ElectraError, match="no tokenizer.json or vocab.txt"):
        load_tokenizer(tmp_path / "empty")
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ElectraError, match="tokenizer.json"):
        load_tokenizer(bad)

