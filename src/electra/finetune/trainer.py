"""Fine-tuning, evaluation and prediction with the ELECTRA recipe.

:func:`finetune` runs one training per seed: AdamW (weight decay 0, no bias correction, as the official
optimiser), warm-up over the first 10% of steps then linear decay, layer-wise learning-rate decay,
length-grouped batches with dynamic padding, bf16 autocast on CUDA, gradient clipping at 1.0, an evaluation
on the dev set after every epoch and the best checkpoint kept (written atomically). With several seeds it
reports the median and spread of each metric, as the ELECTRA paper does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import platform
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer
from tqdm.auto import tqdm

from electra.errors import ElectraError
from electra.finetune import features as F
from electra.finetune import metrics as M
from electra.finetune import schemes
from electra.finetune.heads import FinetuneModel
from electra.finetune.loading import FINETUNED, BaseEncoder, Finetuned, load_base_encoder, load_finetuned
from electra.finetune.qa import postprocess_qa
from electra.finetune.readers import read_examples
from electra.finetune.recipe import build_optimizer, default_layer_decay, default_lr, set_learning_rates
from electra.finetune.tasks import CLASSIFICATION, QA, REGRESSION, TOKEN_CLASSIFICATION, TaskSpec
from electra.train.checkpoint import checkpoint_dirs, save_checkpoint
from electra.train.metrics import MetricsLogger, plot_curves

DEFAULT_MAX_LENGTH = {CLASSIFICATION: 128, REGRESSION: 128, TOKEN_CLASSIFICATION: 128, QA: 512}
HF_SPLITS = {"train": "train", "dev": "validation", "test": "test"}


@dataclass
class FinetuneConfig:
    """Everything :func:`finetune` needs. ``None`` learning rate / layer decay mean the per-size defaults."""

    model: str  # pretrained (or fine-tuned) checkpoint or run directory
    task: TaskSpec = field(default_factory=TaskSpec)
    dataset: str | None = None  # a name in electra.data.task_catalogue (overrides the files)
    train_file: str | None = None
    dev_file: str | None = None
    test_file: str | None = None
    output_dir: str = "runs/finetune"
    overwrite: bool = False
    random_init: bool = False  # same architecture as the checkpoint, randomly initialised
    lr: float | None = None
    layer_decay: float | None = None
    epochs: float = 3.0
    batch_size: int = 32
    eval_batch_size: int = 64
    warmup_fraction: float = 0.1
    weight_decay: float = 0.0
    adam_eps: float = 1e-6
    clip_norm: float = 1.0
    bias_correction: bool = False
    dropout: float | None = None  # None: the checkpoint's (0.1 in the recipe)
    max_length: int | None = None  # None: 128 (512 for QA), capped by the model's positions
    doc_stride: int = 128
    max_query_length: int = 64
    max_answer_length: int = 30
    null_threshold: float = 0.0
    seeds: list[int] = field(default_factory=lambda: [1])
    metric: str | None = None  # selection metric; None: accuracy / pearson / f1
    device: str = "auto"
    precision: str = "auto"  # auto (bf16 on CUDA), bf16, fp32
    log_every: int = 20
    max_train_examples: int | None = None
    progress: bool = True

    def validate(self) -> None:
        checks = [
            ("epochs", self.epochs > 0),
            ("batch_size", self.batch_size > 0),
            ("eval_batch_size", self.eval_batch_size > 0),
            ("warmup_fraction", 0 <= self.warmup_fraction < 1),
            ("weight_decay", self.weight_decay >= 0),
            ("clip_norm", self.clip_norm >= 0),
            ("lr", self.lr is None or self.lr > 0),
            ("layer_decay", self.layer_decay is None or 0 < self.layer_decay <= 1),
            ("dropout", self.dropout is None or 0 <= self.dropout < 1),
            ("doc_stride", self.doc_stride > 0),
            ("max_query_length", self.max_query_length > 0),
            ("max_answer_length", self.max_answer_length > 0),
            ("seeds", len(self.seeds) > 0),
            ("precision", self.precision in ("auto", "bf16", "fp32")),
            ("log_every", self.log_every > 0),
            ("max_train_examples", self.max_train_examples is None or self.max_train_examples > 0),
        ]
        for name, ok in checks:
            if not ok:
                raise ElectraError(f"fine-tuning setting out of range: {name} = {getattr(self, name)!r}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ElectraError(f"seeds repeat: {self.seeds}")


@dataclass
class TaskData:
    """One split: its source, examples, model features and whether it carries labels."""

    source: str
    examples: list[Any]
    features: F.Features
    labelled: bool


@dataclass
class SeedResult:
    seed: int
    best_epoch: int
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


# ---------------------------------------------------------------------------------------------- helpers


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ElectraError(f"device {name!r} requested but CUDA is not available")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ElectraError(f"unknown device {name!r} (expected auto, cpu, cuda or cuda:N)") from None


def autocast(device: torch.device, precision: str):
    """bf16 autocast on CUDA (``auto`` or ``bf16``); float32 otherwise."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def hardware(device: torch.device) -> str:
    """A short description of the machine, for reports."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def _sorted_labels(values: set[str]) -> list[str]:
    """Numeric labels by value, others alphabetically (1 / positive / true after 0 / negative / false)."""
    try:
        return sorted(values, key=float)
    except ValueError:
        return sorted(values)


def collect_labels(task: str, train: TaskData) -> list[str]:
    """The label set of the training data (IOB2 tags: ``O``, then B-/I- per entity type); empty for
    regression and QA."""
    if task == CLASSIFICATION:
        return _sorted_labels({str(e.label) for e in train.examples})
    if task == TOKEN_CLASSIFICATION:  # B- and I- of every entity type seen, so I-X never goes missing
        kinds = {t[2:] for e in train.examples for t in e.tags if t != "O"}
        return ["O"] + [f"{p}-{k}" for k in sorted(kinds) for p in ("B", "I")]
    return []


def check_labels(task: str, data: TaskData, labels: Sequence[str], train_source: str) -> None:
    """Error naming the file and example when ``data`` uses a label the training data never showed."""
    if not data.labelled or task not in (CLASSIFICATION, TOKEN_CLASSIFICATION):
        return
    known = set(labels)
    for e in data.examples:
        found = [str(e.label)] if task == CLASSIFICATION else e.tags
        for lab in found:
            if lab not in known:
                raise ElectraError(
                    f"{e.source}: label {lab!r} does not occur in the training data {train_source} "
                    f"(known: {', '.join(labels[:12])}{'...' if len(labels) > 12 else ''})"
                )


def encode(
    task: str,
    examples: Sequence[Any],
    tokenizer: Tokenizer,
    special: dict[str, int],
    labels: Sequence[str],
    settings: dict[str, Any],
) -> F.Features:
    """Features of ``examples`` for ``task`` with the lengths in ``settings``."""
    ids = F.SpecialIds.from_dict(special)
    label_to_id = {lab: i for i, lab in enumerate(labels)}
    n = settings["max_length"]
    if task == CLASSIFICATION:
        return F.encode_text_examples(examples, tokenizer, ids, n, label_to_id)
    if task == REGRESSION:
        return F.encode_text_examples(examples, tokenizer, ids, n, None)
    if task == TOKEN_CLASSIFICATION:
        return F.encode_token_examples(examples, tokenizer, ids, n, label_to_id)
    return F.encode_qa_examples(
        examples, tokenizer, ids, n, settings["doc_stride"], settings["max_query_length"]
    )


def _warn(msg: str) -> None:
    tqdm.write(f"electra: {msg}", file=sys.stderr)


def load_split(source: str, spec: TaskSpec, role: str, require_labels: bool) -> tuple[TaskData, TaskSpec]:
    """Read one split (``role``: train, dev or test; features are added by ``_encode_split``)."""
    read = read_examples(source, spec, require_labels, default_split=HF_SPLITS.get(role))
    return TaskData(str(source), read.examples, F.Features(), read.labelled), read.spec


def _encode_split(
    data: TaskData,
    task: str,
    tokenizer: Tokenizer,
    special: dict[str, int],
    labels: Sequence[str],
    settings: dict[str, Any],
    role: str,
) -> None:
    data.features = encode(task, data.examples, tokenizer, special, labels, settings)
    if data.features.n_truncated:
        _warn(
            f"{data.features.n_truncated:,} of {len(data.examples):,} {role} examples in {data.source} were "
            "longer "
            f"than {settings['max_length']} tokens and were truncated (longest first)"
        )


# ---------------------------------------------------------------------------------------------- inference


@torch.no_grad()
def run_model(
    model: FinetuneModel,
    feats: F.Features,
    batch_size: int,
    pad_id: int,
    device: torch.device,
    precision: str = "auto",
) -> dict[str, list[np.ndarray]]:
    """Every output of the model for every feature row, in row order; per-token outputs trimmed to the
    row's length (padding dropped)."""
    was_training = model.training
    model.eval()
    per_sequence = model.task in (CLASSIFICATION, REGRESSION)
    outputs: dict[str, list[Any]] = {}
    for indices, batch in F.iter_batches(feats, batch_size, pad_id, shuffle=False):
        batch = {k: v.to(device) for k, v in batch.items()}
        with autocast(device, precision):
            out = model(batch)
        for key, value in out.items():
            rows = outputs.setdefault(key, [None] * len(feats))
            arr = value.float().cpu().numpy()
            for r, i in enumerate(indices):
                per_token = arr.ndim >= 2 and not per_sequence
                rows[i] = arr[r, : len(feats.input_ids[i])] if per_token else arr[r]
    model.train(was_training)
    return outputs


def predict_outputs(
    model: FinetuneModel,
    data: TaskData,
    labels: Sequence[str],
    settings: dict[str, Any],
    pad_id: int,
    device: torch.device,
    batch_size: int,
    precision: str = "auto",
) -> list[dict[str, Any]]:
    """One prediction record per example: ``prediction`` plus details (probabilities, scores)."""
    out = run_model(model, data.features, batch_size, pad_id, device, precision)
    task = model.task
    feats = data.features
    if task in (CLASSIFICATION, REGRESSION):
        records = [None] * len(data.examples)
        for row, ex in enumerate(feats.example_index):
            logits = out["logits"][row]
            if task == REGRESSION:
                records[ex] = {"prediction": float(logits[0])}
            else:
                p = np.exp(logits - logits.max())
                p = p / p.sum()
                records[ex] = {
                    "prediction": labels[int(p.argmax())],
                    "probabilities": {lab: float(v) for lab, v in zip(labels, p, strict=False)},
                }
        return records
    if task == TOKEN_CLASSIFICATION:
        tags: list[list[str]] = [["O"] * len(e.tokens) for e in data.examples]
        for row, ex in enumerate(feats.example_index):
            logits = out["logits"][row]
            for pos, word in feats.extra[row]["words"]:
                tags[ex][word] = labels[int(logits[pos].argmax())]
        return [{"prediction": t} for t in tags]
    preds = postprocess_qa(
        data.examples,
        feats,
        out["start_logits"],
        out["end_logits"],
        out.get("answerable_logit"),
        settings["max_answer_length"],
        settings["null_threshold"],
    )
    return [
        {"prediction": p.text, "score": p.score, "char_start": p.char_start, "null_logit": p.null_logit}
        for p in preds
    ]


def score(
    task: str, data: TaskData, records: Sequence[dict[str, Any]], labels: Sequence[str]
) -> dict[str, float]:
    """Metrics of ``records`` (from :func:`predict_outputs`) against the gold labels of ``data``."""
    preds = [r["prediction"] for r in records]
    if task == CLASSIFICATION:
        return M.classification_metrics([str(e.label) for e in data.examples], preds, labels)
    if task == REGRESSION:
        return M.regression_metrics([float(e.label) for e in data.examples], preds)
    if task == TOKEN_CLASSIFICATION:
        return M.entity_metrics([e.tags for e in data.examples], preds)
    return M.squad_metrics([[a for a, _ in e.answers] for e in data.examples], preds)


# ---------------------------------------------------------------------------------------------- training


def _resolve_data(cfg: FinetuneConfig) -> tuple[TaskSpec, dict[str, str]]:
    spec = cfg.task
    files = {"train": cfg.train_file, "dev": cfg.dev_file, "test": cfg.test_file}
    if cfg.dataset:
        from electra.data.task_catalogue import fetch_task, task_entry

        entry = task_entry(cfg.dataset)
        catalogue_spec = TaskSpec.from_dict(entry.spec)
        if spec.task != catalogue_spec.task and spec != TaskSpec():
            raise ElectraError(f"dataset '{cfg.dataset}' is a {catalogue_spec.task} task, not {spec.task}")
        spec = catalogue_spec
        fetched = fetch_task(cfg.dataset)
        files = {k: files[k] or str(v) for k, v in fetched.items()}
    if not files["train"]:
        raise ElectraError("no training data: give --data NAME or --train FILE")
    return spec, {k: v for k, v in files.items() if v}


def _settings(cfg: FinetuneConfig, base: BaseEncoder, task: str) -> dict[str, Any]:
    model_max = base.config.max_position_embeddings
    max_length = cfg.max_length or min(model_max, DEFAULT_MAX_LENGTH[task])
    if max_length > model_max:
        raise ElectraError(
            f"max_length {max_length} exceeds the model's maximum sequence length {model_max} "
            f"(max_position_embeddings of {base.path})"
        )
    if max_length < 8:
        raise ElectraError(f"max_length {max_length} is too short (at least 8)")
    return {
        "max_length": max_length,
        "doc_stride": cfg.doc_stride,
        "max_query_length": cfg.max_query_length,
        "max_answer_length": cfg.max_answer_length,
        "null_threshold": cfg.null_threshold,
    }


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _prepare_output(directory: Path, overwrite: bool) -> None:
    existing = checkpoint_dirs(directory)
    if existing and not overwrite:
        raise ElectraError(
            f"{directory} already holds a checkpoint ({existing[-1].name}); choose another "
            f"--output-dir or pass --overwrite"
        )
    if overwrite:
        import shutil

        for d in existing:
            shutil.rmtree(d)
        for name in ("metrics.jsonl", "curves.png", "result.json"):
            (directory / name).unlink(missing_ok=True)


def build_model(
    base: BaseEncoder, task: str, num_labels: int, version2: bool, dropout: float | None, random_init: bool
) -> FinetuneModel:
    """The fine-tuning model: the base encoder's weights (unless ``random_init``) plus a fresh head."""
    config = base.config
    if dropout is not None:
        config = dataclasses.replace(config, dropout=dropout, attention_dropout=dropout)
    model = FinetuneModel(config, task, max(1, num_labels), version2)
    if not random_init:
        if base.state is None:
            raise ElectraError(f"{base.path}: no encoder weights loaded (was it loaded with random_init?)")
        model.encoder.load_state_dict(base.state)
    return model


def train_one_seed(
    cfg: FinetuneConfig,
    seed: int,
    base: BaseEncoder,
    spec: TaskSpec,
    labels: list[str],
    splits: dict[str, TaskData],
    settings: dict[str, Any],
    out: Path,
    meta: dict[str, Any],
    device: torch.device,
) -> SeedResult:
    """Fine-tune once with ``seed``; keep the best dev checkpoint in ``out``; evaluate it on test."""
    started = time.time()
    _seed_everything(seed)
    task = spec.task
    version2 = spec.squad_version == "2"
    model = build_model(base, task, len(labels), version2, cfg.dropout, cfg.random_init).to(device)
    num_layers = model.config.num_layers
    lr = cfg.lr or default_lr(model.config)
    decay = cfg.layer_decay or default_layer_decay(model.config)
    optimizer = build_optimizer(model, num_layers, decay, cfg.weight_decay, eps=cfg.adam_eps)
    train = splits["train"]
    pad = base.special_ids["pad"]
    per_epoch = math.ceil(len(train.features) / cfg.batch_size)
    total = max(1, math.ceil(cfg.epochs * per_epoch))
    warmup = int(cfg.warmup_fraction * total)
    metric = cfg.metric or M.DEFAULT_METRIC[task]
    lower_is_better = metric in ("mse",)

    logger = MetricsLogger(out, tensorboard=False)
    bar = tqdm(
        total=total,
        disable=not cfg.progress,
        unit="step",
        dynamic_ncols=True,
        desc=f"seed {seed}",
        leave=False,
    )
    step, epoch = 0, 0
    best_value, best_epoch, best_dev, best_state = None, 0, {}, None
    checkpoint: Path | None = None
    recent: list[float] = []
    model.train()
    while step < total:
        epoch += 1
        batches = F.iter_batches(train.features, cfg.batch_size, pad, seed=seed * 1000 + epoch, shuffle=True)
        for _, batch in batches:
            if step >= total:
                break
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            head_lr = set_learning_rates(optimizer, step, lr, warmup, total, cfg.bias_correction)
            with autocast(device, cfg.precision):
                out_ = model(batch)
            loss = model.loss(out_, batch)
            if not torch.isfinite(loss):
                raise ElectraError(f"seed {seed}: the loss became {loss.item()} at step {step}; lower --lr")
            loss.backward()
            if cfg.clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            recent.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{recent[-1]:.4f}", epoch=epoch)
            end_of_epoch = step >= total or step % per_epoch == 0
            if step % cfg.log_every == 0 and not end_of_epoch:
                logger.log(step, {"loss": sum(recent) / len(recent), "lr": head_lr, "epoch": epoch})
                recent = []
        row: dict[str, Any] = {"epoch": epoch, "lr": head_lr}
        if recent:
            row["loss"] = sum(recent) / len(recent)
            recent = []
        dev = splits.get("dev")
        dev_metrics: dict[str, float] = {}
        if dev is not None:
            records = predict_outputs(
                model, dev, labels, settings, pad, device, cfg.eval_batch_size, cfg.precision
            )
            dev_metrics = score(task, dev, records, labels)
            if metric not in dev_metrics:
                raise ElectraError(
                    f"unknown metric {metric!r} for {task}; choose from {', '.join(dev_metrics)}"
                )
            row.update({f"dev_{k}": v for k, v in dev_metrics.items()})
            value = dev_metrics[metric]
            improved = best_value is None or (value < best_value if lower_is_better else value > best_value)
            shown = ", ".join(f"{k} {v:.4f}" for k, v in dev_metrics.items())
            if cfg.progress:
                tqdm.write(f"seed {seed} epoch {epoch} (step {step}): dev {shown}")
        else:
            improved, value = True, None
        logger.log(step, row)
        if improved:
            best_value, best_epoch, best_dev = value, epoch, dev_metrics
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            seed_meta = {**meta, "seed": seed, "epoch": epoch, "dev_metrics": dev_metrics}
            checkpoint = save_checkpoint(out, step, model, seed_meta, base.tokenizer_files, keep=1)
    bar.close()
    logger.close()
    plot_curves(
        out / "metrics.jsonl", out / "curves.png", ("loss", f"dev_{metric}"), title=f"{task}, seed {seed}"
    )
    if best_state is not None:
        model.load_state_dict(best_state)
    test_metrics: dict[str, float] = {}
    test = splits.get("test")
    if test is not None and test.labelled:
        records = predict_outputs(
            model, test, labels, settings, pad, device, cfg.eval_batch_size, cfg.precision
        )
        test_metrics = score(task, test, records, labels)
    result = SeedResult(
        seed,
        best_epoch,
        best_dev,
        test_metrics,
        str(checkpoint) if checkpoint else None,
        round(time.time() - started, 2),
        step,
    )
    (out / "result.json").write_text(json.dumps(dataclasses.asdict(result), indent=2))
    return result


def aggregate(results: Sequence[SeedResult]) -> dict[str, dict[str, float]]:
    """Median, min, max and (population) standard deviation of every dev_ / test_ metric over seeds."""
    values: dict[str, list[float]] = {}
    for r in results:
        for prefix, metrics in (("dev", r.dev), ("test", r.test)):
            for k, v in metrics.items():
                values.setdefault(f"{prefix}_{k}", []).append(float(v))
    return {
        k: {
            "median": statistics.median(v),
            "min": min(v),
            "max": max(v),
            "std": statistics.pstdev(v),
            "n": len(v),
        }
        for k, v in values.items()
    }


def finetune(cfg: FinetuneConfig) -> FinetuneSummary:
    """Fine-tune ``cfg.model`` on the task once per seed; write ``summary.json`` in ``cfg.output_dir``.

    Each seed's run goes to ``<output_dir>/seed-<seed>/``: the best checkpoint (``checkpoint-*``),
    ``metrics.jsonl``, ``curves.png`` and ``result.json``.
    """
    cfg.validate()
    started = time.time()
    known = M.METRICS.get(cfg.task.task, ())
    if cfg.metric and not cfg.dataset and cfg.metric not in known:
        raise ElectraError(
            f"unknown metric {cfg.metric!r} for {cfg.task.task}; choose from {', '.join(known)}"
        )
    device = resolve_device(cfg.device)
    base = load_base_encoder(cfg.model, random_init=cfg.random_init)  # before any download
    spec, files = _resolve_data(cfg)
    settings = _settings(cfg, base, spec.task)
    M.require_metric_packages(spec.task)

    splits: dict[str, TaskData] = {}
    train, spec = load_split(files["train"], spec, "train", True)
    if cfg.max_train_examples:
        train.examples = train.examples[: cfg.max_train_examples]
    splits["train"] = train
    for role in ("dev", "test"):
        if role in files:
            splits[role], _ = load_split(files[role], spec, role, True)
    labels = collect_labels(spec.task, train)
    if spec.task == CLASSIFICATION and len(labels) < 2:
        raise ElectraError(f"{train.source}: classification needs at least two labels, found {labels}")
    for role in ("dev", "test"):
        if role in splits:
            check_labels(spec.task, splits[role], labels, train.source)
    for role, data in splits.items():
        _encode_split(data, spec.task, base.tokenizer, base.special_ids, labels, settings, role)

    device_name = hardware(device)
    if cfg.progress:
        tqdm.write(
            f"electra: fine-tuning {base.path} ({'random init' if cfg.random_init else 'pretrained'}) "
            f"for {spec.task} on {device_name}; {len(train.examples):,} training examples "
            f"({len(train.features):,} sequences), seeds {cfg.seeds}"
        )
    meta = {
        "kind": FINETUNED,
        "config": base.meta.get("config"),
        "vocab_size": base.config.vocab_size,
        "special_ids": base.special_ids,
        "encoder": base.config.to_dict(),
        "task": spec.to_dict(),
        "labels": labels,
        "version2": spec.squad_version == "2",
        "settings": settings,
        "base_model": str(base.path),
        "random_init": cfg.random_init,
        "data": {"dataset": cfg.dataset, **files},
    }
    out = Path(cfg.output_dir)
    results = []
    for seed in cfg.seeds:
        seed_dir = out / f"seed-{seed}"
        _prepare_output(seed_dir, cfg.overwrite)
        results.append(
            train_one_seed(cfg, seed, base, spec, labels, splits, settings, seed_dir, meta, device)
        )
    metric = cfg.metric or M.DEFAULT_METRIC[spec.task]
    info = {
        "task": spec.task,
        "model": str(base.path),
        "random_init": cfg.random_init,
        "data": meta["data"],
        "hardware": device_name,
        "wall_s": round(time.time() - started, 2),
        "lr": cfg.lr or default_lr(base.config),
        "layer_decay": cfg.layer_decay or default_layer_decay(base.config),
        "epochs": cfg.epochs,
        "batch_size": cfg.batch_size,
        "settings": settings,
        "train_examples": len(train.examples),
    }
    summary = FinetuneSummary(str(out), metric, results, aggregate(results), info)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary.to_dict(), indent=2))
    return summary


def format_summary(summary: FinetuneSummary) -> str:
    """A short human-readable report: one line per seed, then median and spread."""
    lines = []
    for r in summary.seeds:
        dev = ", ".join(f"{k} {v:.4f}" for k, v in r.dev.items())
        test = ", ".join(f"{k} {v:.4f}" for k, v in r.test.items())
        lines.append(
            f"seed {r.seed}: best epoch {r.best_epoch}; dev {dev or '-'}; test {test or '-'} "
            f"({r.wall_s:.0f} s)"
        )
    for key, a in summary.aggregate.items():
        lines.append(
            f"{key}: median {a['median']:.4f} (min {a['min']:.4f}, max {a['max']:.4f}, "
            f"std {a['std']:.4f}, {int(a['n'])} seed{'s' if a['n'] != 1 else ''})"
        )
    lines.append(
        f"summary: {Path(summary.output_dir) / 'summary.json'} ({summary.info['hardware']}, "
        f"{summary.info['wall_s']:.0f} s)"
    )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ evaluate / predict


def _load_for_inference(checkpoint: Path | str | Finetuned, device: str) -> tuple[Finetuned, torch.device]:
    dev = resolve_device(device)
    ft = checkpoint if isinstance(checkpoint, Finetuned) else load_finetuned(checkpoint, dev)
    ft.model.to(dev)
    return ft, dev


def _source_for(ft: Finetuned, source: str | None, split: str | None) -> str:
    if source:
        return source
    data = ft.meta.get("data", {})
    split = split or "dev"
    if data.get("dataset"):
        from electra.data.task_catalogue import fetch_task

        return str(fetch_task(data["dataset"])[split])
    if data.get(split):
        return str(data[split])
    raise ElectraError(
        f"no data file: give one, or a split of "
        f"{', '.join(k for k in ('train', 'dev', 'test') if data.get(k))}"
    )


def evaluate(
    checkpoint: Path | str | Finetuned,
    source: str | None = None,
    split: str | None = None,
    spec_overrides: dict[str, Any] | None = None,
    batch_size: int = 64,
    device: str = "auto",
    precision: str = "auto",
) -> dict[str, float]:
    """Metrics of a fine-tuned checkpoint on a labelled file (default: the dev split it was trained with)."""
    ft, dev = _load_for_inference(checkpoint, device)
    src = _source_for(ft, source, split)
    spec = dataclasses.replace(ft.spec, **(spec_overrides or {}))
    if spec.task == TOKEN_CLASSIFICATION and not (spec_overrides or {}).get("tag_scheme"):
        spec = dataclasses.replace(spec, tag_scheme="auto")
    M.require_metric_packages(spec.task)
    data, _ = load_split(src, spec, split or "dev", True)
    check_labels(spec.task, data, ft.labels, str(ft.meta.get("data", {}).get("train", "the training data")))
    _encode_split(
        data, spec.task, ft.tokenizer, ft.special_ids, ft.labels, ft.settings, split or "evaluation"
    )
    records = predict_outputs(
        ft.model, data, ft.labels, ft.settings, ft.special_ids["pad"], dev, batch_size, precision
    )
    return score(spec.task, data, records, ft.labels)


def predict(
    checkpoint: Path | str | Finetuned,
    source: str,
    output: Path | str | None = None,
    spec_overrides: dict[str, Any] | None = None,
    batch_size: int = 64,
    device: str = "auto",
    precision: str = "auto",
) -> list[dict[str, Any]]:
    """Predictions of a fine-tuned checkpoint for every example of ``source`` (labels not needed).

    With ``output`` they are written as JSONL (``.jsonl``), CSV (``.csv``), or for QA also the official
    SQuAD ``{id: answer}`` JSON (``.json``); for token classification also CoNLL columns
    (``.conll`` / ``.txt``).
    Token tags are written in the tag scheme of the input file (IOB2 when it has no tags).
    """
    ft, dev = _load_for_inference(checkpoint, device)
    spec = dataclasses.replace(ft.spec, **(spec_overrides or {}))
    if spec.task == TOKEN_CLASSIFICATION and not (spec_overrides or {}).get("tag_scheme"):
        spec = dataclasses.replace(spec, tag_scheme="auto")
    data, spec = load_split(source, spec, "test", False)
    if spec.task == TOKEN_CLASSIFICATION and spec.tag_scheme == "auto":  # untagged input: the training scheme
        spec = dataclasses.replace(spec, tag_scheme=ft.spec.tag_scheme)
    _encode_split(data, spec.task, ft.tokenizer, ft.special_ids, ft.labels, ft.settings, "input")
    records = predict_outputs(
        ft.model, data, ft.labels, ft.settings, ft.special_ids["pad"], dev, batch_size, precision
    )
    rows = prediction_rows(spec, data, records)
    if output is not None:
        write_predictions(Path(output), spec, rows)
    return rows


def prediction_rows(
    spec: TaskSpec, data: TaskData, records: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Output rows: the input (row, sentence or question) with the prediction added."""
    rows = []
    scheme = spec.tag_scheme if spec.tag_scheme in schemes.SCHEMES else "iob2"
    for ex, rec in zip(data.examples, records, strict=False):
        if spec.task in (CLASSIFICATION, REGRESSION):
            rows.append({**ex.raw, **rec})
        elif spec.task == TOKEN_CLASSIFICATION:
            row: dict[str, Any] = {
                "tokens": ex.tokens,
                "prediction": schemes.from_iob2(rec["prediction"], scheme),
            }
            if ex.tags is not None:
                row["gold"] = schemes.from_iob2(ex.tags, scheme)
            rows.append(row)
        else:
            rows.append({"id": ex.qid, "question": ex.question, **rec})
    return rows


def write_predictions(path: Path, spec: TaskSpec, rows: Sequence[dict[str, Any]]) -> None:
    """Write ``rows`` as JSONL, CSV, SQuAD JSON (QA) or CoNLL columns (token classification), by suffix."""
    import csv
    import os
    import tempfile

    suffix = path.suffix.lower()
    allowed = (
        {".jsonl", ".csv"}
        | ({".json"} if spec.task == QA else set())
        | ({".conll", ".txt"} if spec.task == TOKEN_CLASSIFICATION else set())
    )
    if suffix not in allowed:
        raise ElectraError(f"cannot write predictions to {path}: use one of {', '.join(sorted(allowed))}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            if suffix == ".jsonl":
                for row in rows:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
            elif suffix == ".json":
                json.dump({r["id"]: r["prediction"] for r in rows}, f, ensure_ascii=False, indent=1)
            elif suffix in (".conll", ".txt"):
                for row in rows:
                    for i, token in enumerate(row["tokens"]):
                        cols = [token] + ([row["gold"][i]] if "gold" in row else []) + [row["prediction"][i]]
                        f.write(" ".join(cols) + "\n")
                    f.write("\n")
            elif spec.task == TOKEN_CLASSIFICATION:
                w = csv.writer(f)
                has_gold = any("gold" in r for r in rows)
                w.writerow(["sentence", "index", "token", *(["gold"] if has_gold else []), "prediction"])
                for s, row in enumerate(rows):
                    for i, token in enumerate(row["tokens"]):
                        gold = [row["gold"][i]] if has_gold else []
                        w.writerow([s, i, token, *gold, row["prediction"][i]])
            else:
                flat = [_flatten(r) for r in rows]
                names: list[str] = []
                for r in flat:
                    names += [k for k in r if k not in names]
                w = csv.DictWriter(f, fieldnames=names)
                w.writeheader()
                w.writerows(flat)
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise ElectraError(f"could not write {path}: {e.strerror or e}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _flatten(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, dict):
            out.update({f"{k}_{kk}": vv for kk, vv in v.items()})
        elif isinstance(v, list):
            out[k] = json.dumps(v, ensure_ascii=False)
        else:
            out[k] = v
    return out
