"""Training checkpoints: the native model checkpoint plus the trainer state that resumes a run exactly.

The trainer state holds the optimiser state keyed by parameter name (unsharded, so any world size and DDP,
FSDP or one process can load it), the step, the data position (epoch and the next batch) and every rank's
random-number state.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from electra.core import checkpoint as ckpt
from electra.core.errors import ElectraError
from electra.core.lock import run_lock
from electra.core.runtime import derived_seed, rng_state, set_rng_state
from electra.train import distributed as D
from electra.train.engine import Trainer
from electra.train.optim import with_step_count


def trainer_state(trainer: Trainer) -> dict[str, Any] | None:
    """The state that resumes ``trainer`` after this step, on rank 0 (None on other ranks).

    A collective: every rank must call it (RNG states are gathered; under FSDP so is the optimiser state)."""
    rng_per_rank = D.all_gather_object(rng_state(), trainer.dist)
    fsdp = trainer.parallel.mode == "fsdp"
    optimizer = D.optimizer_state(trainer.model, trainer.optimizer) if fsdp or trainer.dist.is_main else None
    if not trainer.dist.is_main:
        return None
    bias_correction = bool(trainer.optimizer.param_groups[0].get("bias_correction"))
    return {
        "optimizer": with_step_count(optimizer, trainer.step, bias_correction),
        "step": trainer.step,
        "epoch": trainer.epoch,
        "batch_index": trainer.batch_index + 1,
        "rng": rng_per_rank[0],
        "rng_per_rank": rng_per_rank,
    }


def save_training_checkpoint(
    trainer: Trainer,
    run_dir: Path,
    config: dict[str, Any],
    files: dict[str, str],
    train_config: dict[str, Any],
    keep: int,
    unsharded: Callable[[], nn.Module | None] | None = None,
) -> Path | None:
    """Write ``run_dir/checkpoint-<step>`` (model, ``config`` + step, tokenizer ``files``, training config,
    trainer state) on rank 0 and keep the newest ``keep``; every rank must call it. ``unsharded()`` gives a
    module holding the full weights under FSDP (a collective; None on ranks > 0)."""
    state = trainer_state(trainer)
    weights = unsharded() if unsharded is not None else trainer.model
    path = None
    if trainer.dist.is_main:
        final = run_dir / ckpt.checkpoint_name(trainer.step)
        path = ckpt.write_checkpoint(final, weights, {**config, "step": trainer.step}, files, train_config, state)
        ckpt.prune_checkpoints(run_dir, keep)
    D.barrier(trainer.dist)
    return path


@contextlib.contextmanager
def run_directory(out: Path) -> Iterator[None]:
    """Hold ``out`` for a training run: locked against a second run, and cleaned of what interrupted
    checkpoint writes left behind (both by rank 0 alone under torchrun)."""
    main = int(os.environ.get("RANK", "0")) == 0
    with run_lock(out, enabled=main):
        if main:
            ckpt.remove_stale(out)
        yield


def checkpoint_to_resume(out: Path, resume: bool) -> Path | None:
    """The newest checkpoint in run directory ``out`` when ``resume`` (a one-line error if there is none),
    else None (a one-line error if ``out`` already holds checkpoints: a new run must not mix with them)."""
    latest = ckpt.latest_checkpoint(out)
    if resume and latest is None:
        raise ElectraError(f"--resume: no checkpoint in {out}")
    if not resume and latest is not None:
        raise ElectraError(f"{out} already holds checkpoints; pass --resume or choose another --train.output_dir")
    return latest


def resumable_state(latest: Path, steps: int) -> dict[str, Any]:
    """``latest``'s trainer state, checked to be before ``steps`` (train.steps) so that there is work left."""
    state = ckpt.load_trainer_state(latest)
    if int(state["step"]) >= steps:
        raise ElectraError(f"--resume: {latest} is at step {int(state['step'])}, not before train.steps = "
                           f"{steps}; raise train.steps to train on")  # fmt: skip
    return state


def seed_rank(state: dict[str, Any] | None, rank: int, seed: int, step: int) -> None:
    """This rank's random stream (masking, sampling, dropout) from here on: the one a resumed run's checkpoint
    saved for this rank; else rank 0 keeps the stream the run's seed started (the single-process one) and every
    other rank gets its own, derived from the seed, its rank and the step (every rank built the same weights
    from the same seed)."""
    saved = (state.get("rng_per_rank") or [state["rng"]]) if state is not None else []
    if rank < len(saved):
        set_rng_state(saved[rank])
    elif rank > 0:
        torch.manual_seed(derived_seed(seed, rank, step))
