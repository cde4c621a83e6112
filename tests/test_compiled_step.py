"""The fast path (`train.compile`: the whole objective under torch.compile) computes what eager does."""

import copy

import pytest
import torch
from core_helpers import random_batch

from electra.models import Electra
from electra.objectives import ObjectiveConfig, ReplacedTokenDetection

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.mark.parametrize("fused_output", [False, True], ids=["plain", "fused-output"])
def test_compiled_objective_matches_eager(tiny_electra_config, fallback_random, fused_output):
    """Same weights, batch and random draws: same losses and gradients (float tolerance) on CPU.

    Inductor draws random numbers with its own generator unless ``fallback_random`` is set; the test
    sets it so both paths mask and sample the same tokens, which isolates the compiled arithmetic.
    """
    torch.manual_seed(0)
    model = Electra(tiny_electra_config)
    config = ObjectiveConfig(fused_output=fused_output)  # the generator's output layer and loss fused, or not
    eager = ReplacedTokenDetection(model.generator, model.discriminator, [0, 1, 2, 3], 4, config)
    fast = copy.deepcopy(eager)
    ids, mask = random_batch(4, 24, tiny_electra_config.discriminator.vocab_size, pad_from=[24, 20, 13, 24])
    types = torch.zeros_like(ids)

    def run(objective, module):
        torch.manual_seed(123)
        out = objective(ids, mask.long(), types)
        out["loss"].backward()
        grads = {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}
        return {k: v.detach() for k, v in out.items()}, grads

    ref, ref_grads = run(eager, eager)
    got, got_grads = run(torch.compile(fast), fast)
    assert ref["replaced_frac"] > 0  # the generator's samples did replace tokens
    for key in ref:
        torch.testing.assert_close(got[key], ref[key], rtol=1e-4, atol=1e-5, msg=key)
    assert got_grads.keys() == ref_grads.keys()
    for name in ref_grads:
        torch.testing.assert_close(got_grads[name], ref_grads[name], rtol=1e-3, atol=1e-5, msg=name)
