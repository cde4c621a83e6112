"""The translation loss and schedule match their formulas (issue 11, step 3 in part)."""

import math

import pytest
import torch
import torch.nn.functional as F

from electra.objectives.translation import label_smoothed_nll
from electra.train.optim import inverse_sqrt_lr


def test_label_smoothing_is_fairseqs_formula_and_ignores_padding():
    torch.manual_seed(0)
    logits, targets = torch.randn(2, 4, 7), torch.randint(1, 7, (2, 4))
    targets[1, 2:] = 0  # padding
    loss, nll = label_smoothed_nll(logits, targets, epsilon=0.1)
    keep = targets != 0
    logp = F.log_softmax(logits, -1)[keep]
    t = targets[keep]
    expected_nll = -logp.gather(-1, t[:, None]).mean()
    # the smoothed target distribution: 1 - eps on the target, eps / (V - 1) on each other token
    eps, v = 0.1, 7
    q = torch.full_like(logp, eps / (v - 1)).scatter(-1, t[:, None], 1 - eps)
    fairseq = -(q * logp).sum(-1).mean()
    torch.testing.assert_close(nll, expected_nll)
    torch.testing.assert_close(loss, fairseq)
    plain, _ = label_smoothed_nll(logits, targets, epsilon=0.0)
    torch.testing.assert_close(plain, expected_nll)


def test_inverse_square_root_schedule():
    assert inverse_sqrt_lr(0, 5e-4, 4000) == 0.0
    assert inverse_sqrt_lr(2000, 5e-4, 4000) == pytest.approx(2.5e-4)
    assert inverse_sqrt_lr(4000, 5e-4, 4000) == pytest.approx(5e-4)
    assert inverse_sqrt_lr(16000, 5e-4, 4000) == pytest.approx(5e-4 * math.sqrt(4000 / 16000))
