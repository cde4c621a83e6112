"""``electra finetune``: one training per seed on the shared engine, with the ELECTRA recipe.

AdamW (weight decay 0, no bias correction, as the official optimiser), warm-up over the first 10% of steps
then linear decay, layer-wise learning-rate decay, length-grouped batches with dynamic padding, bf16
autocast on CUDA, gradient clipping at 1.0, an evaluation on the dev set after every epoch; the model
after the last epoch is kept and reported, as in the paper (``select`` "best": the best dev epoch's), written
atomically. With several seeds it reports the median and spread of each metric,
as the ELECTRA paper does. Under torchrun each process takes its share of every batch (DDP).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import shutil
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from electra.core import checkpoint as ckpt
from electra.core.atomic import write_text_atomic
from electra.core.errors import ElectraError
from electra.core.lock import run_lock
from electra.core.runtime import hardware, resolve_device, seed_everything
from electra.models import TaskModel
from electra.recipes.finetune import features as feat
from electra.recipes.finetune.config import FinetuneConfig, default_epochs
from electra.recipes.finetune.inference import model_inputs, predict_records
from electra.recipes.finetune.loading import BaseEncoder, load_base_encoder
from electra.recipes.finetune.recipe import build_optimizer, default_layer_decay, default_lr
from electra.recipes.finetune.spec import QA
from electra.recipes.finetune.splits import encode_split, load_split, resolve_files
from electra.recipes.finetune.tasks import TASK_CLASSES, Task, TaskData, require_metric_packages, task_for
from electra.train import distributed as D
from electra.train.engine import Trainer
from electra.train.hooks import Evaluate, KeepBest, Progress
from electra.train.metrics import MetricsLogger, plot_curves
from electra.train.optim import recipe_lr
from electra.train.parallel import parallelize

LOWER_IS_BETTER = ("mse",)


@dataclass
class SeedResult:
    seed: int
    epoch: int  # of the model reported: the last, or with select "best" the best dev epoch
    dev: dict[str, float]
    test: dict[str, float]
    checkpoint: str | None
    wall_s: float
    steps: int


@dataclass
class FinetuneSummary:
    """Results of all seeds and, per metric, the median and spread (min, max, standard deviation)."""

    output_dir: str
    metric: str
    seeds: list[SeedResult]
    aggregate: dict[str, dict[str, float]]
    info: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Run:
    """What every seed of a fine-tuning run shares."""

    cfg: FinetuneConfig
    task: Task
    base: BaseEncoder
    labels: list[str]
    splits: dict[str, TaskData]
    settings: dict[str, Any]
    meta: dict[str, Any]
    device: torch.device
    dist: D.DistInfo

    @property
    def metric(self) -> str:
        return self.cfg.metric or self.task.default_metric

    @property
    def epochs(self) -> float:
        return self.cfg.epochs or default_epochs(self.cfg.task.task, self.cfg.dataset)


def settings_for(cfg: FinetuneConfig, base: BaseEncoder, task: Task) -> dict[str, Any]:
    """Sequence lengths and QA post-processing settings (saved with the checkpoint for evaluate/predict)."""
    model_max = base.config.max_position_embeddings
    max_length = cfg.max_length or min(model_max, task.default_max_length)
    if max_length > model_max:
        raise ElectraError(
            f"max_length {max_length} exceeds the model's maximum sequence length {model_max} "
            f"(max_position_embeddings of {base.path})"
        )
    if max_length < 8:
        raise ElectraError(f"max_length {max_length} is too short (at least 8)")
    return {"max_length": max_length, "doc_stride": cfg.doc_stride, "max_query_length": cfg.max_query_length,
            "max_answer_length": cfg.max_answer_length, "null_threshold": cfg.null_threshold,
            **({"qa_head": cfg.qa_head} if task.name == QA else {})}  # fmt: skip


def prepare_output(directory: Path, overwrite: bool) -> None:
    """Refuse a seed directory that already holds a checkpoint, unless ``overwrite`` (then clear it)."""
    existing = ckpt.checkpoint_dirs(directory)
    if existing and not overwrite:
        raise ElectraError(
            f"{directory} already holds a checkpoint ({existing[-1].name}); choose another --output-dir or pass "
            "--overwrite"
        )
    if overwrite:
        for d in existing:
            shutil.rmtree(d)
        for name in ("metrics.jsonl", "curves.png", "result.json"):
            (directory / name).unlink(missing_ok=True)


def build_task_model(run: Run) -> TaskModel:
    """The fine-tuning model: the base encoder's weights (unless ``random_init``) plus a fresh head."""
    model = TaskModel(run.task.model_config(run.base.config, run.labels, run.cfg.dropout, run.settings))
    if not run.cfg.random_init:
        if run.base.state is None:
            raise ElectraError(f"{run.base.path}: no encoder weights loaded (was it loaded with random_init?)")
        model.encoder.load_state_dict(run.base.state)
    return model


def epoch_batches(features: feat.Features, batch_size: int, pad_id: int, seed: int,
                  dist: D.DistInfo) -> Iterator[tuple[int, int, dict[str, torch.Tensor]]]:  # fmt: skip
    """``(epoch, batch index, batch)`` forever (epochs from 1): length-grouped batches of ``batch_size`` (the
    global batch) shuffled per epoch, this rank's contiguous share of each."""
    lengths = features.lengths()
    for epoch in itertools.count(1):
        for i, indices in enumerate(feat.length_grouped_batches(lengths, batch_size, seed * 1000 + epoch)):
            size = -(-len(indices) // dist.world_size)  # as torch.chunk cuts: what --grad-accum would give
            share = indices[dist.rank * size : (dist.rank + 1) * size] or indices[-1:]
            yield epoch, i, feat.collate(features, share, pad_id)


def _hooks(run: Run, model: TaskModel, seed: int, out: Path) -> tuple[list, KeepBest]:
    """Progress and metrics, the dev evaluation at each epoch's end, and the checkpoint kept: the final model
    (``select`` final, or no dev set) or the best dev epoch's (``select`` best)."""
    cfg, dist = run.cfg, run.dist
    logger = MetricsLogger(out, tensorboard=False, enabled=dist.is_main)
    best = cfg.select == "best" and "dev" in run.splits
    keep = KeepBest(f"dev_{run.metric}" if best else None, lambda t: _save_best(run, model, t, seed, out),
                    run.metric in LOWER_IS_BETTER, at_epoch_end=best)  # fmt: skip
    hooks = [Progress(logger, cfg.log_every, _postfix, enabled=cfg.progress and dist.is_main, at_epoch_end=True,
                      desc=f"seed {seed}")]  # fmt: skip
    if "dev" in run.splits:
        hooks.append(Evaluate(lambda t: _evaluate_dev(run, model), logger, at_epoch_end=True,
                              report=lambda t, v: _report_dev(run, seed, t, v)))  # fmt: skip
    return [*hooks, keep], keep


def _postfix(values: dict[str, float]) -> dict[str, str]:
    return {"loss": f"{values.get('loss', float('nan')):.4f}", "epoch": str(values["epoch"])}


def _trainer(run: Run, model: TaskModel, hooks: list) -> Trainer:
    """The engine for one seed: layer-wise AdamW, the recipe's schedule, DDP / compile as configured."""
    cfg, task = run.cfg, run.task
    encoder = model.config.encoder
    optimizer = build_optimizer(model, encoder.num_layers, cfg.layer_decay or default_layer_decay(encoder),
                                cfg.weight_decay, eps=cfg.adam_eps, bias_correction=cfg.bias_correction)  # fmt: skip
    parallel = parallelize(model, model, model.parallel_blocks(), run.dist, run.device, compile=cfg.compile,
                           compile_mode=cfg.compile_mode)  # fmt: skip
    per_epoch = math.ceil(len(run.splits["train"].features) / cfg.batch_size)
    total = max(1, math.ceil(run.epochs * per_epoch))
    peak, warmup = cfg.lr or default_lr(encoder), int(cfg.warmup_fraction * total)

    def forward(module: torch.nn.Module, b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"loss": task.loss(module(**model_inputs(b), **task.teacher_inputs(b)), b)}

    return Trainer(model=model, parallel=parallel, optimizer=optimizer, device=run.device, forward=forward,
                   schedule=lambda s: recipe_lr(s, peak, warmup, total), total_steps=total, precision=cfg.precision,
                   grad_accum=cfg.grad_accum, clip_norm=cfg.clip_norm, dist=run.dist, hooks=hooks,
                   batches_per_epoch=per_epoch, max_skipped=cfg.skip_nonfinite_steps,
                   skip_option="--skip-nonfinite-steps")  # fmt: skip


def train_one_seed(run: Run, seed: int, out: Path) -> SeedResult:
    """Fine-tune once with ``seed``; keep the final (or best dev) checkpoint in ``out``; evaluate it on test."""
    started = time.time()
    seed_everything(seed)
    model = build_task_model(run).to(run.device)
    hooks, keep = _hooks(run, model, seed, out)
    trainer = _trainer(run, model, hooks)
    trainer.fit(epoch_batches(run.splits["train"].features, run.cfg.batch_size, run.base.special_ids["pad"], seed,
                              run.dist))  # fmt: skip
    if run.dist.is_main:
        plot_curves(out / "metrics.jsonl", out / "curves.png", ("loss", f"dev_{run.metric}"),
                    title=f"{run.task.name}, seed {seed}")  # fmt: skip
    checkpoint, best_state = keep.saved or (None, None)
    if best_state is not None:
        model.load_state_dict(best_state)
    test = run.splits.get("test")
    test_metrics = _score(run, model, test) if test is not None and test.labelled else {}
    kept_dev = {k[4:]: v for k, v in keep.best_values.items()}
    result = SeedResult(seed, keep.best_epoch, kept_dev, test_metrics, str(checkpoint) if checkpoint else None,
                        round(time.time() - started, 2), trainer.step)  # fmt: skip
    if run.dist.is_main:
        write_text_atomic(out / "result.json", json.dumps(dataclasses.asdict(result), indent=2))
    return result


def _score(run: Run, model: TaskModel, data: TaskData) -> dict[str, float]:
    records = predict_records(run.task, model, data, run.labels, run.settings, run.base.special_ids["pad"],
                              run.device, run.cfg.eval_batch_size, run.cfg.precision)  # fmt: skip
    return run.task.score(data, records, run.labels)


def _evaluate_dev(run: Run, model: TaskModel) -> dict[str, float]:
    metrics = _score(run, model, run.splits["dev"])
    if run.metric not in metrics:
        raise ElectraError(f"unknown metric {run.metric!r} for {run.task.name}; choose from {', '.join(metrics)}")
    return {f"dev_{k}": v for k, v in metrics.items()}


def _report_dev(run: Run, seed: int, trainer: Trainer, values: dict[str, float]) -> None:
    if run.cfg.progress and run.dist.is_main:
        shown = ", ".join(f"{k[4:]} {v:.4f}" for k, v in values.items())
        tqdm.write(f"seed {seed} epoch {trainer.epoch} (step {trainer.step}): dev {shown}")


def _save_best(run: Run, model: TaskModel, trainer: Trainer, seed: int, out: Path) -> tuple[Path | None, dict]:
    """Write the best checkpoint so far (the only one kept) on rank 0; returns it and a copy of the weights."""
    dev = {k[4:]: v for k, v in trainer.evaluated.items()}
    meta = {**model.checkpoint_config(run.base.special_ids), **run.meta, "seed": seed, "epoch": trainer.epoch,
            "dev_metrics": dev, "step": trainer.step}  # fmt: skip
    path = None
    if run.dist.is_main:
        final = out / ckpt.checkpoint_name(trainer.step)
        path = ckpt.write_checkpoint(final, model, meta, run.base.tokenizer_files, run.cfg.to_dict())
        ckpt.prune_checkpoints(out, keep=1)
    D.barrier(run.dist)
    return path, {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def aggregate(results: Sequence[SeedResult]) -> dict[str, dict[str, float]]:
    """Median, min, max and (population) standard deviation of every dev_ / test_ metric over seeds."""
    values: dict[str, list[float]] = {}
    for r in results:
        for prefix, metrics in (("dev", r.dev), ("test", r.test)):
            for k, v in metrics.items():
                values.setdefault(f"{prefix}_{k}", []).append(float(v))
    return {k: {"median": statistics.median(v), "min": min(v), "max": max(v), "std": statistics.pstdev(v),
                "n": len(v)} for k, v in values.items()}  # fmt: skip


def prepare_run(cfg: FinetuneConfig, device: torch.device, dist: D.DistInfo) -> Run:
    """Load the base encoder and the task's splits (read, checked, encoded), before any training."""
    known = TASK_CLASSES[cfg.task.task].metrics
    if cfg.metric and not cfg.dataset and cfg.metric not in known:
        raise ElectraError(f"unknown metric {cfg.metric!r} for {cfg.task.task}; choose from {', '.join(known)}")
    base = load_base_encoder(cfg.model, random_init=cfg.random_init)  # before any download
    spec, files = resolve_files(cfg)
    task = task_for(spec)
    settings = settings_for(cfg, base, task)
    require_metric_packages(task)
    splits: dict[str, TaskData] = {}
    splits["train"], spec = load_split(task, files["train"], "train", True)
    task = task_for(spec)  # with what reading the training file resolved (columns, scheme, SQuAD version)
    if cfg.max_train_examples:
        splits["train"].examples = splits["train"].examples[: cfg.max_train_examples]
    for role in ("dev", "test"):
        if role in files:
            splits[role], _ = load_split(task, files[role], role, True)
    labels = task.labels(splits["train"])
    for role in ("dev", "test"):
        if role in splits:
            task.check_labels(splits[role], labels, splits["train"].source)
    for role, data in splits.items():
        encode_split(task, data, base.tokenizer, base.special_ids, labels, settings, role)
    meta = {"kind": "finetuned", "task": spec.to_dict(), "labels": labels, "settings": settings,
            "base_model": str(base.path), "random_init": cfg.random_init, "data": {"dataset": cfg.dataset, **files}}
    return Run(cfg, task, base, labels, splits, settings, meta, device, dist)  # fmt: skip


def finetune(cfg: FinetuneConfig) -> FinetuneSummary:
    """Fine-tune ``cfg.model`` on the task once per seed; write ``summary.json`` in ``cfg.output_dir``.

    Each seed's run goes to ``<output_dir>/seed-<seed>/``: the best checkpoint (``checkpoint-*``),
    ``metrics.jsonl``, ``curves.png`` and ``result.json``.
    """
    cfg.validate()
    with run_lock(Path(cfg.output_dir), enabled=int(os.environ.get("RANK", "0")) == 0):
        return _finetune(cfg)


def _finetune(cfg: FinetuneConfig) -> FinetuneSummary:
    started = time.time()
    device = resolve_device(cfg.device)
    dist = D.init_distributed(device.type)
    device = D.rank_device(device, dist)
    if cfg.batch_size % (dist.world_size * cfg.grad_accum):
        raise ElectraError(f"batch_size = {cfg.batch_size} is not divisible by world size {dist.world_size} x "
                           f"grad_accum {cfg.grad_accum}")  # fmt: skip
    run = prepare_run(cfg, device, dist)
    train = run.splits["train"]
    if cfg.progress and dist.is_main:
        tqdm.write(
            f"electra: fine-tuning {run.base.path} ({'random init' if cfg.random_init else 'pretrained'}) for "
            f"{run.task.name} on {hardware(device)}{f' x {dist.world_size} (DDP)' if dist.enabled else ''}; "
            f"{len(train.examples):,} training examples ({len(train.features):,} sequences), seeds {cfg.seeds}"
        )
    out = Path(cfg.output_dir)
    results = []
    for seed in cfg.seeds:
        if dist.is_main:
            prepare_output(out / f"seed-{seed}", cfg.overwrite)
        D.barrier(dist)
        results.append(train_one_seed(run, seed, out / f"seed-{seed}"))
    info = {"task": run.task.name, "model": str(run.base.path), "random_init": cfg.random_init,
            "data": run.meta["data"], "hardware": hardware(device), "wall_s": round(time.time() - started, 2),
            "lr": cfg.lr or default_lr(run.base.config), "layer_decay": cfg.layer_decay or
            default_layer_decay(run.base.config), "epochs": run.epochs, "select": cfg.select,
            "batch_size": cfg.batch_size,
            "settings": run.settings, "train_examples": len(train.examples), "world_size": dist.world_size}  # fmt: skip
    summary = FinetuneSummary(str(out), run.metric, results, aggregate(results), info)
    if dist.is_main:
        write_text_atomic(out / "summary.json", json.dumps(summary.to_dict(), indent=2))
    D.shutdown(dist)
    return summary


def format_summary(summary: FinetuneSummary) -> str:
    """A short human-readable report: one line per seed, then median and spread."""
    best = summary.info.get("select") == "best"
    lines = [f"reported: the {'best dev epoch' if best else 'final'} model of each seed "
             f"({'--select best' if best else 'the paper protocol; --select best picks the best dev epoch'})"]
    for r in summary.seeds:
        dev = ", ".join(f"{k} {v:.4f}" for k, v in r.dev.items())
        test = ", ".join(f"{k} {v:.4f}" for k, v in r.test.items())
        lines.append(f"seed {r.seed}: {'best' if best else 'final'} epoch {r.epoch}; dev {dev or '-'}; "
                     f"test {test or '-'} "
                     f"({r.wall_s:.0f} s)")  # fmt: skip
    for key, a in summary.aggregate.items():
        lines.append(f"{key}: median {a['median']:.4f} (min {a['min']:.4f}, max {a['max']:.4f}, std {a['std']:.4f}, "
                     f"{int(a['n'])} seed{'s' if a['n'] != 1 else ''})")  # fmt: skip
    lines.append(f"summary: {Path(summary.output_dir) / 'summary.json'} ({summary.info['hardware']}, "
                 f"{summary.info['wall_s']:.0f} s)")  # fmt: skip
    return "\n".join(lines)
