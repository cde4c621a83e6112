"""How well a discriminator finds a replaced word: plant one random word in each sentence, score every token.

In each sentence one word (all its pieces) is replaced by a random word of the vocabulary; the discriminator
then gives every token its P(replaced). Reported: the ROC-AUC of those probabilities with the planted token
as the positive (pooled over sentences; 0.5 is chance), and how often the planted word is the most
suspicious word of its sentence (against ``1 / words``, the chance rate).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from tokenizers import Tokenizer

from electra.core.errors import ElectraError
from electra.data.tokenizer import special_token_ids
from electra.generation.text import replaced_probabilities
from electra.models import Discriminator

Scorer = Callable[[dict[str, torch.Tensor]], torch.Tensor]  # model inputs [B, L] -> P(replaced) [B, L]


@dataclass
class Planted:
    """One sentence with a planted word: its token ids, the word groups (token positions per word) and which
    word (and token) was planted."""

    ids: list[int]
    type_ids: list[int]
    words: list[list[int]]
    word: int
    original: list[int]  # the ids the planted token replaced

    @property
    def position(self) -> int:
        return self.words[self.word][0]


@dataclass
class DetectionQuality:
    """Detection of planted words over ``sentences`` sentences (see the module docstring)."""

    sentences: int
    auc: float
    top1: float
    chance_top1: float

    def to_dict(self) -> dict[str, float]:
        return {"sentences": self.sentences, "auc": round(self.auc, 4), "top1": round(self.top1, 4),
                "chance_top1": round(self.chance_top1, 4)}  # fmt: skip


def replacement_words(tokenizer: Tokenizer) -> list[int]:
    """Ids of whole alphabetic words of the vocabulary (no ``##`` pieces, no special tokens)."""
    return sorted(i for t, i in tokenizer.get_vocab().items() if t.isalpha() and len(t) > 1)


def plant(tokenizer: Tokenizer, texts: Sequence[str], seed: int = 0, max_length: int = 512) -> list[Planted]:
    """One planted word per sentence (sentences of fewer than 3 words, or too long, are left out)."""
    rng = random.Random(seed)
    pool = replacement_words(tokenizer)
    out = []
    for enc in tokenizer.encode_batch(list(texts)):
        if len(enc.ids) > max_length:
            continue
        groups: dict[int, list[int]] = {}
        for pos, w in enumerate(enc.word_ids):
            if w is not None and not enc.special_tokens_mask[pos]:
                groups.setdefault(w, []).append(pos)
        words = list(groups.values())
        if len(words) < 3:
            continue
        k = rng.randrange(len(words))
        first, last = words[k][0], words[k][-1]
        original = enc.ids[first : last + 1]
        new = rng.choice(pool)
        while [new] == original and len(pool) > 1:
            new = rng.choice(pool)
        ids = enc.ids[:first] + [new] + enc.ids[last + 1 :]
        types = enc.type_ids[: first + 1] + enc.type_ids[last + 1 :]
        shift = last - first
        regrouped = [[first] if j == k else [p - shift if p > last else p for p in g] for j, g in enumerate(words)]
        out.append(Planted(ids, types, regrouped, k, original))
    return out


def score_planted(planted: Sequence[Planted], scorer: Scorer, pad_id: int = 0,
                  batch_size: int = 64) -> DetectionQuality:  # fmt: skip
    """ROC-AUC and top-1 rate of ``scorer``'s probabilities on planted sentences."""
    from sklearn.metrics import roc_auc_score

    labels: list[int] = []
    scores: list[float] = []
    hits, chance = 0, 0.0
    for start in range(0, len(planted), batch_size):
        chunk = planted[start : start + batch_size]
        width = max(len(p.ids) for p in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        types, mask = torch.zeros_like(ids), torch.zeros_like(ids, dtype=torch.bool)
        for r, p in enumerate(chunk):
            ids[r, : len(p.ids)], types[r, : len(p.ids)] = torch.tensor(p.ids), torch.tensor(p.type_ids)
            mask[r, : len(p.ids)] = True
        probs = scorer({"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
        for r, p in enumerate(chunk):
            positions = [pos for word in p.words for pos in word]
            labels += [int(pos == p.position) for pos in positions]
            scores += [float(probs[r, pos]) for pos in positions]
            per_word = [max(float(probs[r, pos]) for pos in word) for word in p.words]
            hits += int(max(range(len(per_word)), key=per_word.__getitem__) == p.word)
            chance += 1 / len(p.words)
    n = len(planted)
    return DetectionQuality(n, float(roc_auc_score(labels, scores)), hits / n, chance / n)


def detection_quality(discriminator: Discriminator, tokenizer: Tokenizer, texts: Sequence[str], seed: int = 0,
                      batch_size: int = 64) -> DetectionQuality:  # fmt: skip
    """Plant one random word in each of ``texts`` and measure how well ``discriminator`` finds it."""
    planted = plant(tokenizer, texts, seed, discriminator.config.max_position_embeddings)
    if not planted:
        raise ElectraError("no sentence of 3 or more words to plant a replacement in")
    pad = special_token_ids(tokenizer)["pad"]
    return score_planted(planted, lambda inputs: replaced_probabilities(discriminator, inputs), pad, batch_size)
