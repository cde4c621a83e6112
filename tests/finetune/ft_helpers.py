"""Helpers for the fine-tuning tests: synthetic tasks and their files (imported by conftest and tests)."""

from __future__ import annotations

import json
import random
from pathlib import Path

FILLER = (
    "the a film movie story plot actor scene it was is and of to in with this that its one two very quite "
    "rather some many director music camera light night day house city road"
).split()
POSITIVE = ["great", "superb", "lovely", "wonderful"]
NEGATIVE = ["awful", "boring", "dreadful", "terrible"]
NAMES = ["alice", "bob", "carol", "dave", "erin", "frank"]
SURNAMES = ["smith", "jones", "brown"]
PLACES = ["paris", "london", "berlin", "rome", "madrid"]


def sentiment_rows(n: int, seed: int) -> list[dict]:
    """Sentences of filler words with two marker words deciding the label."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words = [rng.choice(FILLER) for _ in range(rng.randint(4, 10))]
        label = rng.choice(["positive", "negative"])
        for _ in range(2):
            words.insert(
                rng.randint(0, len(words)), rng.choice(POSITIVE if label == "positive" else NEGATIVE)
            )
        rows.append({"text": " ".join(words), "label": label})
    return rows


def ner_sentences(n: int, seed: int) -> list[list[tuple[str, str]]]:
    """Sentences where names are PER (some with a surname: two words) and places LOC, in IOB2."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        blocks = [[(w, "O")] for w in (rng.choice(FILLER) for _ in range(rng.randint(3, 8)))]
        for kind, vocab in (("PER", NAMES), ("LOC", PLACES)):
            if rng.random() < 0.8:
                ent = [rng.choice(vocab)] + (
                    [rng.choice(SURNAMES)] if kind == "PER" and rng.random() < 0.5 else []
                )
                blocks.insert(
                    rng.randint(0, len(blocks)),
                    [(w, ("B-" if i == 0 else "I-") + kind) for i, w in enumerate(ent)],
                )
        sent = [pair for block in blocks for pair in block]
        out.append(sent)
    return out


def write_conll(path: Path, sentences: list[list[tuple[str, str]]]) -> Path:
    lines = ["-DOCSTART- -X- O", ""]
    for sent in sentences:
        lines += [f"{w} X {t}" for w, t in sent] + [""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def corpus_texts() -> list[str]:
    rng = random.Random(0)
    words = (
        FILLER
        + POSITIVE
        + NEGATIVE
        + NAMES
        + SURNAMES
        + PLACES
        + ["where", "who", "lives", "in", "?", ".", ","]
    )
    texts = [" ".join(rng.choice(words) for _ in range(12)) for _ in range(300)]
    return texts + [" ".join(words)] * 3
