"""The translation objective: label-smoothed cross-entropy over the target tokens (Szegedy et al., 2016;
0.1 in the Transformer paper), as fairseq's ``label_smoothed_cross_entropy`` computes it."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def label_smoothed_nll(logits: torch.Tensor, targets: torch.Tensor, epsilon: float = 0.1,
                       ignore_index: int = 0) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """fairseq's label smoothing, ``(1 - eps - e) * nll + e * sum over the vocabulary of -log p`` with
    ``e = eps / (V - 1)`` (the target keeps ``1 - eps``, every other token gets ``e``), averaged over the
    non-``ignore_index`` targets, in float32; and the plain negative log-likelihood per token (the metric:
    perplexity is its exponential). ``logits`` [B, T, V], ``targets`` [B, T]."""
    logp = F.log_softmax(logits.float(), dim=-1)
    keep = (targets != ignore_index).float()
    nll = -logp.gather(-1, targets[..., None]).squeeze(-1)
    smooth = -logp.sum(-1)
    e = epsilon / (logp.shape[-1] - 1)
    n = keep.sum().clamp_min(1.0)
    loss = (((1.0 - epsilon - e) * nll + e * smooth) * keep).sum() / n
    return loss, ((nll * keep).sum() / n).detach()
