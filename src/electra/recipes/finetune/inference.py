"""A fine-tuned model on data: outputs, predictions and metrics; ``evaluate`` and ``predict``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from electra.core.atomic import atomic_file, check_writable
from electra.core.errors import ElectraError
from electra.core.runtime import autocast, resolve_device
from electra.models import TaskModel
from electra.recipes.finetune import features as feat
from electra.recipes.finetune.loading import Finetuned, load_finetuned
from electra.recipes.finetune.spec import TaskSpec
from electra.recipes.finetune.splits import encode_split, load_split
from electra.recipes.finetune.tasks import Task, TaskData, require_metric_packages, task_for

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "span_mask")


def model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The entries of a batch the model takes (the rest are targets)."""
    return {k: batch[k] for k in MODEL_INPUTS if k in batch}


@torch.no_grad()
def run_model(model: TaskModel, feats: feat.Features, batch_size: int, pad_id: int, device: torch.device,
              precision: str = "auto", per_sequence: bool = False) -> dict[str, list[np.ndarray]]:  # fmt: skip
    """Every output of the model for every feature row, in row order; per-token outputs (unless
    ``per_sequence``) trimmed to the row's length (padding dropped)."""
    was_training = model.training
    model.eval()
    outputs: dict[str, list[Any]] = {}
    for indices, batch in feat.iter_batches(feats, batch_size, pad_id, shuffle=False):
        batch = {k: v.to(device) for k, v in batch.items()}
        with autocast(device, precision):
            out = model(**model_inputs(batch))
        for key, value in out.items():
            rows = outputs.setdefault(key, [None] * len(feats))
            arr = value.float().cpu().numpy()
            for r, i in enumerate(indices):
                per_token = arr.ndim >= 2 and not per_sequence
                rows[i] = arr[r, : len(feats.input_ids[i])] if per_token else arr[r]
    model.train(was_training)
    return outputs


def predict_records(
    task: Task,
    model: TaskModel,
    data: TaskData,
    labels: Sequence[str],
    settings: dict[str, Any],
    pad_id: int,
    device: torch.device,
    batch_size: int,
    precision: str = "auto",
) -> list[dict]:
    """One prediction record per example of ``data`` (see :meth:`Task.records`)."""
    outputs = run_model(model, data.features, batch_size, pad_id, device, precision, task.per_sequence)
    return task.records(outputs, data, labels, settings)


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
        f"no data file: give one, or a split of {', '.join(k for k in ('train', 'dev', 'test') if data.get(k))}"
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
    task = task_for(ft.spec)
    reading = task_for(task.input_spec(spec_overrides or {}))
    require_metric_packages(reading)
    data, _ = load_split(reading, src, split or "dev", True)
    reading.check_labels(data, ft.labels, str(ft.meta.get("data", {}).get("train", "the training data")))
    encode_split(reading, data, ft.tokenizer, ft.special_ids, ft.labels, ft.settings, split or "evaluation")
    records = predict_records(reading, ft.model, data, ft.labels, ft.settings, ft.special_ids["pad"], dev, batch_size,
                              precision)  # fmt: skip
    return reading.score(data, records, ft.labels)


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
    (``.conll`` / ``.txt``). Token tags are written in the tag scheme of the input file (IOB2 when it has no
    tags)."""
    if output is not None:
        check_writable(Path(output), "predictions", directory=False)
    ft, dev = _load_for_inference(checkpoint, device)
    trained = task_for(ft.spec)
    reading = task_for(trained.input_spec(spec_overrides or {}))
    data, read_spec = load_split(reading, source, "test", False)
    spec = trained.output_spec(read_spec)
    encode_split(reading, data, ft.tokenizer, ft.special_ids, ft.labels, ft.settings, "input")
    records = predict_records(reading, ft.model, data, ft.labels, ft.settings, ft.special_ids["pad"], dev, batch_size,
                              precision)  # fmt: skip
    rows = reading.prediction_rows(data, records, spec)
    if output is not None:
        write_predictions(Path(output), reading, rows)
    return rows


def write_predictions(path: Path, task: Task, rows: Sequence[dict[str, Any]]) -> None:
    """Write ``rows`` in the format of ``path``'s suffix (see :attr:`Task.prediction_suffixes`), atomically."""
    suffix = path.suffix.lower()
    if suffix not in task.prediction_suffixes:
        allowed = ", ".join(sorted(task.prediction_suffixes))
        raise ElectraError(f"cannot write predictions to {path}: use one of {allowed}")
    with atomic_file(path, newline="") as f:
        task.write_rows(f, suffix, rows)


__all__ = ["TaskSpec", "evaluate", "predict", "predict_records", "run_model", "write_predictions"]
