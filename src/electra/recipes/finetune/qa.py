"""Extractive QA post-processing: from per-window start/end logits to one answer string per question."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from electra.recipes.finetune.features import Features, best_window
from electra.recipes.finetune.spec import QAExample


@dataclass
class QAPrediction:
    """The answer chosen for one question; ``text`` is "" when the model says there is none."""

    qid: str
    text: str
    score: float  # start + end logit of the best span (-inf when no window offered a span)
    char_start: int  # -1 for no answer
    null_logit: float | None = None  # min over windows of the "no answer here" logit (SQuAD 2.0)


def best_span(
    start_logits: Sequence[float],
    end_logits: Sequence[float],
    offsets: Sequence,
    max_answer_length: int = 30,
    n_best: int = 20,
    accept: Callable[[int, int], bool] | None = None,
) -> tuple[float, int, int] | None:
    """Highest ``start + end`` logit span over context tokens (start <= end, at most ``max_answer_length``
    tokens, and ``accept(start, end)`` when given) among the ``n_best`` starts and ends, as
    ``(score, start, end)`` positions; None if there is none."""
    s_log, e_log = np.asarray(start_logits), np.asarray(end_logits)
    starts = [int(i) for i in np.argsort(-s_log, kind="stable")[:n_best]]
    ends = [int(i) for i in np.argsort(-e_log, kind="stable")[:n_best]]
    best: tuple[float, int, int] | None = None
    for s in starts:
        if offsets[s] is None:
            continue
        for e in ends:
            if offsets[e] is None or e < s or e - s + 1 > max_answer_length:
                continue
            score = float(s_log[s] + e_log[e])
            if (best is None or score > best[0]) and (accept is None or accept(s, e)):
                best = (score, s, e)
    return best


def best_joint_span(
    start_top_log_probs: Sequence[float],
    start_top_index: Sequence[int],
    end_top_log_probs: Sequence[Sequence[float]],
    end_top_index: Sequence[Sequence[int]],
    offsets: Sequence,
    max_answer_length: int = 30,
    accept: Callable[[int, int], bool] | None = None,
) -> tuple[float, int, int] | None:
    """Highest ``log p(start) + log p(end | start)`` span among a joint span head's beam (as the official
    ELECTRA scorer does), with :func:`best_span`'s rules; ``(score, start, end)`` or None."""
    best: tuple[float, int, int] | None = None
    for i, s in enumerate(int(x) for x in start_top_index):
        if s >= len(offsets) or offsets[s] is None:
            continue
        for j, e in enumerate(int(x) for x in end_top_index[i]):
            if e >= len(offsets) or offsets[e] is None or e < s or e - s + 1 > max_answer_length:
                continue
            score = float(start_top_log_probs[i] + end_top_log_probs[i][j])
            if (best is None or score > best[0]) and (accept is None or accept(s, e)):
                best = (score, s, e)
    return best


def span_finder(outputs: dict[str, Sequence], max_answer_length: int) -> Callable[..., tuple[float, int, int] | None]:
    """``find(row, offsets, accept)``: the best span of a feature row, from a span head's outputs (a joint
    head's beam when present, else independent start / end logits)."""
    if "start_top_index" in outputs:
        keys = ("start_top_log_probs", "start_top_index", "end_top_log_probs", "end_top_index")
        return lambda row, offsets, accept: best_joint_span(*(outputs[k][row] for k in keys), offsets,
                                                            max_answer_length, accept)  # fmt: skip
    return lambda row, offsets, accept: best_span(outputs["start_logits"][row], outputs["end_logits"][row], offsets,
                                                  max_answer_length, accept=accept)  # fmt: skip


def postprocess_qa(
    examples: Sequence[QAExample],
    features: Features,
    start_logits: Sequence[Sequence[float]] | dict[str, Sequence],
    end_logits: Sequence[Sequence[float]] | None = None,
    answerable_logits: Sequence[float] | None = None,
    max_answer_length: int = 30,
    null_threshold: float = 0.0,
) -> list[QAPrediction]:
    """One :class:`QAPrediction` per example, in order.

    ``start_logits`` may instead be the span head's whole output dict (then ``end_logits`` is unused): a
    joint head's beam is scored as the official code does. The answer is the best span over all the
    question's windows, each span scored only in the window where it has the most surrounding context
    (:func:`~electra.finetune.features.best_window`); its text is cut from the context by the tokens'
    character offsets. With ``answerable_logits`` (SQuAD 2.0: > 0 means "no answer in this window") the
    question's null logit is the minimum over its windows, and the answer is "" when it exceeds
    ``null_threshold`` (or when no window offers a span).
    """
    outputs = start_logits if isinstance(start_logits, dict) else {"start_logits": start_logits,
                                                                   "end_logits": end_logits}  # fmt: skip
    find = span_finder(outputs, max_answer_length)
    by_example: dict[int, list[int]] = {}
    for row, ex in enumerate(features.example_index):
        by_example.setdefault(ex, []).append(row)
    out = []
    for i, ex in enumerate(examples):
        best: tuple[float, int, int, int] | None = None
        null = None
        rows = by_example.get(i, [])
        windows = [features.extra[row]["window"] for row in rows]
        for k, row in enumerate(rows):
            extra = features.extra[row]
            first_ctx = extra["window"][0] - extra["context_offset"]  # context token = position + first_ctx

            def accept(s: int, e: int, k: int = k, shift: int = first_ctx, windows: list = windows) -> bool:
                return best_window(windows, s + shift, e + shift) == k

            cand = find(row, extra["offsets"], accept)
            if cand is not None and (best is None or cand[0] > best[0]):
                best = (cand[0], row, cand[1], cand[2])
            if answerable_logits is not None:
                value = float(answerable_logits[row])
                null = value if null is None else min(null, value)
        if best is None or (null is not None and null > null_threshold):
            out.append(QAPrediction(ex.qid, "", best[0] if best else float("-inf"), -1, null))
            continue
        score, row, s, e = best
        offsets = features.extra[row]["offsets"]
        begin, end = offsets[s][0], offsets[e][1]
        out.append(QAPrediction(ex.qid, ex.context[begin:end], score, begin, null))
    return out
