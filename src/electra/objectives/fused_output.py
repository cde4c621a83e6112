"""A masked LM's output layer, cross-entropy and Gumbel sampling in one pass over row chunks.

The plain path computes the logits of every masked slot ([rows, V]: 2,432 x 30,522 for ELECTRA-Small's
batch), keeps them (and their float32 log-softmax) for backward, and reads them again to sample. Here the
rows go through in chunks: each chunk's logits are made, used for the loss, the accuracy, the sample and
the gradient of the loss with respect to them, multiplied back into gradients of the features, the
weight and the bias, and dropped. What backward keeps is those gradients ([rows, E], [V, E], [V]), so
backward only scales them by the incoming gradient. The idea is Liger's fused linear cross-entropy
(no such library is in this project's dependencies); it is written in PyTorch operations, so it runs on
any device and under ``torch.compile``.

The result is the plain path's (tests compare them): the same loss, accuracy and gradients to float
tolerance, and on CPU the same samples (its random numbers come in row order either way); on CUDA the
samples follow the same distribution from other random numbers.
"""

from __future__ import annotations

from typing import Any

import torch

from electra.tokens.sampling import gumbel_noise

CHUNK_ELEMENTS = 1 << 24  # logits per chunk: 64 MiB in float32


def linear_cross_entropy(
    features: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    row_weights: torch.Tensor,
    vocab_limit: int | None = None,
    temperature: float | None = 1.0,
    chunk_rows: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """For logits ``features @ weight.T + bias`` ([R, E] x [V, E] -> [R, V]; columns at or above
    ``vocab_limit`` left out, as padding ids are): the cross-entropy of ``targets`` [R] averaged with
    ``row_weights`` [R] (``sum w * nll / sum w``), the same-weighted accuracy of the argmax (no gradient),
    and a Gumbel-max sample per row at ``temperature`` (None: no sample), without keeping the logits."""
    rows = chunk_rows or max(1, CHUNK_ELEMENTS // weight.shape[0])
    grads = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (features, weight, bias))
    loss, accuracy, sampled = _LinearCrossEntropy.apply(features, weight, bias, targets, row_weights,
                                                        vocab_limit, temperature, rows, grads)  # fmt: skip
    return loss, accuracy, sampled if temperature is not None else None


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, features: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                targets: torch.Tensor, row_weights: torch.Tensor, vocab_limit: int | None,
                temperature: float | None, chunk_rows: int, wants_grad: bool) -> tuple[torch.Tensor, ...]:  # fmt: skip
        denom = row_weights.float().sum().clamp_min(1e-5)
        scale = row_weights.float() / denom
        loss = torch.zeros((), device=features.device)
        correct = torch.zeros((), device=features.device)
        sampled = torch.zeros(targets.shape, dtype=torch.long, device=features.device)
        grads = _Grads(features, weight, bias) if wants_grad else None
        for start in range(0, features.shape[0], chunk_rows):
            part = slice(start, start + chunk_rows)
            h, t, w = features[part], targets[part], scale[part]
            logits = torch.nn.functional.linear(h, weight, bias).float()
            if vocab_limit is not None and vocab_limit < logits.shape[-1]:
                logits[:, vocab_limit:] = float("-inf")
            lse = logits.logsumexp(-1)
            loss = loss + ((lse - logits.gather(1, t[:, None]).squeeze(1)) * w).sum()
            correct = correct + ((logits.argmax(-1) == t).float() * w).sum()
            if temperature is not None:
                sampled[part] = (logits / temperature + gumbel_noise(logits.shape, logits.device)).argmax(-1)
            if grads is not None:  # d loss / d logits = w * (softmax - one-hot), made in place
                logits.sub_(lse[:, None]).exp_()
                logits.scatter_add_(1, t[:, None], torch.full_like(lse[:, None], -1.0))
                grads.add(part, h, logits.mul_(w[:, None]))
        if grads is not None:
            ctx.save_for_backward(*grads.tensors())
        ctx.has_bias = bias is not None
        ctx.mark_non_differentiable(correct, sampled)
        return loss, correct, sampled

    @staticmethod
    def backward(ctx: Any, grad_loss: torch.Tensor, *_: Any) -> tuple[torch.Tensor | None, ...]:
        g_features, g_weight, g_bias = ctx.saved_tensors
        g_bias = g_bias * grad_loss if ctx.has_bias else None
        return g_features * grad_loss, g_weight * grad_loss, g_bias, None, None, None, None, None, None


class _Grads:
    """The loss's gradients with respect to the features, weight and bias, filled chunk by chunk (the weight's
    and bias's summed in float32; the matrix products in the autocast dtype when autocast is on)."""

    def __init__(self, features: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        self.weight = weight
        self.g_features = torch.empty_like(features)
        self.g_weight = torch.zeros_like(weight, dtype=torch.float32)
        self.g_bias = torch.zeros(weight.shape[0], dtype=torch.float32, device=weight.device)
        self.bias_dtype = bias.dtype if bias is not None else weight.dtype

    def add(self, part: slice, h: torch.Tensor, g_logits: torch.Tensor) -> None:
        """One chunk: ``g_logits`` [r, V], the loss's gradient with respect to its logits; ``h`` its features."""
        self.g_bias += g_logits.sum(0)
        g = g_logits if torch.is_autocast_enabled(h.device.type) else g_logits.to(h.dtype)
        self.g_features[part] = (g @ self.weight).to(self.g_features.dtype)
        self.g_weight += (g.transpose(0, 1) @ h).float()

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.g_features, self.g_weight.to(self.weight.dtype), self.g_bias.to(self.bias_dtype)
