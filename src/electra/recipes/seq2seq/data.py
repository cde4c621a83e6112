"""The training data of ``electra seq2seq train``: pairs read, a joint sub-word tokenizer, encoded and
filtered pairs, and the token-budget batches the engine iterates (resumable at a batch)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tokenizers import Tokenizer

from electra.core.errors import ElectraError
from electra.data.parallel import (
    PAIR_CATALOGUE,
    Pair,
    PairReport,
    fetch_pairs,
    length_ok,
    read_pairs,
    token_budget_batches,
)
from electra.data.tokenizer import SEQ2SEQ_SPECIAL_TOKENS, train_subword

PAD, UNK, BOS, EOS = range(4)


def pair_sources(entries: Sequence[str]) -> dict[str, list[Path]]:
    """``{"train": paths, ...}`` of ``data.corpus``: a catalogue pair gives its three splits; one TSV or
    two line-aligned files give the training split only."""
    if len(entries) == 1 and entries[0] in PAIR_CATALOGUE:
        return {split: [path] for split, path in fetch_pairs(entries[0]).items()}
    return {"train": [Path(e) for e in entries]}


def read_split(paths: Sequence[Path], what: str) -> list[Pair]:
    """The non-empty pairs of ``paths``; a one-line error when there are none."""
    report = PairReport()
    pairs = list(read_pairs(paths, report))
    if not pairs:
        raise ElectraError(f"{what} {', '.join(map(str, paths))} holds no sentence pair ({report.empty} empty)")
    return pairs


def check_translation_tokenizer(tok: Tokenizer, where: str) -> Tokenizer:
    """``tok`` if it has :data:`SEQ2SEQ_SPECIAL_TOKENS` at ids 0..3, else a one-line error."""
    for i, token in enumerate(SEQ2SEQ_SPECIAL_TOKENS):
        if tok.token_to_id(token) != i:
            raise ElectraError(f"tokenizer {where} is not a translation tokenizer: {token} is not id {i}")
    return tok


def joint_tokenizer(pairs: Sequence[Pair], vocab_size: int, kind: str) -> Tokenizer:
    """A sub-word tokenizer trained on both sides of ``pairs``."""
    return train_subword((text for pair in pairs for text in pair), vocab_size, kind)


@dataclass
class Vocabularies:
    """The source and target tokenizers: one object for a joint vocabulary."""

    source: Tokenizer
    target: Tokenizer

    @property
    def joint(self) -> bool:
        return self.source is self.target

    @classmethod
    def train(cls, pairs: Sequence[Pair], vocab_size: int, kind: str, joint: bool = True) -> Vocabularies:
        """A joint tokenizer trained on both sides, or one per side (each of ``vocab_size``)."""
        if joint:
            tok = joint_tokenizer(pairs, vocab_size, kind)
            return cls(tok, tok)
        return cls(train_subword((s for s, _ in pairs), vocab_size, kind),
                   train_subword((t for _, t in pairs), vocab_size, kind))  # fmt: skip

    def files(self) -> dict[str, str]:
        """Checkpoint files: ``tokenizer.json`` (the source's, or the joint one) and, for separate
        vocabularies, ``target_tokenizer.json``."""
        out = {"tokenizer.json": self.source.to_str(pretty=True)}
        if not self.joint:
            out[TARGET_TOKENIZER] = self.target.to_str(pretty=True)
        return out

    @classmethod
    def from_files(cls, files: dict[str, str]) -> Vocabularies:
        """The inverse of :meth:`files` (how torchrun's ranks receive rank 0's trained tokenizers)."""
        source = Tokenizer.from_str(files["tokenizer.json"])
        return cls(source, Tokenizer.from_str(files[TARGET_TOKENIZER]) if TARGET_TOKENIZER in files else source)


TARGET_TOKENIZER = "target_tokenizer.json"


@dataclass
class Encoded:
    """Pairs as token ids: ``src`` ends with </s>; ``tgt`` is <s> ... </s> (input = all but the last,
    target = all but the first). ``dropped``: pairs the length filter left out."""

    src: list[list[int]] = field(default_factory=list)
    tgt: list[list[int]] = field(default_factory=list)
    dropped: int = 0  # pairs the training filter left out
    cut: int = 0  # pairs kept with a side cut to max_length

    def __len__(self) -> int:
        return len(self.src)

    @property
    def lengths(self) -> list[tuple[int, int]]:
        return [(len(s), len(t) - 1) for s, t in zip(self.src, self.tgt)]


def encode_pairs(vocab: Vocabularies, pairs: Sequence[Pair], max_length: int, max_ratio: float | None) -> Encoded:
    """Token ids of ``pairs``; with ``max_ratio`` the training filter (:func:`length_ok`) drops pairs, else
    sides are cut to ``max_length`` tokens (evaluation keeps every pair)."""
    src_ids = [e.ids for e in vocab.source.encode_batch([s for s, _ in pairs])]
    tgt_ids = [e.ids for e in vocab.target.encode_batch([t for _, t in pairs])]
    out = Encoded()
    for s, t in zip(src_ids, tgt_ids):
        if max_ratio is not None and not length_ok(len(s) + 1, len(t) + 1, max_length, max_ratio):
            out.dropped += 1
            continue
        out.cut += len(s) >= max_length or len(t) >= max_length
        out.src.append(s[: max_length - 1] + [EOS])
        out.tgt.append([BOS, *t[: max_length - 1], EOS])
    return out


def collate(data: Encoded, rows: Sequence[int]) -> dict[str, torch.Tensor]:
    """A padded batch: ``src_ids`` / ``src_mask`` [B, S], ``tgt_in`` / ``tgt_out`` [B, T] and
    ``attention_mask`` (the real target tokens: what the engine counts as tokens)."""
    src = [data.src[i] for i in rows]
    tgt = [data.tgt[i] for i in rows]
    s_len, t_len = max(map(len, src)), max(len(t) - 1 for t in tgt)
    src_ids = torch.full((len(rows), s_len), PAD, dtype=torch.long)
    tgt_in = torch.full((len(rows), t_len), PAD, dtype=torch.long)
    tgt_out = torch.full((len(rows), t_len), PAD, dtype=torch.long)
    for r, (s, t) in enumerate(zip(src, tgt)):
        src_ids[r, : len(s)] = torch.tensor(s)
        tgt_in[r, : len(t) - 1] = torch.tensor(t[:-1])
        tgt_out[r, : len(t) - 1] = torch.tensor(t[1:])
    return {"src_ids": src_ids, "src_mask": src_ids != PAD, "tgt_in": tgt_in, "tgt_out": tgt_out,
            "attention_mask": tgt_out != PAD}  # fmt: skip


def batch_stream(data: Encoded, max_tokens: int, seed: int, device: torch.device, start_epoch: int = 0,
                 start_batch: int = 0, rank: int = 0,
                 world_size: int = 1) -> Iterator[tuple[int, int, dict[str, torch.Tensor]]]:  # fmt: skip
    """``(epoch, batch_index, batch)`` forever, from ``start_epoch`` / ``start_batch`` (a resumed run's
    position): each epoch's token-budget batches in their seeded order. Under torchrun each of ``world_size``
    ranks gets every ``world_size``-th row of each batch (the whole batch when it has fewer rows than there are
    ranks), so a step sees the same global batch at any process count and a run resumes at any of them."""
    epoch, first = start_epoch, start_batch
    lengths = data.lengths
    while True:
        batches = token_budget_batches(lengths, max_tokens, seed, epoch)
        for index in range(first, len(batches)):
            rows = batches[index]
            share = rows[rank::world_size] if len(rows) >= world_size else rows
            yield epoch, index, {k: v.to(device) for k, v in collate(data, share).items()}
        epoch, first = epoch + 1, 0
