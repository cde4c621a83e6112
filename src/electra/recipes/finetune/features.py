"""From examples to model inputs: tokenisation, sub-word label alignment, QA sliding windows, batching.

* Sequence tasks: ``[CLS] A [SEP] (B [SEP])``; texts longer than ``max_length`` are truncated longest
  first (counted in :attr:`Features.n_truncated` and reported by the trainer).
* Token classification: the first word piece of every word carries the word's label, the other pieces and
  the special tokens carry ``IGNORE_INDEX`` (-100). Sentences longer than ``max_length`` are split into
  several sequences at word boundaries, so every word is labelled and predicted: nothing is truncated.
* Extractive QA: ``[CLS] question [SEP] context window [SEP]`` with windows of the context advancing by
  ``doc_stride`` tokens (as the official BERT/ELECTRA code). A window that does not hold the whole answer
  (and every window of an unanswerable question) targets the [CLS] position.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from tokenizers import Tokenizer

from electra.core.errors import ElectraError
from electra.recipes.finetune.spec import QAExample, TextExample, TokenExample

IGNORE_INDEX = -100


@dataclass
class Features:
    """Model inputs of one dataset; one row per model sequence (several per example for QA/NER)."""

    input_ids: list[list[int]] = field(default_factory=list)
    token_type_ids: list[list[int]] = field(default_factory=list)
    targets: dict[str, list[Any]] = field(default_factory=dict)  # per-row training targets
    example_index: list[int] = field(default_factory=list)
    extra: list[dict[str, Any]] = field(default_factory=list)  # per-row data for post-processing
    n_truncated: int = 0  # examples shortened to fit max_length (sequence tasks only)

    def __len__(self) -> int:
        return len(self.input_ids)

    def lengths(self) -> list[int]:
        return [len(x) for x in self.input_ids]

    def add(
        self,
        ids: list[int],
        types: list[int],
        example: int,
        extra: dict[str, Any] | None = None,
        **targets: Any,
    ) -> None:
        self.input_ids.append(ids)
        self.token_type_ids.append(types)
        self.example_index.append(example)
        self.extra.append(extra or {})
        for k, v in targets.items():
            self.targets.setdefault(k, []).append(v)


@dataclass(frozen=True)
class SpecialIds:
    """The special token ids the features need."""

    cls: int
    sep: int
    pad: int
    unk: int

    @classmethod
    def from_dict(cls, ids: dict[str, int]) -> SpecialIds:
        return cls(ids["cls"], ids["sep"], ids["pad"], ids["unk"])


def _truncate_pair(
    a: list[int], b: list[int] | None, budget: int
) -> tuple[list[int], list[int] | None, bool]:
    """Drop tokens from the end of the longer sequence until both fit ``budget`` (BERT's longest-first)."""
    total = len(a) + (len(b) if b is not None else 0)
    if total <= budget:
        return a, b, False
    a, b = list(a), list(b) if b is not None else None
    while len(a) + (len(b) if b is not None else 0) > budget:
        if b is not None and len(b) > len(a):
            b.pop()
        else:
            a.pop()
    return a, b, True


def encode_text_examples(
    examples: Sequence[TextExample],
    tokenizer: Tokenizer,
    special: SpecialIds,
    max_length: int,
    label_to_id: dict[str, int] | None = None,
) -> Features:
    """Features for classification (with ``label_to_id``) or regression (float labels)."""
    has_pair = any(e.text_pair is not None for e in examples)
    budget = max_length - (3 if has_pair else 2)
    if budget < 1:
        raise ElectraError(f"max_length {max_length} leaves no room for text")
    first = tokenizer.encode_batch([e.text for e in examples], add_special_tokens=False)
    second = (
        tokenizer.encode_batch([e.text_pair or "" for e in examples], add_special_tokens=False)
        if has_pair
        else None
    )
    feats = Features()
    for i, ex in enumerate(examples):
        a = first[i].ids
        b = second[i].ids if second is not None else None
        a, b, cut = _truncate_pair(a, b, budget)
        feats.n_truncated += cut
        ids = [special.cls, *a, special.sep]
        types = [0] * len(ids)
        if b is not None:
            ids += [*b, special.sep]
            types += [1] * (len(b) + 1)
        targets: dict[str, Any] = {}
        if ex.label is not None:
            targets["labels"] = label_to_id[str(ex.label)] if label_to_id is not None else float(ex.label)
        feats.add(ids, types, i, **targets)
    return feats


def encode_token_examples(
    examples: Sequence[TokenExample],
    tokenizer: Tokenizer,
    special: SpecialIds,
    max_length: int,
    label_to_id: dict[str, int] | None = None,
) -> Features:
    """Features for token classification with first-piece labels; long sentences split at word boundaries.

    ``extra["words"]`` lists ``(position, word index)`` for the first piece of each word in the row, so
    predictions can be put back on words.
    """
    budget = max_length - 2
    if budget < 1:
        raise ElectraError(f"max_length {max_length} leaves no room for tokens")
    encodings = tokenizer.encode_batch(
        [e.tokens for e in examples], is_pretokenized=True, add_special_tokens=False
    )
    feats = Features()
    for i, (ex, enc) in enumerate(zip(examples, encodings, strict=False)):
        pieces: list[list[int]] = [[] for _ in ex.tokens]
        for tid, w in zip(enc.ids, enc.word_ids, strict=False):
            if w is not None:
                pieces[w].append(tid)
        for p in pieces:
            if not p:  # a word the normaliser erased entirely still gets a position
                p.append(special.unk)
            del p[budget:]
        chunk: list[int] = []
        start = 0
        for w in range(len(ex.tokens) + 1):
            used = sum(len(pieces[j]) for j in chunk)
            if w == len(ex.tokens) or (chunk and used + len(pieces[w]) > budget):
                ids, labels, words = [special.cls], [IGNORE_INDEX], []
                for j in chunk:
                    words.append((len(ids), j))
                    ids += pieces[j]
                    tag_id = (
                        label_to_id[ex.tags[j]] if (ex.tags is not None and label_to_id) else IGNORE_INDEX
                    )
                    labels += [tag_id] + [IGNORE_INDEX] * (len(pieces[j]) - 1)
                ids.append(special.sep)
                labels.append(IGNORE_INDEX)
                targets = {"labels": labels} if ex.tags is not None else {}
                feats.add(ids, [0] * len(ids), i, {"words": words, "first_word": start}, **targets)
                chunk, start = [], w
            if w < len(ex.tokens):
                chunk.append(w)
    return feats


def char_span_to_tokens(
    offsets: Sequence[tuple[int, int]], char_start: int, char_end: int
) -> tuple[int, int] | None:
    """First and last token (indices into ``offsets``) overlapping characters ``[char_start, char_end)``."""
    first = next((i for i, (s, e) in enumerate(offsets) if e > char_start), None)
    last = next((i for i in range(len(offsets) - 1, -1, -1) if offsets[i][0] < char_end), None)
    if first is None or last is None or last < first:
        return None
    return first, last


def window_starts(n_tokens: int, window: int, stride: int) -> list[tuple[int, int]]:
    """``(start, length)`` of the context windows (the official code's doc spans)."""
    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        length = min(window, n_tokens - start)
        spans.append((start, length))
        if start + length >= n_tokens:
            return spans
        start += min(length, stride)


def best_window(windows: Sequence[tuple[int, int]], first: int, last: int) -> int | None:
    """Index of the window giving context tokens ``first..last`` the most surrounding context.

    The official "max context" score, ``min(left context, right context) + 0.01 * window length``,
    taken over the windows that hold the whole span (the official code applies it to the start token
    alone, which can pick a window that cuts the answer off). None when no window holds the span.
    """
    best_score, best = None, None
    for k, (start, length) in enumerate(windows):
        end = start + length - 1
        if first < start or last > end:
            continue
        score = min(first - start, end - last) + 0.01 * length
        if best_score is None or score > best_score:
            best_score, best = score, k
    return best


def encode_qa_examples(
    examples: Sequence[QAExample],
    tokenizer: Tokenizer,
    special: SpecialIds,
    max_length: int,
    doc_stride: int = 128,
    max_query_length: int = 64,
) -> Features:
    """Sliding-window features; ``extra`` holds each row's character offsets (None outside the context),
    its window ``(first context token, length)`` and ``context_offset`` (position of its first context token).

    Targets: ``start_positions`` / ``end_positions`` (0 = [CLS] = no answer in this window),
    ``is_impossible`` (1.0 when the window holds no answer) and always ``span_mask`` (1 at [CLS] and at
    the context tokens: the only positions a predicted span may use).
    """
    questions = tokenizer.encode_batch([e.question for e in examples], add_special_tokens=False)
    contexts = tokenizer.encode_batch([e.context for e in examples], add_special_tokens=False)
    feats = Features()
    for i, (ex, q_enc, c_enc) in enumerate(zip(examples, questions, contexts, strict=False)):
        q_ids = q_enc.ids[:max_query_length]
        window = max_length - len(q_ids) - 3
        if window < 1:
            raise ElectraError(
                f"max_length {max_length} leaves no room for the context after a {len(q_ids)}-token question "
                f"(lower --max-query-length or raise --max-length)"
            )
        offsets = list(c_enc.offsets)
        answer_tokens = None
        if ex.answers and not ex.is_impossible:
            text, begin = ex.answers[0]
            answer_tokens = char_span_to_tokens(offsets, begin, begin + len(text))
            if answer_tokens is None:
                raise ElectraError(f"{ex.source}: answer {text!r} covers no token of the context")
        spans = window_starts(len(offsets), window, doc_stride)
        for start, length in spans:
            prefix = [special.cls, *q_ids, special.sep]
            ids = prefix + c_enc.ids[start : start + length] + [special.sep]
            types = [0] * len(prefix) + [1] * (length + 1)
            pos_offsets: list[tuple[int, int] | None] = [None] * len(ids)
            span_mask = [0] * len(ids)
            span_mask[0] = 1
            for j in range(length):
                pos = len(prefix) + j
                pos_offsets[pos] = offsets[start + j]
                span_mask[pos] = 1
            s_pos = e_pos = 0
            if answer_tokens is not None and start <= answer_tokens[0] and answer_tokens[1] < start + length:
                s_pos = answer_tokens[0] - start + len(prefix)
                e_pos = answer_tokens[1] - start + len(prefix)
            targets: dict[str, Any] = {"span_mask": span_mask}
            if ex.answers or ex.is_impossible:
                targets.update(start_positions=s_pos, end_positions=e_pos, is_impossible=float(s_pos == 0))
            extra = {"offsets": pos_offsets, "window": (start, length), "context_offset": len(prefix)}
            feats.add(ids, types, i, extra, **targets)
    return feats


# ---------------------------------------------------------------------------------------------- batching


def length_grouped_batches(
    lengths: Sequence[int], batch_size: int, seed: int, shuffle: bool = True, group_factor: int = 50
) -> list[list[int]]:
    """Batches of indices with similar lengths (less padding), in random order when ``shuffle``.

    Indices are shuffled, cut into groups of ``batch_size * group_factor``, each group sorted by length and
    cut into batches; then the batches are shuffled. Without ``shuffle`` the batches follow descending length
    (for evaluation; callers restore the original order).
    """
    order = list(range(len(lengths)))
    if not shuffle:
        order.sort(key=lambda i: -lengths[i])
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng = random.Random(seed)
    rng.shuffle(order)
    group = batch_size * group_factor
    batches: list[list[int]] = []
    for g in range(0, len(order), group):
        chunk = sorted(order[g : g + group], key=lambda i: -lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(features: Features, indices: Sequence[int], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad the rows ``indices`` to their longest (dynamic padding) and stack them into tensors."""
    width = max(len(features.input_ids[i]) for i in indices)
    n = len(indices)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    types = torch.zeros((n, width), dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.bool)
    for r, i in enumerate(indices):
        row = features.input_ids[i]
        ids[r, : len(row)] = torch.tensor(row)
        types[r, : len(row)] = torch.tensor(features.token_type_ids[i])
        mask[r, : len(row)] = True
    batch = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
    for key, values in features.targets.items():
        first = values[indices[0]]
        if isinstance(first, list):
            fill = IGNORE_INDEX if key == "labels" else 0
            t = torch.full((n, width), fill, dtype=torch.long)
            for r, i in enumerate(indices):
                t[r, : len(values[i])] = torch.tensor(values[i])
            batch[key] = t
        else:
            dtype = torch.float32 if isinstance(first, float) else torch.long
            batch[key] = torch.tensor([values[i] for i in indices], dtype=dtype)
    return batch


def iter_batches(
    features: Features, batch_size: int, pad_id: int, seed: int = 0, shuffle: bool = False
) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
    """``(row indices, batch)`` pairs over ``features`` in length-grouped batches."""
    for indices in length_grouped_batches(features.lengths(), batch_size, seed, shuffle):
        yield indices, collate(features, indices, pad_id)
