"""Decoding with the encoder-decoder Transformer: greedy search and batched beam search.

Both encode the source once and decode step by step with the model's static-shape key/value cache (the
cross-attention keys / values computed once); ``use_cache=False`` recomputes the whole prefix at every step
instead (the reference the cache is tested against). The longest output of a source of ``n`` tokens is
``max_len_a * n + max_len_b`` tokens, its end-of-sequence token included (fairseq's rule); a beam search
finalises a hypothesis when its end-of-sequence token ranks among the ``beam`` best candidates and stops a
source once it holds ``beam`` finished hypotheses, scoring each as its log-probability over
``length ** length_penalty`` (fairseq's ``lenpen``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from electra.models import TransformerSeq2Seq


@dataclass
class Hypothesis:
    """One output: its tokens (without the start and end tokens) and its length-normalised score."""

    tokens: list[int]
    score: float


def max_lengths(src_mask: torch.Tensor, max_len_a: float, max_len_b: int, limit: int) -> torch.Tensor:
    """Per source, the most output tokens (end token included): ``a * source length + b``, at least 1 and at
    most ``limit``."""
    return (max_len_a * src_mask.sum(1).float() + max_len_b).long().clamp(1, limit)


Step = Callable[[torch.Tensor, int], torch.Tensor]
Reorder = Callable[[torch.Tensor], None]


def _stepper(model: TransformerSeq2Seq, memory: torch.Tensor, src_mask: torch.Tensor, length: int,
             use_cache: bool) -> tuple[Step, Reorder]:  # fmt: skip
    """``step(tokens [R, t+1], t) -> logits [R, V]`` for the token after position ``t``, and
    ``reorder(index)`` for the rows that survive; with the cache or by recomputing the prefix."""
    if use_cache:
        state = model.start_decoding(memory, src_mask, length)
        return (lambda tokens, t: model.decode_step(tokens[:, t : t + 1], state, torch.tensor(t))), state.reorder
    return (lambda tokens, t: model.decode(tokens[:, : t + 1], memory, src_mask)[:, -1]), (lambda index: None)


@torch.no_grad()
def greedy_decode(model: TransformerSeq2Seq, src: torch.Tensor, src_mask: torch.Tensor, bos_id: int, eos_id: int,
                  max_len_a: float = 1.2, max_len_b: int = 10, use_cache: bool = True,
                  min_len: int = 1) -> list[Hypothesis]:  # fmt: skip
    """The most probable next token at every step, until the end token or the length limit (no end token
    before ``min_len`` tokens, the end token included)."""
    limits = max_lengths(src_mask, max_len_a, max_len_b, model.config.max_positions - 1)
    rows, length = src.shape[0], int(limits.max())
    step, _ = _stepper(model, model.encode(src, src_mask), src_mask, length + 1, use_cache)
    tokens = torch.full((rows, length + 1), eos_id, dtype=torch.long, device=src.device)
    tokens[:, 0] = bos_id
    scores = torch.zeros(rows, device=src.device)
    alive = torch.ones(rows, dtype=torch.bool, device=src.device)
    ends = torch.full((rows,), length, device=src.device)
    for t in range(length):
        logp = _no_end_before(F.log_softmax(step(tokens, t).float(), dim=-1), t, min_len, eos_id)
        logp = _force_end(logp, t + 1 >= limits, eos_id)
        best, token = logp.max(-1)
        token = torch.where(alive, token, eos_id)
        tokens[:, t + 1] = token
        scores += torch.where(alive, best, 0.0)
        ends = torch.where(alive & (token == eos_id), t + 1, ends)
        alive &= token != eos_id
        if not alive.any():
            break
    return [Hypothesis(tokens[r, 1 : int(ends[r])].tolist(), float(scores[r]) / float(ends[r]))
            for r in range(rows)]  # fmt: skip


def _no_end_before(logp: torch.Tensor, t: int, min_len: int, eos_id: int) -> torch.Tensor:
    """``logp`` with the end token at -inf while the output (``t + 1`` tokens with it) would be too short."""
    if t + 1 >= min_len:
        return logp
    return logp.index_fill(-1, torch.tensor([eos_id], device=logp.device), float("-inf"))


def _force_end(logp: torch.Tensor, rows: torch.Tensor, eos_id: int) -> torch.Tensor:
    """``logp`` [B, ..., V] with every token but the end token at -inf in rows ``rows`` [B] (their length
    limit is reached); the end token keeps its log-probability, which the score counts."""
    others = torch.ones(logp.shape[-1], dtype=torch.bool, device=logp.device)
    others[eos_id] = False
    return logp.masked_fill(rows.view(-1, *[1] * (logp.dim() - 1)) & others, float("-inf"))


@torch.no_grad()
def beam_search(model: TransformerSeq2Seq, src: torch.Tensor, src_mask: torch.Tensor, bos_id: int, eos_id: int,
                beam: int = 4, length_penalty: float = 1.0, max_len_a: float = 1.2, max_len_b: int = 10,
                use_cache: bool = True, min_len: int = 1) -> list[Hypothesis]:  # fmt: skip
    """The best of each source's ``beam`` finished hypotheses (see the module docstring), batched: all
    sources' beams decode together, ``[sources * beam]`` rows of static shape, and the finished hypotheses
    are kept on the device (one host read per step: whether every source is done). No hypothesis ends before
    ``min_len`` tokens (fairseq's ``--min-len``; the end token included)."""
    batch, k = src.shape[0], beam
    limits = max_lengths(src_mask, max_len_a, max_len_b, model.config.max_positions - 1)
    length = int(limits.max())
    memory = model.encode(src, src_mask).repeat_interleave(k, 0)
    mask = src_mask.repeat_interleave(k, 0)
    step, reorder = _stepper(model, memory, mask, length + 1, use_cache)
    tokens = torch.full((batch * k, length + 1), eos_id, dtype=torch.long, device=src.device)
    tokens[:, 0] = bos_id
    scores = torch.full((batch, k), float("-inf"), device=src.device)
    scores[:, 0] = 0.0  # one live beam per source at the start: the others would repeat it
    finished = Finished(batch, k, length + 1, src.device)
    done = torch.zeros(batch, dtype=torch.bool, device=src.device)  # k finished, or the length limit reached
    base = (torch.arange(batch, device=src.device) * k)[:, None]
    for t in range(length):
        logp = F.log_softmax(step(tokens, t).float(), dim=-1).view(batch, k, -1)
        logp = _force_end(_no_end_before(logp, t, min_len, eos_id), t + 1 >= limits, eos_id)
        vocab = logp.shape[-1]
        cand_scores, cand = (scores[..., None] + logp).view(batch, -1).topk(2 * k, dim=-1)
        origin, token = cand // vocab, cand % vocab
        ends = (token[:, :k] == eos_id) & torch.isfinite(cand_scores[:, :k]) & ~done[:, None]
        finished.add(ends, tokens.index_select(0, (base + origin[:, :k]).flatten()).view(batch, k, -1),
                     cand_scores[:, :k] / float(t + 1) ** length_penalty, t)  # fmt: skip
        done |= (finished.count >= k) | (t + 1 >= limits)
        # the k best candidates that do not end: there are at least k among 2k (one end token per beam)
        rank = torch.where(token == eos_id, 2 * k, torch.arange(2 * k, device=src.device)).argsort(-1)[:, :k]
        keep = (base + origin.gather(1, rank)).flatten()
        scores = cand_scores.gather(1, rank)
        tokens = tokens.index_select(0, keep)
        tokens[:, t + 1] = token.gather(1, rank).flatten()
        reorder(keep)
        if bool(done.all()):
            break
    return finished.best()


class Finished:
    """Each source's finished hypotheses, up to ``k``, in the order they ended, on the device: their tokens
    (the start token first), lengths and length-normalised scores; a last, never-read slot takes what
    arrives at a full source, so adding needs no host read."""

    def __init__(self, batch: int, k: int, width: int, device: torch.device) -> None:
        self.k = k
        self.scores = torch.full((batch, k + 1), float("-inf"), device=device)
        self.tokens = torch.zeros((batch, k + 1, width), dtype=torch.long, device=device)
        self.lengths = torch.zeros((batch, k + 1), dtype=torch.long, device=device)
        self.count = torch.zeros(batch, dtype=torch.long, device=device)

    def add(self, ends: torch.Tensor, rows: torch.Tensor, scores: torch.Tensor, t: int) -> None:
        """Store the candidates where ``ends`` [B, k] (in candidate order, until a source holds ``k``):
        ``rows`` [B, k, width] their token rows, ``scores`` [B, k] their normalised scores, ended at step ``t``
        (so ``t`` output tokens before the end token)."""
        slot = self.count[:, None] + ends.long().cumsum(1) - 1
        take = ends & (slot < self.k)
        slot = torch.where(take, slot, self.k)
        self.scores.scatter_(1, slot, scores)
        self.tokens.scatter_(1, slot[..., None].expand_as(rows), rows)
        self.lengths.scatter_(1, slot, torch.full_like(slot, t))
        self.count += take.sum(1)

    def best(self) -> list[Hypothesis]:
        """Each source's best-scoring hypothesis (the first of equal ones), read back at once."""
        best = self.scores[:, : self.k].argmax(1)
        at = torch.arange(len(best), device=best.device)
        tokens, lengths, scores = (self.tokens[at, best].tolist(), self.lengths[at, best].tolist(),
                                   self.scores[at, best].tolist())  # fmt: skip
        return [Hypothesis(row[1 : 1 + n], score) for row, n, score in zip(tokens, lengths, scores, strict=True)]
