"""Greedy and beam search (issue 11, step 4 in part): the cache changes nothing, beam 1 is greedy, the beam
finds the exhaustive best under the length penalty, the length limit follows the source, early stop."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from electra.generation.seq2seq import beam_search, greedy_decode, max_lengths
from electra.models import Seq2SeqConfig, TransformerSeq2Seq

BOS, EOS = 1, 2


def _model(vocab=12, seed=0) -> TransformerSeq2Seq:
    torch.manual_seed(seed)
    cfg = Seq2SeqConfig.preset("tiny", vocab, hidden_size=32, intermediate_size=64, dropout=0.0, max_positions=64)
    model = TransformerSeq2Seq(cfg).eval()
    with torch.no_grad():  # a sharper distribution than at initialisation, so that the searches differ
        model.tgt_embeddings.word_embeddings.weight.mul_(8)
    return model


def _src(rows=3, length=6, vocab=12):
    g = torch.Generator().manual_seed(1)
    src = torch.randint(3, vocab, (rows, length), generator=g)
    mask = torch.ones(rows, length, dtype=torch.bool)
    mask[1, 4:] = False
    src[1, 4:] = 0
    return src, mask


def test_the_cache_changes_no_token():
    model = _model()
    src, mask = _src()
    for search in (greedy_decode, lambda *a, **k: beam_search(*a, beam=3, **k)):
        cached = search(model, src, mask, BOS, EOS)
        recomputed = search(model, src, mask, BOS, EOS, use_cache=False)
        assert [h.tokens for h in cached] == [h.tokens for h in recomputed]
        assert [h.score for h in cached] == pytest.approx([h.score for h in recomputed], abs=1e-4)


def test_beam_of_one_is_greedy():
    model = _model(seed=3)
    src, mask = _src(rows=4)
    greedy = greedy_decode(model, src, mask, BOS, EOS)
    beam = beam_search(model, src, mask, BOS, EOS, beam=1)
    assert [h.tokens for h in beam] == [h.tokens for h in greedy]


@pytest.mark.parametrize("length_penalty", [0.0, 1.0, 2.0])
def test_a_wide_beam_finds_the_exhaustive_best(length_penalty):
    """With a 5-token vocabulary and at most 3 output tokens (the end token included), a beam wider than
    the search space returns, of all 21 possible outputs, the one of highest log p / length ** penalty."""
    vocab = 5
    model = _model(vocab=vocab, seed=5)
    src, mask = torch.tensor([[3, 4, 3]]), torch.ones(1, 3, dtype=torch.bool)
    assert int(max_lengths(mask, 0.0, 3, 63)[0]) == 3
    scored = []
    with torch.no_grad():
        for n in range(3):  # n tokens, then the end token (no id is forbidden but the end token inside)
            for tokens in itertools.product([t for t in range(vocab) if t != EOS], repeat=n):
                seq = [*tokens, EOS]
                logp = F.log_softmax(model(src, mask, torch.tensor([[BOS, *tokens]])).float(), -1)[0]
                scored.append((sum(logp[i, t].item() for i, t in enumerate(seq)) / len(seq) ** length_penalty,
                               list(tokens)))  # fmt: skip
    best = max(scored)
    assert len(scored) == 21
    (hyp,) = beam_search(model, src, mask, BOS, EOS, beam=40, length_penalty=length_penalty, max_len_a=0.0,
                         max_len_b=3)  # fmt: skip
    assert hyp.tokens == best[1] and hyp.score == pytest.approx(best[0], abs=1e-4)


def test_output_length_follows_the_source_and_search_stops_early(monkeypatch):
    model = _model(seed=7)
    src, mask = _src()
    for h, n in zip(greedy_decode(model, src, mask, BOS, EOS, max_len_a=0.5, max_len_b=1), mask.sum(1).tolist()):
        assert len(h.tokens) + 1 <= int(0.5 * n + 1)  # the end token counts
    calls = []
    real = model.decode_step

    def eos_first(tokens, state, position):
        calls.append(position)
        logits = real(tokens, state, position)
        return logits.index_fill(-1, torch.tensor([EOS]), 1e4)  # every beam ends at once

    monkeypatch.setattr(model, "decode_step", eos_first)
    hyps = beam_search(model, src, mask, BOS, EOS, beam=1)
    assert [h.tokens for h in hyps] == [[], [], []] and len(calls) == 1


def test_min_len_forbids_an_early_end(monkeypatch):
    """With the end token the most likely at every step, greedy and beam search still produce ``min_len - 1``
    tokens before it (and exactly that many when the length limit equals ``min_len``)."""
    model = _model(seed=9)
    src, mask = _src()
    real = model.decode_step
    monkeypatch.setattr(model, "decode_step", lambda tokens, state, position: real(tokens, state, position)
                        .index_fill(-1, torch.tensor([EOS]), 1e4))  # fmt: skip
    for hyps in (greedy_decode(model, src, mask, BOS, EOS, max_len_a=0.0, max_len_b=5, min_len=5),
                 beam_search(model, src, mask, BOS, EOS, beam=2, max_len_a=0.0, max_len_b=5, min_len=5)):
        assert [len(h.tokens) for h in hyps] == [4, 4, 4]
