"""Hooks for :class:`~electra.train.engine.Trainer`: progress and metrics, evaluation, keep-best, checkpoints."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from electra.core.errors import ElectraError
from electra.train import distributed as D
from electra.train.engine import Hook, Trainer
from electra.train.metrics import MetricsLogger


class Progress(Hook):
    """A progress bar over the steps and, every ``every`` steps (and at epoch ends with ``at_epoch_end``),
    the averaged step metrics written to ``logger`` and shown on the bar by ``postfix(values)``."""

    def __init__(
        self,
        logger: MetricsLogger,
        every: int,
        postfix: Callable[[dict[str, float]], dict[str, str]],
        enabled: bool = True,
        at_epoch_end: bool = False,
        desc: str | None = None,
    ) -> None:
        self.logger, self.every, self.postfix = logger, every, postfix
        self.enabled, self.at_epoch_end, self.desc = enabled, at_epoch_end, desc
        self.bar: tqdm | None = None

    def on_start(self, trainer: Trainer) -> None:
        self.bar = tqdm(total=trainer.total_steps, initial=trainer.step, disable=not self.enabled, unit="step",
                        dynamic_ncols=True, desc=self.desc, leave=self.desc is None)  # fmt: skip

    def after_step(self, trainer: Trainer) -> None:
        assert self.bar is not None
        self.bar.update(1)
        if self.due(trainer):
            values = trainer.collect_metrics()
            self.logger.log(trainer.step, values)
            self.bar.set_postfix(self.postfix(values))

    def on_end(self, trainer: Trainer) -> None:
        if self.bar is not None:
            self.bar.close()
        self.logger.close()


class Evaluate(Hook):
    """Every ``every`` steps (``at_epoch_end``: at each epoch's end) and after the last step, ``evaluate(trainer)``
    returns metrics (already prefixed, e.g. ``eval_loss`` or ``dev_accuracy``); they are logged, kept in
    ``trainer.last`` and offered to the hooks after this one as ``trainer.evaluated``."""

    def __init__(
        self,
        evaluate: Callable[[Trainer], dict[str, float]],
        logger: MetricsLogger,
        every: int = 0,
        at_epoch_end: bool = False,
        report: Callable[[Trainer, dict[str, float]], None] | None = None,
    ) -> None:
        self.evaluate, self.logger, self.every, self.at_epoch_end, self.report = (
            evaluate, logger, every, at_epoch_end, report)  # fmt: skip

    def after_step(self, trainer: Trainer) -> None:
        if not self.due(trainer):
            return
        values = self.evaluate(trainer)
        self.logger.log(trainer.step, values)
        trainer.last.update(values)
        trainer.evaluated = values
        if self.report is not None:
            self.report(trainer, values)


class KeepBest(Hook):
    """At each epoch's end (``at_epoch_end``; else every ``every`` steps) and after the last step, ``save(trainer)``
    when ``metric`` (from the evaluation hook before this one) improved on the best so far: higher is better
    unless ``lower_is_better``; with no ``metric`` every time. The best value, its epoch and the evaluated
    values are kept in ``best``, ``best_epoch`` and ``best_values``; what ``save`` returned in ``saved``."""

    def __init__(self, metric: str | None, save: Callable[[Trainer], Any], lower_is_better: bool = False,
                 every: int = 0, at_epoch_end: bool = True) -> None:  # fmt: skip
        self.metric, self.save, self.lower_is_better = metric, save, lower_is_better
        self.every, self.at_epoch_end = every, at_epoch_end
        self.best: float | None = None
        self.best_epoch = 0
        self.best_values: dict[str, float] = {}
        self.saved: Any = None

    def after_step(self, trainer: Trainer) -> None:
        if not self.due(trainer):
            return
        value = None
        if self.metric is not None:
            if self.metric not in trainer.evaluated:
                raise ElectraError(f"unknown metric {self.metric!r}; choose from {', '.join(trainer.evaluated)}")
            value = trainer.evaluated[self.metric]
        if self.best is None or value is None or (value < self.best if self.lower_is_better else value > self.best):
            trainer.check_finite()
            self.best, self.best_epoch, self.best_values = value, trainer.epoch, dict(trainer.evaluated)
            self.saved = self.save(trainer)


class SaveCheckpoints(Hook):
    """Every ``every`` steps and after the last one, ``save(trainer)`` (which writes a checkpoint directory)."""

    def __init__(self, save: Callable[[Trainer], Path | None], every: int) -> None:
        self.save, self.every = save, every
        self.last_saved: Path | None = None

    def after_step(self, trainer: Trainer) -> None:
        if self.due(trainer):
            trainer.check_finite()  # never a checkpoint of a run that has diverged
            self.last_saved = self.save(trainer)


class TimeLimit(Hook):
    """Ends the run once ``minutes`` of training have passed (wall clock from the first step), checked every
    ``every`` steps: the step of that check becomes the last, so the hooks after this one (put it first) log,
    evaluate and save as at any run's end. Under torchrun rank 0's clock decides, so the ranks stop together."""

    def __init__(self, minutes: float, every: int = 10, clock: Callable[[], float] = time.monotonic) -> None:
        self.minutes, self.every, self.clock = minutes, every, clock
        self.start = 0.0
        self.stopped_at: int | None = None

    def on_start(self, trainer: Trainer) -> None:
        self.start = self.clock()

    def after_step(self, trainer: Trainer) -> None:
        if trainer.at_end or trainer.step % self.every:
            return
        over = self.clock() - self.start >= self.minutes * 60
        if D.broadcast_object(over, trainer.dist):
            trainer.total_steps = self.stopped_at = trainer.step
