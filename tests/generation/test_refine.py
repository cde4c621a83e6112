"""The refinement sampler, modality-free: schedule, rules, given tokens, seeds; and the grid positions and
per-sequence masking schedule it relies on."""

from __future__ import annotations

import math

import pytest
import torch

from electra.generation.refine import refine
from electra.models import Electra, ElectraConfig, EncoderConfig, MaskedLM
from electra.nn import GridEmbeddings
from electra.tokens.masking import cosine_mask_rates, cosine_masked_count, mask_tokens

V, MASK = 10, 8  # ids 0..7 are drawable, 8 is [MASK], 9 is never drawn


def uniform_generator(x: torch.Tensor) -> torch.Tensor:
    return torch.zeros(*x.shape, V)


def allowed() -> torch.Tensor:
    return torch.arange(V) < 8


def test_grid_positions_are_row_plus_column_and_the_prefix_has_its_own():
    emb = GridEmbeddings(vocab_size=V, embedding_size=6, rows=3, cols=4, prefix=1, dropout=0.0)
    pos = emb.positions(13)
    assert torch.equal(pos[0], emb.position_embeddings.weight[0])  # the class token
    for p in range(1, 13):
        r, c = divmod(p - 1, 4)
        assert torch.allclose(pos[p], emb.row_embeddings.weight[r] + emb.col_embeddings.weight[c])
    assert torch.equal(emb.positions_at(torch.tensor([[5, 0]])), pos[[5, 0]][None])
    with pytest.raises(ValueError, match="sequence length 14 exceeds max_position_embeddings 13"):
        emb(torch.zeros(1, 14, dtype=torch.long))


def test_models_take_explicit_position_ids_and_text_configs_are_unchanged():
    enc = EncoderConfig(vocab_size=V, hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32,
                        embedding_size=16, max_position_embeddings=10, dropout=0.0, attention_dropout=0.0)  # fmt: skip
    assert "grid_rows" not in enc.to_dict()  # a text model's config.json reads as before
    model = MaskedLM(enc).eval()
    x = torch.randint(0, 8, (2, 7))
    assert torch.allclose(model(x), model(x, position_ids=torch.arange(7).expand(2, 7)))
    shifted = model(x, position_ids=torch.arange(3, 10).expand(2, 7))
    assert not torch.allclose(model(x), shifted)
    grid = EncoderConfig(**{**enc.to_dict(), "grid_rows": 3, "grid_cols": 3, "type_vocab_size": 0})
    assert grid.grid_prefix == 1 and EncoderConfig.from_dict(grid.to_dict()) == grid
    with pytest.raises(ValueError, match="gdes is for 1-D positions"):
        ElectraConfig(grid, embedding_sharing="gdes")
    with pytest.raises(ValueError, match="less than the grid's 4 x 4 cells"):
        EncoderConfig(max_position_embeddings=10, grid_rows=4, grid_cols=4)


def test_cosine_schedule_masks_a_share_per_sequence_up_to_all_never_the_class_token():
    torch.manual_seed(0)
    rates = cosine_mask_rates(4000)
    assert 0 < float(rates.min()) and float(rates.max()) <= 1
    assert abs(float(rates.mean()) - 2 / math.pi) < 0.02  # E[cos(pi u / 2)] = 2 / pi
    ids = torch.cat([torch.full((3, 1), 9), torch.randint(0, 8, (3, 16))], dim=1)
    rate = torch.tensor([1.0, 0.5, 0.01])
    out = mask_tokens(ids, torch.ones_like(ids, dtype=torch.bool), torch.tensor([8, 9]), MASK, rate,
                      mask_token_prob=1.0, num_slots=17)  # fmt: skip
    assert out.weights.sum(1).tolist() == [16, 8, 1]  # all 16 pixels, half of the 17 tokens rounded, at least one
    assert (out.input_ids[:, 0] == 9).all()  # the class token is never chosen
    assert ((out.input_ids == MASK).sum(1) == out.weights.sum(1)).all()  # mask_token_prob 1: every slot is [MASK]
    with pytest.raises(ValueError, match="per-sequence mask rates need num_slots"):
        mask_tokens(ids, torch.ones_like(ids, dtype=torch.bool), torch.tensor([8]), MASK, rate)


@pytest.mark.parametrize("rule", ["critic", "confidence", "random"])
def test_masked_count_follows_the_schedule_and_given_tokens_never_change(rule):
    ids = torch.randint(0, 8, (5, 20))
    editable = torch.rand(5, 20) < 0.7
    editable[:, 0] = True
    critic = lambda x: torch.randn(x.shape)  # noqa: E731
    result = refine(uniform_generator, critic, ids, editable, allowed(), MASK, steps=6, rule=rule, seed=1, record=True)
    for t, step in enumerate(result.steps, 1):
        assert torch.equal(step.rejected.sum(1), cosine_masked_count(t, 6, editable.sum(1)))
        assert not bool((step.rejected & ~editable).any())
    assert result.steps[-1].rejected.sum() == 0 and not bool((result.tokens == MASK).any())
    assert torch.equal(result.tokens[~editable], ids[~editable])
    assert bool((result.tokens[editable] < 8).all())  # only allowed ids are drawn


def test_critic_rejects_what_it_flags_and_revises_earlier_choices():
    """A critic that flags token 0 as replaced: each step masks again the 0s first, also ones kept at an earlier
    step (revocable), so the critic rule ends with fewer 0s than the random rule."""
    critic = lambda x: (x == 0).float() * 10  # noqa: E731
    ids, editable = torch.zeros(64, 30, dtype=torch.long), torch.ones(64, 30, dtype=torch.bool)
    got = refine(uniform_generator, critic, ids, editable, allowed(), MASK, steps=8, rule="critic", noise=0.0,
                 seed=0, record=True)  # fmt: skip
    for step in got.steps[:-1]:
        zeros, rejected = step.tokens == 0, step.rejected
        k = rejected.sum(1)
        # wherever a row has at least k zeros, the rejected tokens are all zeros
        full = zeros.sum(1) >= k
        assert bool((rejected[full] <= zeros[full]).all())
    baseline = refine(uniform_generator, None, ids, editable, allowed(), MASK, steps=8, rule="random", seed=0)
    assert (got.tokens == 0).float().mean() < 0.5 * (baseline.tokens == 0).float().mean()
    revised = [(s0.tokens != MASK) & s1.rejected for s0, s1 in zip(got.steps, got.steps[1:])]
    earlier = [(s0.tokens != MASK) & ~s0.rejected & s1.rejected for s0, s1 in zip(got.steps, got.steps[1:])]
    assert any(bool(r.any()) for r in revised) and any(bool(e.any()) for e in earlier)


def test_confidence_and_random_keep_earlier_choices_fixed():
    gen = lambda x: torch.randn(*x.shape, V)  # noqa: E731
    ids, editable = torch.zeros(4, 25, dtype=torch.long), torch.ones(4, 25, dtype=torch.bool)
    for rule in ("confidence", "random"):
        steps = refine(gen, None, ids, editable, allowed(), MASK, steps=5, rule=rule, seed=3, record=True).steps
        for s0, s1 in zip(steps, steps[1:]):
            kept = ~s0.rejected
            assert torch.equal(s1.tokens[kept], s0.tokens[kept]) and not bool((s1.rejected & kept).any())


def test_sampling_is_deterministic_for_a_seed():
    enc = EncoderConfig(vocab_size=V, hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32,
                        embedding_size=16, max_position_embeddings=12, dropout=0.0, attention_dropout=0.0,
                        pad_token_id=9)  # fmt: skip
    model = Electra(ElectraConfig(enc, 1.0)).eval()
    ids, editable = torch.zeros(3, 12, dtype=torch.long), torch.ones(3, 12, dtype=torch.bool)

    def run(seed: int) -> torch.Tensor:
        return refine(model.generator, model.discriminator, ids, editable, allowed(), MASK, 6, seed=seed).tokens

    assert torch.equal(run(5), run(5)) and not torch.equal(run(5), run(6))
    with pytest.raises(ValueError, match="unknown selection rule 'best'"):
        refine(uniform_generator, None, ids, editable, allowed(), MASK, rule="best")
    with pytest.raises(ValueError, match="the critic rule needs a critic"):
        refine(uniform_generator, None, ids, editable, allowed(), MASK, rule="critic")
