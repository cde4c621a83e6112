"""`objective.fused_output`: the generator's output layer, loss and samples in row chunks give the plain path's
results (loss, accuracy, gradients; on CPU the very same samples) without keeping the logits."""

import pytest
import torch
import torch.nn.functional as F
from core_helpers import random_batch

from electra.models import Electra, MaskedLM
from electra.objectives import MaskedLanguageModeling, ObjectiveConfig, ReplacedTokenDetection
from electra.objectives.fused_output import linear_cross_entropy
from electra.objectives.masked_lm import masked_lm_loss
from electra.recipes.pretrain.config import build_config
from electra.tokens.sampling import gumbel_sample


def _inputs(rows=10, dim=6, vocab=13, seed=0):
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(rows, dim, generator=g, requires_grad=True)
    weight = torch.randn(vocab, dim, generator=g, requires_grad=True)
    bias = torch.randn(vocab, generator=g, requires_grad=True)
    targets = torch.randint(0, 11, (rows,), generator=g)
    weights = (torch.rand(rows, generator=g) > 0.3).float()
    return features, weight, bias, targets, weights


@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_the_chunked_loss_is_the_plain_one_with_its_gradients_and_samples(chunk):
    """Logits of 13 columns, the last 2 padding (never a target, never sampled), some rows unused."""
    features, weight, bias, targets, weights = _inputs()
    torch.manual_seed(5)
    logits = F.linear(features, weight, bias)
    logits = logits.masked_fill(torch.arange(13) >= 11, float("-inf"))
    ref_loss, ref_acc = masked_lm_loss(logits[None], targets[None], weights[None])
    ref_sample = gumbel_sample(logits, 0.7)
    ref_grads = torch.autograd.grad(ref_loss * 3.0, (features, weight, bias))

    torch.manual_seed(5)
    loss, acc, sample = linear_cross_entropy(features, weight, bias, targets, weights, 11, 0.7, chunk_rows=chunk)
    grads = torch.autograd.grad(loss * 3.0, (features, weight, bias))
    torch.testing.assert_close(loss, ref_loss, rtol=1e-6, atol=1e-6)
    assert float(acc) == pytest.approx(float(ref_acc))
    assert torch.equal(sample, ref_sample) and int(sample.max()) < 11
    for got, want in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert grads[0][weights == 0].abs().max() == 0  # unused rows get no gradient
    with torch.no_grad():  # evaluation: no gradients are made, the same loss
        torch.testing.assert_close(linear_cross_entropy(features, weight, bias, targets, weights, 11, None,
                                                        chunk_rows=chunk)[0], loss.detach())  # fmt: skip


def test_samples_follow_the_softmax_at_the_temperature():
    """One row's logits repeated 40,000 times: the draws' frequencies are softmax(logits / T)."""
    logits = torch.tensor([[2.0, 0.0, -1.0, 1.0, 0.5]])
    features, weight = torch.ones(40_000, 1), logits[0][:, None]  # every row's logits: the vector above
    loss, _, sample = linear_cross_entropy(features, weight, None, torch.zeros(40_000, dtype=torch.long),
                                           torch.ones(40_000), None, 2.0, chunk_rows=4096)  # fmt: skip
    freq = torch.bincount(sample, minlength=5).float() / 40_000
    torch.testing.assert_close(freq, torch.softmax(logits[0] / 2.0, -1), atol=0.01, rtol=0)


def _run_objective(tiny_electra_config, fused: bool, kind: str):
    torch.manual_seed(0)
    config = ObjectiveConfig(kind=kind, fused_output=fused)
    if kind == "electra":
        model = Electra(tiny_electra_config)
        objective = ReplacedTokenDetection(model.generator, model.discriminator, [0, 1, 2, 3], 4, config,
                                           vocab_size=97)  # fmt: skip
    else:
        model = MaskedLM(tiny_electra_config.discriminator)
        objective = MaskedLanguageModeling(model, [0, 1, 2, 3], 4, config, vocab_size=97)
    ids, mask = random_batch(4, 24, 97, pad_from=[24, 20, 13, 24])
    torch.manual_seed(11)
    out = objective(ids, mask.long(), torch.zeros_like(ids))
    out["loss"].backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return {k: float(v.detach()) for k, v in out.items()}, grads


@pytest.mark.parametrize("kind", ["electra", "mlm"])
def test_the_fused_objective_gives_the_plain_objectives_losses_and_gradients(tiny_electra_config, kind):
    """A table of 101 rows for a tokenizer of 97 (padding ids masked): every metric and every gradient of the
    whole ELECTRA step (the discriminator reads the same samples) or of BERT's."""
    plain, plain_grads = _run_objective(tiny_electra_config, False, kind)
    fused, fused_grads = _run_objective(tiny_electra_config, True, kind)
    assert fused.keys() == plain.keys()
    for key in plain:
        assert fused[key] == pytest.approx(plain[key], rel=1e-5, abs=1e-6), key
    assert fused_grads.keys() == plain_grads.keys()
    for name in plain_grads:
        torch.testing.assert_close(fused_grads[name], plain_grads[name], rtol=1e-4, atol=1e-6, msg=name)


def test_the_adversarial_generator_keeps_the_plain_output_layer(tiny_electra_config):
    """Its REINFORCE loss needs the slots' logits: with ``fused_output`` set (the tiny preset sets it) the
    objective still runs, on the plain path."""
    assert not ObjectiveConfig(fused_output=True, generator_training="adversarial").fuses_output
    cfg = build_config("tiny", None, ["--objective.generator_training", "adversarial"])
    assert cfg.objective.fused_output and not cfg.objective.fuses_output
    torch.manual_seed(0)
    model = Electra(tiny_electra_config)
    objective = ReplacedTokenDetection(model.generator, model.discriminator, [0, 1, 2, 3], 4, cfg.objective)
    ids, mask = random_batch(4, 24, 101)
    assert torch.isfinite(objective(ids, mask.long())["loss"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_on_cuda_in_bf16_the_fused_loss_matches_and_keeps_less():
    """ELECTRA-Small's generator output: 2,432 slots x 30,522 ids, bf16 autocast; the same loss and
    gradients (bf16 tolerance) with less memory held between forward and backward."""
    torch.manual_seed(0)
    dev = torch.device("cuda")
    features = torch.randn(2432, 128, device=dev, requires_grad=True)
    weight = (torch.randn(30522, 128, device=dev) * 0.02).requires_grad_()
    bias = torch.zeros(30522, device=dev, requires_grad=True)
    targets = torch.randint(0, 30522, (2432,), device=dev)
    weights = torch.ones(2432, device=dev)

    def held(fn):
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = fn()
        kept = torch.cuda.memory_allocated() - before
        return loss, torch.autograd.grad(loss, (features, weight, bias)), kept

    def plain():
        return masked_lm_loss(F.linear(features, weight, bias)[None], targets[None], weights[None])[0]

    ref, ref_grads, ref_kept = held(plain)
    got, grads, kept = held(lambda: linear_cross_entropy(features, weight, bias, targets, weights, None, 1.0)[0])
    torch.testing.assert_close(got, ref, rtol=2e-3, atol=2e-3)
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, rtol=3e-2, atol=1e-4)
    assert kept < ref_kept / 4, (kept, ref_kept)
