"""The training engine: one optimisation step (:func:`train_step`) and the loop around it (:class:`Trainer`).

The engine knows no model, objective or data: a recipe hands it a module to call, a ``forward`` that turns
(module, batch) into ``{"loss": ..., <metrics>...}``, an optimiser, a learning-rate schedule, batches and
hooks (progress and metrics, held-out evaluation, keep-best, checkpoints). Inside a step nothing is read back
to the host: metrics stay on the device and are averaged at log steps, the learning rate is written into
device tensors, so a whole step can be compiled or captured.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn

from electra.core.errors import ElectraError
from electra.core.runtime import autocast
from electra.train import distributed as D
from electra.train.optim import set_lr, step_if_finite
from electra.train.parallel import Parallel
from electra.train.step_graph import StepGraph

Batch = dict[str, torch.Tensor]
Forward = Callable[[nn.Module, Batch], dict[str, torch.Tensor]]


def split_batch(batch: Batch, parts: int) -> list[Batch]:
    """``batch`` cut into ``parts`` micro-batches along the first dimension (fewer when it has fewer rows)."""
    if parts == 1:
        return [batch]
    chunks = {k: v.chunk(parts) for k, v in batch.items()}
    n = min(len(c) for c in chunks.values())
    return [{k: chunks[k][i] for k in batch} for i in range(n)]


def train_step(
    parallel: Parallel,
    forward: Forward,
    micro_batches: Sequence[Batch],
    optimizer: torch.optim.Optimizer,
    clip_norm: float,
    device: torch.device,
    precision: str = "auto",
) -> dict[str, torch.Tensor]:
    """Forward and backward over ``micro_batches`` (gradients summed, synchronised across ranks after the
    last), global-norm clipping, one optimiser step; returns the step's metrics as device tensors (the mean
    over micro-batches of every value ``forward`` returned, ``grad_norm``, and ``finite``: whether the loss
    and the gradient norm were finite). A step that is not finite changes no weight (the update is skipped on
    the device)."""
    n = len(micro_batches)
    sums: dict[str, torch.Tensor] = {}
    for i, batch in enumerate(micro_batches):
        with parallel.gradient_sync(i == n - 1):
            with autocast(device, precision):
                out = forward(parallel.module, batch)
            (out["loss"] / n).backward()
        for key, value in out.items():
            value = value.detach().float()
            sums[key] = sums[key] + value if key in sums else value
    metrics = {k: v / n for k, v in sums.items()}
    norm = torch.nn.utils.clip_grad_norm_(parallel.model.parameters(), clip_norm if clip_norm > 0 else float("inf"))
    metrics["grad_norm"] = D.local_value(norm).detach().float()
    metrics["finite"] = torch.isfinite(metrics["loss"]) & torch.isfinite(metrics["grad_norm"])
    step_if_finite(optimizer, metrics["finite"])
    optimizer.zero_grad(set_to_none=True)
    return metrics


def tokens_in(batch: Batch) -> torch.Tensor | int:
    """Real (non-padding) tokens of a batch: its attention mask's sum (a device tensor), else every position
    of ``input_ids``, else its rows (numbers known from the shapes, so nothing is copied to the device)."""
    if "attention_mask" in batch:
        return batch["attention_mask"].sum()
    return batch["input_ids"].numel() if "input_ids" in batch else len(next(iter(batch.values())))


class Hook:
    """Something done around the steps: override any of the three methods.

    ``every`` steps, at each epoch's end (``at_epoch_end``) and after the last step, :meth:`due` is true."""

    every: int = 0
    at_epoch_end: bool = False

    def on_start(self, trainer: Trainer) -> None: ...

    def after_step(self, trainer: Trainer) -> None: ...

    def on_end(self, trainer: Trainer) -> None: ...

    def due(self, trainer: Trainer) -> bool:
        return (
            trainer.at_end
            or (self.every > 0 and trainer.step % self.every == 0)
            or (self.at_epoch_end and trainer.epoch_ended)
        )


class Trainer:
    """Runs ``total_steps`` optimisation steps over ``(epoch, batch_index, batch)`` triples; hooks do the rest.

    ``model`` owns the parameters (clipped, saved); ``parallel`` is what :func:`train_step` calls (the
    model's objective, maybe compiled and wrapped in DDP or FSDP: see :func:`~electra.train.parallel.parallelize`).
    ``schedule(step)`` gives each step's learning rate (times each group's ``lr_scale``). ``step`` and the
    data position start where a resumed run stopped.

    A step whose loss or gradient norm is not finite is skipped on the device (no weight changes) and left out
    of the averaged metrics; when more than ``max_skipped`` steps have been skipped, :meth:`check_finite`
    (called at every log and before every checkpoint) stops the run with an error naming ``skip_option``, the
    setting that allows more. So no checkpoint ever holds a non-finite weight.
    """

    def __init__(
        self,
        *,
        model: nn.Module,
        parallel: Parallel,
        forward: Forward,
        optimizer: torch.optim.Optimizer,
        schedule: Callable[[int], float],
        total_steps: int,
        device: torch.device,
        precision: str = "auto",
        grad_accum: int = 1,
        clip_norm: float = 1.0,
        dist: D.DistInfo | None = None,
        hooks: Sequence[Hook] = (),
        batches_per_epoch: int = 0,
        step: int = 0,
        max_skipped: int = 0,
        skip_option: str = "train.skip_nonfinite_steps",
    ) -> None:
        self.model, self.parallel, self.forward, self.optimizer = model, parallel, forward, optimizer
        self.schedule, self.total_steps, self.device, self.precision = schedule, total_steps, device, precision
        self.grad_accum, self.clip_norm, self.dist = grad_accum, clip_norm, dist or D.DistInfo()
        self.hooks, self.batches_per_epoch = list(hooks), batches_per_epoch
        self.max_skipped, self.skip_option = max_skipped, skip_option
        self.step, self.epoch, self.batch_index, self.lr = step, 0, -1, 0.0
        self.last: dict[str, float] = {}  # the latest logged and evaluated values
        self.evaluated: dict[str, float] = {}  # what an evaluation hook computed at this step (else empty)
        self._sums: dict[str, torch.Tensor] = {}  # per metric, added to in place (a captured step writes them)
        self._finite_steps = torch.zeros((), device=device)  # in the current averaging window
        self._skipped = torch.zeros((), device=device)  # over the whole run (this process)
        self._tokens = torch.zeros((), device=device)
        self._timer = time.perf_counter()
        self._window_step = self.step
        self._run: Callable[[Batch], None] = self._device_step
        if parallel.step_graph:
            self._run = StepGraph(self._device_step, device, lambda: optimizer.zero_grad(set_to_none=True))

    @property
    def at_end(self) -> bool:
        return self.step >= self.total_steps

    @property
    def epoch_ended(self) -> bool:
        return self.batches_per_epoch > 0 and self.batch_index == self.batches_per_epoch - 1

    def fit(self, batches: Iterator[tuple[int, int, Batch]]) -> dict[str, float]:
        """Train until ``total_steps``; returns the last logged (and evaluated) metrics."""
        try:
            for hook in self.hooks:
                hook.on_start(self)
            self.parallel.module.train()
            while self.step < self.total_steps:
                self._one_step(batches)
                self.evaluated = {}
                for hook in self.hooks:
                    hook.after_step(self)
        finally:
            for hook in self.hooks:
                hook.on_end(self)
        return self.last

    def _one_step(self, batches: Iterator[tuple[int, int, Batch]]) -> None:
        self.lr = self.schedule(self.step)
        set_lr(self.optimizer, self.lr)
        self.epoch, self.batch_index, batch = next(batches)
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        if self.parallel.cudagraphs:
            torch.compiler.cudagraph_mark_step_begin()
        self._run(batch)
        self.step += 1

    def _device_step(self, batch: Batch) -> None:
        """One :func:`train_step` and its metrics added into the window's sums, all on the device (what a
        :class:`~electra.train.step_graph.StepGraph` captures)."""
        metrics = train_step(self.parallel, self.forward, split_batch(batch, self.grad_accum), self.optimizer,
                             self.clip_norm, self.device, self.precision)  # fmt: skip
        finite = metrics.pop("finite")
        for key, value in metrics.items():
            value = torch.where(finite, value, torch.zeros_like(value))  # a skipped step's NaN stays out
            if key in self._sums:
                self._sums[key].add_(value)
            else:
                self._sums[key] = value.clone()
        self._finite_steps += finite
        self._skipped += ~finite
        self._tokens += tokens_in(batch)

    def check_finite(self) -> None:
        """Raise :class:`ElectraError` when more steps were skipped as non-finite than allowed (reads one
        number from the device)."""
        skipped = round(float(D.all_reduce_mean(self._skipped, self.dist)))  # the ranks skip together
        if skipped > self.max_skipped:
            raise ElectraError(
                f"training diverged: {skipped} step(s) up to step {self.step} had a non-finite loss or gradient "
                f"(learning rate {self.lr:.3g}); their updates were skipped, so the weights and the checkpoints "
                f"are finite; lower the learning rate, or allow up to N skipped steps with {self.skip_option} N"
            )

    def collect_metrics(self) -> dict[str, float]:
        """The mean of every step metric since the previous call, over finite steps and ranks (one
        all-reduce), with the learning rate, tokens/s and epoch (and the skipped steps, if any); starts the
        next averaging window. Stops the run first when too many steps were skipped (:meth:`check_finite`)."""
        self.check_finite()
        elapsed = time.perf_counter() - self._timer
        finite_steps = D.all_reduce_mean(self._finite_steps, self.dist)
        values = mean_over_ranks(self._sums, self._finite_steps, self.dist) if float(finite_steps) > 0 else {}
        tokens = float(D.all_reduce_mean(self._tokens, self.dist)) * self.dist.world_size
        values.update(lr=self.lr, tokens_per_s=round(tokens / max(elapsed, 1e-9), 1), epoch=self.epoch)
        if self.step > self._window_step:  # wall seconds per optimiser step over the window
            values["step_time_s"] = round(elapsed / (self.step - self._window_step), 6)
        skipped = float(self._skipped)
        if skipped:
            values["skipped_steps"] = skipped
        for value in self._sums.values():
            value.zero_()
        self._finite_steps.zero_()
        self._tokens.zero_()
        self._timer = time.perf_counter()
        self._window_step = self.step
        self.last.update(values)
        return values


def mean_over_ranks(sums: dict[str, torch.Tensor], count: int | torch.Tensor, dist: D.DistInfo,
                    prefix: str = "") -> dict[str, float]:  # fmt: skip
    """``sums / count`` averaged over ranks (one all-reduce for all metrics), as floats rounded to 5 places."""
    if not sums:
        return {}
    keys = sorted(sums)
    means = D.all_reduce_mean(torch.stack([sums[k] for k in keys]) / count, dist)
    return {f"{prefix}{k}": round(float(v), 5) for k, v in zip(keys, means.tolist(), strict=True)}
