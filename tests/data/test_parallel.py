"""Parallel text: TSV and line-aligned files (and gzip), empty pairs skipped and counted, bad input as one
line, the length filter, and the Bible pairs split by whole books."""

import gzip
import sqlite3

import pytest

from electra.core.errors import ElectraError
from electra.data import catalogue
from electra.data.parallel import (
    DEV_BOOKS,
    PAIR_CATALOGUE,
    TEST_BOOKS,
    PairReport,
    bible_pairs,
    fetch_pairs,
    length_ok,
    read_pairs,
    token_budget_batches,
)


def test_tsv_and_aligned_files_give_the_same_pairs(tmp_path):
    tsv = tmp_path / "p.tsv"
    tsv.write_text("a  b\tx y\n\t\nc\td\textra\n", encoding="utf-8")
    src, tgt = tmp_path / "p.en", tmp_path / "p.es.gz"
    src.write_text("a  b\n\nc\n", encoding="utf-8")
    with gzip.open(tgt, "wt", encoding="utf-8") as f:
        f.write("x y\n\nd\n")
    report = PairReport()
    assert list(read_pairs([tsv], report)) == [("a b", "x y"), ("c", "d")]  # a third column is ignored
    assert (report.total, report.empty) == (3, 1)
    assert list(read_pairs([src, tgt])) == [("a b", "x y"), ("c", "d")]


def test_bad_parallel_input_is_one_line(tmp_path):
    src, tgt = tmp_path / "a.txt", tmp_path / "b.txt"
    src.write_text("1\n2\n3\n", encoding="utf-8")
    tgt.write_text("1\n2\n", encoding="utf-8")
    with pytest.raises(ElectraError, match=r"a.txt has 3 lines but .*b.txt has 2"):
        list(read_pairs([src, tgt]))
    bad = tmp_path / "bad.tsv"
    bad.write_text("fine\tok\nno tab here\n", encoding="utf-8")
    with pytest.raises(ElectraError, match=r"bad.tsv:2: expected 'source<TAB>target'"):
        list(read_pairs([bad]))
    binary = tmp_path / "bin.tsv"
    binary.write_bytes(b"\xff\xfe\x00a\tb\n")
    with pytest.raises(ElectraError, match="not UTF-8"):
        list(read_pairs([binary]))
    with pytest.raises(ElectraError, match="does not exist"):
        list(read_pairs([tmp_path / "missing.tsv"]))
    with pytest.raises(ElectraError, match="unknown language pair 'en-xx'; available: bible-en-es"):
        fetch_pairs("en-xx")


def test_length_filter():
    assert length_ok(10, 12, 20, 1.5) and not length_ok(10, 16, 20, 1.5)  # ratio 1.6
    assert not length_ok(21, 20, 20, 9.0) and not length_ok(0, 3, 20, 9.0)


def test_bible_pairs_hold_out_whole_books(tmp_path):
    db = tmp_path / "bible.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE bible (id INTEGER, bbName TEXT, bNumber INTEGER, cNumber INTEGER, vNumber INTEGER, "
                "vText TEXT)")  # fmt: skip
    rows = []
    for book in (1, DEV_BOOKS[0], TEST_BOOKS[1]):
        for verse in (1, 2):
            rows.append(("4", book, 1, verse, f"God`s word {book} {verse} [here]"))
            rows.append(("v", book, 1, verse, f"palabra {book} {verse}" if verse == 1 else "-"))  # a near-empty verse
    con.executemany("INSERT INTO bible VALUES (0, ?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    splits = bible_pairs(db, "4", "v")
    assert splits == {"train": [("God's word 1 1 here", "palabra 1 1")],
                      "dev": [(f"God's word {DEV_BOOKS[0]} 1 here", f"palabra {DEV_BOOKS[0]} 1")],
                      "test": [(f"God's word {TEST_BOOKS[1]} 1 here", f"palabra {TEST_BOOKS[1]} 1")]}  # fmt: skip


def test_pair_entries_read_the_checked_bible_database():
    """The pairs read the same file, with the same digest, as the bible-web corpus entry."""
    corpus = catalogue.CATALOGUE["bible-web"]
    for entry in PAIR_CATALOGUE.values():
        assert entry.members == ((corpus.member, corpus.sha256),) and entry.version == corpus.version


def test_token_budget_batches_cover_every_pair_once_within_the_budget():
    import random

    rng = random.Random(0)
    lengths = [(rng.randint(1, 40), rng.randint(1, 40)) for _ in range(500)]
    batches = token_budget_batches(lengths, max_tokens=200, seed=3, epoch=0)
    assert sorted(i for b in batches for i in b) == list(range(500))
    for b in batches:
        assert len(b) * max(max(lengths[i]) for i in b) <= 200 or len(b) == 1
    sizes = [max(max(lengths[i]) for i in b) for b in batches]
    assert sum(len(b) for b in batches) / len(batches) > 5  # length-sorted: short pairs share batches
    assert token_budget_batches(lengths, 200, seed=3, epoch=0) == batches  # deterministic: resumable
    again = token_budget_batches(lengths, 200, seed=3, epoch=1)
    assert again != batches and sorted(map(sorted, again)) == sorted(map(sorted, batches))  # same, reshuffled
    assert sizes != sorted(sizes)  # the order of batches is shuffled, not by length


def test_subword_tokenizer_round_trips_text_and_reserves_the_special_ids():
    from electra.data.tokenizer import SEQ2SEQ_SPECIAL_TOKENS, train_subword

    texts = ["the cat sat on the mat", "el gato se sentó en la alfombra", "the dog", "el perro"] * 20
    for kind in ("bpe", "unigram"):
        tok = train_subword(texts, vocab_size=60, kind=kind, min_frequency=1)
        assert [tok.token_to_id(t) for t in SEQ2SEQ_SPECIAL_TOKENS] == [0, 1, 2, 3]
        ids = tok.encode("el gato sat on la alfombra").ids
        assert tok.decode(ids) == "el gato sat on la alfombra"
    with pytest.raises(ElectraError, match="unknown tokenizer kind"):
        train_subword(texts, kind="wordpiece")


def test_data_list_names_the_language_pairs(capsys):
    from electra.cli.main import main

    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "language pairs" in out and "bible-en-es" in out and "Reina-Valera 1909" in out
