"""The whole training step as one CUDA graph: forward, backward, clipping, the optimiser and the metric sums.

:class:`StepGraph` calls a step function over a batch. On CUDA it runs the first ``warmup`` calls eagerly on
a side stream (compilation, autotuning, the optimiser's state), then captures one call into a
:class:`torch.cuda.CUDAGraph` over static input tensors; every later call copies its batch into those
tensors and replays the graph: one launch per step instead of thousands, which is what a small model's step
is bound by. On other devices, and for a batch whose shapes differ from the captured one, it calls the
function directly: the same code runs, minus the capture, so CPU tests exercise it.

A step function that can be captured (what the engine's step does):

- changes only device tensors from call to call: the learning rate lives in tensors written before each
  replay (:func:`~electra.train.optim.set_lr`), metrics are added in place into buffers that exist before
  the capture, the optimiser is fused and ``capturable`` (its step counter on the device);
- never synchronises with the host (no ``.item()``, no shapes that depend on values);
- draws random numbers from the default CUDA generator, which a graph advances at every replay (masking,
  Gumbel sampling and dropout draw new numbers each step, and the generator's state, saved with
  checkpoints, moves on as it does eagerly).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

Batch = dict[str, torch.Tensor]


class StepGraph:
    """``step(batch)`` run eagerly ``warmup`` times, then captured once and replayed (CUDA only)."""

    def __init__(self, step: Callable[[Batch], None], device: torch.device, reset: Callable[[], None],
                 warmup: int = 3) -> None:  # fmt: skip
        """``reset`` drops what a failed capture may have left (the gradients)."""
        self.step, self.device, self.reset, self.warmup = step, device, reset, warmup
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static: Batch | None = None
        self.eager_calls = 0
        self.replays = 0
        self.failure: str | None = None  # why capturing failed (the steps then run eagerly)

    @property
    def captures(self) -> bool:
        """Whether calls will be (or are) replayed from a graph."""
        return self.device.type == "cuda" and self.failure is None

    def __call__(self, batch: Batch) -> None:
        if self.graph is not None and self._fits(batch):
            assert self.static is not None
            for key, value in batch.items():
                self.static[key].copy_(value, non_blocking=True)
            self.graph.replay()
            self.replays += 1
        elif not self.captures or self.graph is not None:
            self.step(batch)  # no CUDA, or a batch of another shape than the captured one
        elif self.eager_calls < self.warmup:
            self.eager_calls += 1
            self._on_side_stream(batch)
        else:
            self._capture(batch)

    def _fits(self, batch: Batch) -> bool:
        assert self.static is not None
        return batch.keys() == self.static.keys() and all(
            v.shape == self.static[k].shape and v.dtype == self.static[k].dtype for k, v in batch.items()
        )

    def _on_side_stream(self, batch: Batch) -> None:
        """An eager call on a side stream, as CUDA graphs want their warm-up (so that lazily created state,
        such as cuBLAS workspaces and autograd's stream bookkeeping, is not made during the capture)."""
        current = torch.cuda.current_stream(self.device)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(current)
        with torch.cuda.stream(side):
            self.step(batch)
        current.wait_stream(side)

    def _capture(self, batch: Batch) -> None:
        """Capture one call over static copies of ``batch`` (capturing runs nothing), then replay it for this
        step. If an operation cannot be captured, warn once and run every later step eagerly."""
        static = {k: v.clone() for k, v in batch.items()}
        graph = torch.cuda.CUDAGraph()
        torch.cuda.synchronize(self.device)
        try:  # thread-local: the data loader's pinning thread may call CUDA while this thread captures
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                self.step(static)
        except RuntimeError as e:
            self.failure = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            warnings.warn(f"the training step could not be captured as one CUDA graph ({self.failure}); "
                          f"running it eagerly", stacklevel=2)  # fmt: skip
            self.reset()
            self.step(batch)
            return
        self.graph, self.static = graph, static
        graph.replay()
        self.replays += 1
