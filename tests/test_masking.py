import torch
from core_helpers import random_batch

from electra.tokens import mask_tokens, num_mask_slots
from electra.tokens.sampling import gumbel_sample

SPECIAL = torch.tensor([0, 2, 3, 4])
MASK_ID = 4


def test_num_slots_matches_recipe():
    assert num_mask_slots(128, 0.15) == 19
    # the official formula int((0.15 + 0.005) * 512) gives 79 (the recipe note's "77" is an arithmetic slip)
    assert num_mask_slots(512, 0.15) == 79
    assert num_mask_slots(512, 0.25) == 130


def test_counts_and_exclusions():
    lengths = [128, 100, 40, 6, 3]
    ids, mask = random_batch(5, 128, 500, pad_from=lengths)
    ids[0, 50] = MASK_ID  # an existing [MASK] must never be selected
    torch.manual_seed(0)
    out = mask_tokens(ids, mask, SPECIAL, MASK_ID, 0.15)
    assert out.positions.shape == (5, 19)
    for i, n_real in enumerate(lengths):
        expected = max(1, min(19, round(n_real * 0.15)))
        expected = min(expected, n_real - 2)  # only n_real - 2 candidates (CLS, SEP excluded)
        assert out.weights[i].sum().item() == expected
        used = out.positions[i][out.weights[i] > 0]
        assert len(set(used.tolist())) == len(used)  # without replacement
        assert all(mask[i, p] for p in used)
        assert not torch.isin(ids[i, used], SPECIAL).any()
        unused = out.positions[i][out.weights[i] == 0]
        # unused slots leave the input untouched
        assert torch.equal(out.input_ids[i, unused], ids[i, unused])
    assert torch.equal(out.targets, ids.gather(1, out.positions))
    changed = out.input_ids != ids
    assert not changed[~mask].any()


def test_mask_token_rate_is_85_percent_and_no_random_tokens():
    ids, mask = random_batch(400, 128, 500)
    torch.manual_seed(1)
    out = mask_tokens(ids, mask, SPECIAL, MASK_ID, 0.15)
    used = out.weights > 0
    at = out.input_ids.gather(1, out.positions)[used]
    orig = out.targets[used]
    frac_mask = (at == MASK_ID).float().mean().item()
    assert abs(frac_mask - 0.85) < 0.01
    assert torch.equal(at[at != MASK_ID], orig[at != MASK_ID])  # the rest unchanged, none random


def test_bert_style_random_tokens():
    ids, mask = random_batch(400, 128, 500)
    torch.manual_seed(2)
    out = mask_tokens(ids, mask, SPECIAL, MASK_ID, 0.15, 0.8, 0.1, vocab_size=500)
    used = out.weights > 0
    at = out.input_ids.gather(1, out.positions)[used]
    orig = out.targets[used]
    assert abs((at == MASK_ID).float().mean().item() - 0.8) < 0.015
    replaced = (at != MASK_ID) & (at != orig)
    assert abs(replaced.float().mean().item() - 0.1) < 0.015  # random token rarely equals the original
    assert not torch.isin(at[replaced], SPECIAL).any()


def test_positions_are_drawn_at_random_among_the_candidates():
    """Over 2,000 draws for one sequence every candidate (not CLS, SEP, an existing [MASK]) is chosen about
    15% of the time: not the first k candidates, not a fixed pattern; and the draws differ."""
    ids, mask = random_batch(2000, 64, 500, pad_from=[64] * 2000)
    ids[:] = ids[0]
    ids[:, 10] = MASK_ID
    torch.manual_seed(0)
    out = mask_tokens(ids, mask, SPECIAL, MASK_ID, 0.15)
    chosen = torch.zeros(64)
    for row, w in zip(out.positions, out.weights):
        chosen[row[w > 0]] += 1
    freq = chosen / 2000
    candidates = [i for i in range(1, 63) if i != 10]
    assert freq[0] == freq[63] == freq[10] == 0
    expected = out.weights[0].sum() / len(candidates)  # 9 of 61 (4 sigma: 0.032)
    assert ((freq[candidates] - expected).abs() < 0.032).all(), freq
    assert len({tuple(sorted(r.tolist())) for r in out.positions[:50]}) == 50


def test_masking_and_sampling_compile_for_a_second_batch_shape():
    """torch.compile marks a shape dynamic at its second value; an explicit ``generator=None`` in the random
    calls then fails to trace (StepGraph's odd-shaped batch, or any caller whose batches change size)."""

    def step(ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        masked = mask_tokens(ids, mask, torch.tensor([0, 1, 2]), 3, random_token_prob=0.1, vocab_size=50)
        return masked.positions, gumbel_sample(torch.randn(ids.shape[0], 5, 50))

    compiled = torch.compile(step, backend="eager")  # the failure is in dynamo's tracing, before any backend
    for rows in (4, 3, 2):
        ids = torch.randint(4, 50, (rows, 12))
        positions, sampled = compiled(ids, torch.ones_like(ids))
        assert positions.shape == (rows, 1) and sampled.shape == (rows, 5)
