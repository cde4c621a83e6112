"""The training engine on its own: one step with gradient accumulation, the loop's hooks and their timing."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from electra.core.errors import ElectraError
from electra.train.engine import Hook, Trainer, split_batch, train_step
from electra.train.hooks import Evaluate, KeepBest, SaveCheckpoints, TimeLimit
from electra.train.optim import build_adamw, param_groups
from electra.train.parallel import Parallel

CPU = torch.device("cpu")


def _regression(seed: int = 0) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    batch = {"x": torch.randn(8, 4), "y": torch.randn(8, 1)}
    return model, batch


def _forward(module: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    loss = (module(batch["x"]) - batch["y"]).pow(2).mean()
    return {"loss": loss, "first": module(batch["x"][:1]).detach().squeeze()}


def _trainer(model: nn.Module, hooks=(), total: int = 6, lr: float = 0.05, **kw) -> Trainer:
    opt = build_adamw(param_groups(model, 0.0))
    return Trainer(model=model, parallel=Parallel(model, model), forward=_forward, optimizer=opt,
                   schedule=lambda s: lr, total_steps=total, device=CPU, hooks=hooks, **kw)  # fmt: skip


def test_gradient_accumulation_takes_the_step_of_the_whole_batch():
    """Two micro-batches of equal size, each loss a mean: the same update as the whole batch at once."""
    results = []
    for parts in (1, 2, 4):
        model, batch = _regression()
        opt = build_adamw(param_groups(model, 0.0))
        opt.param_groups[0]["lr"].fill_(0.1)
        opt.param_groups[1]["lr"].fill_(0.1)
        metrics = train_step(Parallel(model, model), _forward, split_batch(batch, parts), opt, 1.0, CPU)
        results.append(([p.detach().clone() for p in model.parameters()], metrics))
    for params, metrics in results[1:]:
        for a, b in zip(params, results[0][0], strict=True):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
        assert float(metrics["loss"]) == pytest.approx(float(results[0][1]["loss"]), rel=1e-6)
        assert float(metrics["grad_norm"]) == pytest.approx(float(results[0][1]["grad_norm"]), rel=1e-5)
    assert float(results[0][1]["grad_norm"]) > 0


def test_split_batch_never_makes_an_empty_micro_batch():
    parts = split_batch({"x": torch.zeros(3, 2)}, 4)
    assert [len(p["x"]) for p in parts] == [1, 1, 1]


class Record(Hook):
    def __init__(self, **kw) -> None:
        self.calls: list[tuple[int, int, int]] = []
        for k, v in kw.items():
            setattr(self, k, v)

    def after_step(self, trainer: Trainer) -> None:
        if self.due(trainer):
            self.calls.append((trainer.step, trainer.epoch, trainer.batch_index))


def _epochs(batch, per_epoch: int):
    """(epoch, index, batch) triples, ``per_epoch`` batches per epoch, forever."""
    for epoch in itertools.count(1):
        for i in range(per_epoch):
            yield epoch, i, batch


def test_hooks_run_every_n_steps_at_epoch_ends_and_at_the_end():
    model, batch = _regression()
    every, epochs = Record(every=4), Record(at_epoch_end=True)
    trainer = _trainer(model, [every, epochs], total=7, batches_per_epoch=3)
    trainer.fit(_epochs(batch, 3))
    assert [c[0] for c in every.calls] == [4, 7]  # every 4 steps, and the last
    assert epochs.calls == [(3, 1, 2), (6, 2, 2), (7, 3, 0)]


def test_a_resumed_trainer_runs_only_the_remaining_steps():
    model, batch = _regression()
    seen = Record(every=1)
    _trainer(model, [seen], total=6, step=4).fit(_epochs(batch, 100))
    assert [c[0] for c in seen.calls] == [5, 6]


def test_collect_metrics_averages_the_steps_since_the_last_call():
    model, batch = _regression()
    trainer = _trainer(model, total=3)
    losses = []
    for step in range(3):
        with torch.no_grad():
            before = float(_forward(model, batch)["loss"])
        trainer.total_steps = step + 1
        trainer.fit(_epochs(batch, 100))
        losses.append(before)
    values = trainer.collect_metrics()
    assert values["loss"] == pytest.approx(sum(losses) / 3, abs=1e-5)
    assert values["lr"] == 0.05 and values["tokens_per_s"] > 0 and "grad_norm" in values
    assert trainer.collect_metrics() == {"lr": 0.05, "tokens_per_s": 0.0, "epoch": 1}  # nothing since


def test_keep_best_saves_only_on_improvement():
    model, batch = _regression()
    scores = iter([0.5, 0.7, 0.6, 0.9])
    saved = []

    class Logger:
        def log(self, step, values):
            pass

    evaluate = Evaluate(lambda t: {"dev_acc": next(scores)}, Logger(), at_epoch_end=True)
    keep = KeepBest("dev_acc", lambda t: saved.append(t.step) or t.step)
    _trainer(model, [evaluate, keep], total=8, batches_per_epoch=2).fit(_epochs(batch, 2))
    assert saved == [2, 4, 8] and keep.best == 0.9 and keep.best_epoch == 4 and keep.saved == 8
    lower = KeepBest("dev_mse", lambda t: t.step, lower_is_better=True)
    scores = iter([0.5, 0.7, 0.4])
    evaluate = Evaluate(lambda t: {"dev_mse": next(scores)}, Logger(), at_epoch_end=True)
    _trainer(model, [evaluate, lower], total=6, batches_per_epoch=2).fit(_epochs(batch, 2))
    assert lower.best == 0.4 and lower.saved == 6
    always = KeepBest(None, lambda t: t.step)  # no dev set: the last epoch's
    _trainer(model, [always], total=5, batches_per_epoch=2).fit(_epochs(batch, 2))
    assert always.saved == 5


def test_save_checkpoints_every_n_steps_and_at_the_end():
    model, batch = _regression()
    saves = SaveCheckpoints(lambda t: t.step, every=3)
    steps = []
    saves.save = lambda t: steps.append(t.step)
    _trainer(model, [saves], total=7).fit(_epochs(batch, 100))
    assert steps == [3, 6, 7]


def test_a_non_finite_loss_stops_the_run_at_the_next_log():
    model, batch = _regression()
    batch = {"x": batch["x"], "y": torch.full_like(batch["y"], float("inf"))}

    class Log(Hook):
        every = 2

        def after_step(self, trainer):
            if self.due(trainer):
                trainer.collect_metrics()

    before = [p.detach().clone() for p in model.parameters()]
    message = r"training diverged: 2 step\(s\) up to step 2 had a non-finite loss .*train.skip_nonfinite_steps N"
    with pytest.raises(ElectraError, match=message):
        _trainer(model, [Log()], total=6).fit(_epochs(batch, 100))
    for a, b in zip(before, model.parameters(), strict=True):  # the bad steps changed nothing
        assert torch.equal(a, b)


def test_a_time_limit_makes_the_step_of_its_check_the_last():
    """25 s a step, a 1-minute limit checked every 2 steps: the check at step 4 (100 s) ends the run there,
    and the hooks after the limit treat step 4 as the end (the checkpoint hook saves it)."""
    now = [0.0]

    class Tick(Hook):
        def after_step(self, trainer):
            now[0] += 25.0

    model, batch = _regression()
    limit = TimeLimit(1.0, every=2, clock=lambda: now[0])
    saved = []
    saves = SaveCheckpoints(lambda t: saved.append(t.step), every=100)
    trainer = _trainer(model, [Tick(), limit, saves], total=50)
    trainer.fit(_epochs(batch, 100))
    assert trainer.step == 4 and limit.stopped_at == 4 and saved == [4]
