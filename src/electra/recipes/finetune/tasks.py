"""The fine-tuning tasks as classes: each knows its reading, labels, features, head, loss, post-processing,
scoring and prediction files.

:func:`task_for` gives the class for a :class:`~electra.recipes.finetune.spec.TaskSpec`. A new task is a
new subclass here (and, when it needs one, a head in :mod:`electra.models.heads`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import IO, Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from electra.core.errors import ElectraError
from electra.models import EncoderConfig, TaskModelConfig
from electra.recipes.finetune import features as feat
from electra.recipes.finetune import metrics as M
from electra.recipes.finetune import readers, schemes
from electra.recipes.finetune.qa import postprocess_qa
from electra.recipes.finetune.spec import CLASSIFICATION, QA, REGRESSION, TOKEN_CLASSIFICATION, TaskSpec

Outputs = dict[str, list[np.ndarray]]  # per model output, one array per feature row (padding trimmed)


@dataclass
class TaskData:
    """One split: its source, examples, model features and whether it carries labels."""

    source: str
    examples: list[Any]
    features: feat.Features
    labelled: bool


def _sorted_labels(values: set[str]) -> list[str]:
    """Numeric labels by value, others alphabetically (1 / positive / true after 0 / negative / false)."""
    try:
        return sorted(values, key=float)
    except ValueError:
        return sorted(values)


class Task:
    """A kind of fine-tuning task; subclasses fill in the class attributes and the task-specific methods."""

    name: ClassVar[str]
    head: ClassVar[str]  # the head of :class:`~electra.models.TaskModel` (see TaskModelConfig)
    metrics: ClassVar[tuple[str, ...]]  # what the task reports
    default_metric: ClassVar[str]  # what selects the best epoch unless --metric says otherwise
    metric_packages: ClassVar[dict[str, str]] = {}  # module -> pip name, needed by the metrics
    default_max_length: ClassVar[int] = 128
    per_sequence: ClassVar[bool] = False  # one output per sequence (not per token)
    prediction_suffixes: ClassVar[tuple[str, ...]] = (".jsonl", ".csv")

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec

    # reading and labels ----------------------------------------------------------------------------

    def read(self, source: str, require_labels: bool, default_split: str | None) -> readers.ReadResult:
        """The examples of ``source`` (``default_split``: a Hugging Face dataset's split)."""
        raise NotImplementedError

    def labels(self, train: TaskData) -> list[str]:
        """The label set of the training data (empty when the task has none)."""
        return []

    def example_labels(self, example: Any) -> list[str]:
        """The labels one example uses (checked against the training label set)."""
        return []

    def check_labels(self, data: TaskData, labels: Sequence[str], train_source: str) -> None:
        """Error naming the file and example when ``data`` uses a label the training data never showed."""
        if not data.labelled or not labels:
            return
        known = set(labels)
        for e in data.examples:
            for lab in self.example_labels(e):
                if lab not in known:
                    raise ElectraError(
                        f"{e.source}: label {lab!r} does not occur in the training data {train_source} "
                        f"(known: {', '.join(labels[:12])}{'...' if len(labels) > 12 else ''})"
                    )

    def input_spec(self, overrides: dict[str, Any]) -> TaskSpec:
        """How to read new input (evaluate / predict): the trained spec with ``overrides``."""
        return replace(self.spec, **overrides)

    def output_spec(self, read_spec: TaskSpec) -> TaskSpec:
        """The spec predictions are written with, given the spec the input was read with."""
        return read_spec

    # model -----------------------------------------------------------------------------------------

    def model_config(
        self, encoder: EncoderConfig, labels: Sequence[str], dropout: float | None = None,
        settings: dict[str, Any] | None = None,
    ) -> TaskModelConfig:
        """The :class:`~electra.models.TaskModel` for this task on ``encoder`` (``dropout`` overrides the
        encoder's and the head's; ``settings`` are the run's, see ``settings_for``)."""
        if dropout is not None:
            encoder = replace(encoder, dropout=dropout, attention_dropout=dropout)
        return TaskModelConfig(encoder, self.head, max(1, len(labels)), self.spec.squad_version == "2")

    def teacher_inputs(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Targets the model itself takes in training (a joint span head's gold starts); none by default."""
        return {}

    def encode(self, examples: Sequence[Any], tokenizer: Tokenizer, special: feat.SpecialIds,
               labels: Sequence[str], settings: dict[str, Any]) -> feat.Features:  # fmt: skip
        """Model features of ``examples`` with the lengths in ``settings``."""
        raise NotImplementedError

    def loss(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The training loss (float32) of the model's ``outputs`` against the batch's targets."""
        raise NotImplementedError

    # predictions -----------------------------------------------------------------------------------

    def records(self, outputs: Outputs, data: TaskData, labels: Sequence[str], settings: dict[str, Any]) -> list[dict]:
        """One prediction record per example: ``prediction`` plus details (probabilities, scores)."""
        raise NotImplementedError

    def score(self, data: TaskData, records: Sequence[dict[str, Any]], labels: Sequence[str]) -> dict[str, float]:
        """Metrics of ``records`` against the gold labels of ``data``."""
        raise NotImplementedError

    def prediction_rows(self, data: TaskData, records: Sequence[dict[str, Any]], spec: TaskSpec) -> list[dict]:
        """Output rows: the input row with the prediction added."""
        return [{**ex.raw, **rec} for ex, rec in zip(data.examples, records, strict=True)]

    def write_rows(self, f: IO[str], suffix: str, rows: Sequence[dict[str, Any]]) -> None:
        """Write ``rows`` in the format of ``suffix`` (one of :attr:`prediction_suffixes`)."""
        if suffix == ".jsonl":
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
            return
        flat = [_flatten(r) for r in rows]
        names: list[str] = []
        for r in flat:
            names += [k for k in r if k not in names]
        w = csv.DictWriter(f, fieldnames=names)
        w.writeheader()
        w.writerows(flat)


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


class Classification(Task):
    """Sequence (or sequence-pair) classification: cross-entropy on the [CLS] vector."""

    name = CLASSIFICATION
    head = "sequence"
    metrics = ("accuracy", "f1", "mcc")
    default_metric = "accuracy"
    metric_packages = {"sklearn": "scikit-learn"}
    per_sequence = True

    def read(self, source: str, require_labels: bool, default_split: str | None) -> readers.ReadResult:
        return readers.read_text_examples(source, self.spec, require_labels, default_split)

    def labels(self, train: TaskData) -> list[str]:
        labels = _sorted_labels({str(e.label) for e in train.examples})
        if len(labels) < 2:
            raise ElectraError(f"{train.source}: classification needs at least two labels, found {labels}")
        return labels

    def example_labels(self, example: Any) -> list[str]:
        return [str(example.label)]

    def encode(self, examples, tokenizer, special, labels, settings) -> feat.Features:
        label_to_id = {lab: i for i, lab in enumerate(labels)}
        return feat.encode_text_examples(examples, tokenizer, special, settings["max_length"], label_to_id)

    def loss(self, outputs, batch) -> torch.Tensor:
        return F.cross_entropy(outputs["logits"].float(), batch["labels"])

    def records(self, outputs, data, labels, settings) -> list[dict]:
        records: list[dict] = [{}] * len(data.examples)
        for row, ex in enumerate(data.features.example_index):
            logits = outputs["logits"][row]
            p = np.exp(logits - logits.max())
            p = p / p.sum()
            records[ex] = {"prediction": labels[int(p.argmax())],
                           "probabilities": {lab: float(v) for lab, v in zip(labels, p, strict=True)}}  # fmt: skip
        return records

    def score(self, data, records, labels) -> dict[str, float]:
        gold = [str(e.label) for e in data.examples]
        return M.classification_metrics(gold, [r["prediction"] for r in records], labels)


class Regression(Classification):
    """Sequence regression: squared error of one output on the [CLS] vector; Pearson selects."""

    name = REGRESSION
    metrics = ("pearson", "spearman", "mse")
    default_metric = "pearson"
    metric_packages = {"scipy": "scipy"}

    def read(self, source: str, require_labels: bool, default_split: str | None) -> readers.ReadResult:
        return readers.read_text_examples(source, self.spec, require_labels, default_split, numeric_labels=True)

    def labels(self, train: TaskData) -> list[str]:
        return []

    def example_labels(self, example: Any) -> list[str]:
        return []

    def encode(self, examples, tokenizer, special, labels, settings) -> feat.Features:
        return feat.encode_text_examples(examples, tokenizer, special, settings["max_length"], None)

    def loss(self, outputs, batch) -> torch.Tensor:
        return F.mse_loss(outputs["logits"].float().squeeze(-1), batch["labels"].float())

    def records(self, outputs, data, labels, settings) -> list[dict]:
        records: list[dict] = [{}] * len(data.examples)
        for row, ex in enumerate(data.features.example_index):
            records[ex] = {"prediction": float(outputs["logits"][row][0])}
        return records

    def score(self, data, records, labels) -> dict[str, float]:
        return M.regression_metrics([float(e.label) for e in data.examples], [r["prediction"] for r in records])


class TokenClassification(Task):
    """Named entities (token tagging): cross-entropy per word's first piece; entity F1 (seqeval) selects."""

    name = TOKEN_CLASSIFICATION
    head = "token"
    metrics = ("f1", "precision", "recall", "accuracy")
    default_metric = "f1"
    metric_packages = {"seqeval": "seqeval"}
    prediction_suffixes = (".jsonl", ".csv", ".conll", ".txt")

    def read(self, source: str, require_labels: bool, default_split: str | None) -> readers.ReadResult:
        return readers.read_conll(source, self.spec, require_labels)

    def labels(self, train: TaskData) -> list[str]:
        """IOB2 tags: ``O``, then B- and I- of every entity type seen (so I-X never goes missing)."""
        kinds = {t[2:] for e in train.examples for t in e.tags if t != "O"}
        return ["O"] + [f"{p}-{k}" for k in sorted(kinds) for p in ("B", "I")]

    def example_labels(self, example: Any) -> list[str]:
        return list(example.tags)

    def input_spec(self, overrides: dict[str, Any]) -> TaskSpec:
        spec = super().input_spec(overrides)
        return spec if overrides.get("tag_scheme") else replace(spec, tag_scheme="auto")

    def output_spec(self, read_spec: TaskSpec) -> TaskSpec:
        if read_spec.tag_scheme == "auto":  # untagged input: the training scheme
            return replace(read_spec, tag_scheme=self.spec.tag_scheme)
        return read_spec

    def encode(self, examples, tokenizer, special, labels, settings) -> feat.Features:
        label_to_id = {lab: i for i, lab in enumerate(labels)}
        return feat.encode_token_examples(examples, tokenizer, special, settings["max_length"], label_to_id)

    def loss(self, outputs, batch) -> torch.Tensor:
        logits = outputs["logits"].float()
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch["labels"].reshape(-1),
                               ignore_index=feat.IGNORE_INDEX)  # fmt: skip

    def records(self, outputs, data, labels, settings) -> list[dict]:
        tags: list[list[str]] = [["O"] * len(e.tokens) for e in data.examples]
        for row, ex in enumerate(data.features.example_index):
            logits = outputs["logits"][row]
            for pos, word in data.features.extra[row]["words"]:
                tags[ex][word] = labels[int(logits[pos].argmax())]
        return [{"prediction": t} for t in tags]

    def score(self, data, records, labels) -> dict[str, float]:
        return M.entity_metrics([e.tags for e in data.examples], [r["prediction"] for r in records])

    def prediction_rows(self, data, records, spec) -> list[dict]:
        scheme = spec.tag_scheme if spec.tag_scheme in schemes.SCHEMES else "iob2"
        rows = []
        for ex, rec in zip(data.examples, records, strict=True):
            row: dict[str, Any] = {"tokens": ex.tokens, "prediction": schemes.from_iob2(rec["prediction"], scheme)}
            if ex.tags is not None:
                row["gold"] = schemes.from_iob2(ex.tags, scheme)
            rows.append(row)
        return rows

    def write_rows(self, f: IO[str], suffix: str, rows: Sequence[dict[str, Any]]) -> None:
        if suffix == ".jsonl":
            return super().write_rows(f, suffix, rows)
        if suffix in (".conll", ".txt"):
            for row in rows:
                for i, token in enumerate(row["tokens"]):
                    cols = [token] + ([row["gold"][i]] if "gold" in row else []) + [row["prediction"][i]]
                    f.write(" ".join(cols) + "\n")
                f.write("\n")
            return
        w = csv.writer(f)
        has_gold = any("gold" in r for r in rows)
        w.writerow(["sentence", "index", "token", *(["gold"] if has_gold else []), "prediction"])
        for s, row in enumerate(rows):
            for i, token in enumerate(row["tokens"]):
                w.writerow([s, i, token, *([row["gold"][i]] if has_gold else []), row["prediction"][i]])


class QuestionAnswering(Task):
    """Extractive QA (SQuAD v1.1 / v2.0): start / end cross-entropy (+ answerability for 2.0); F1 selects."""

    name = QA
    head = "span"
    metrics = ("exact_match", "f1")
    default_metric = "f1"
    default_max_length = 512
    prediction_suffixes = (".jsonl", ".csv", ".json")

    def read(self, source: str, require_labels: bool, default_split: str | None) -> readers.ReadResult:
        return readers.read_squad(source, self.spec, require_labels)

    def model_config(self, encoder: EncoderConfig, labels: Sequence[str], dropout: float | None = None,
                     settings: dict[str, Any] | None = None) -> TaskModelConfig:  # fmt: skip
        """A span head; ``settings["qa_head"] == "official"``: the official ELECTRA head (the end conditioned
        on the start, answerability for every QA task), else BERT's (answerability for SQuAD 2.0)."""
        config = super().model_config(encoder, labels, dropout, settings)
        if (settings or {}).get("qa_head") == "official":
            config = replace(config, joint_span=True, answerability=True)
        return config

    def teacher_inputs(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"start_positions": batch["start_positions"]}

    def encode(self, examples, tokenizer, special, labels, settings) -> feat.Features:
        return feat.encode_qa_examples(examples, tokenizer, special, settings["max_length"], settings["doc_stride"],
                                       settings["max_query_length"])  # fmt: skip

    def loss(self, outputs, batch) -> torch.Tensor:
        loss = (F.cross_entropy(outputs["start_logits"], batch["start_positions"])
                + F.cross_entropy(outputs["end_logits"], batch["end_positions"])) / 2  # fmt: skip
        if "answerable_logit" in outputs:
            loss = loss + 0.5 * F.binary_cross_entropy_with_logits(outputs["answerable_logit"], batch["is_impossible"])
        return loss

    def records(self, outputs, data, labels, settings) -> list[dict]:
        # the official head judges answerability for SQuAD 1.1 too (it trains on windows without the answer),
        # but SQuAD 1.1 questions always have one: only 2.0 may answer "no answer"
        null = outputs.get("answerable_logit") if self.spec.squad_version == "2" else None
        preds = postprocess_qa(data.examples, data.features, outputs, None, null, settings["max_answer_length"],
                               settings["null_threshold"])  # fmt: skip
        return [{"prediction": p.text, "score": p.score, "char_start": p.char_start, "null_logit": p.null_logit}
                for p in preds]  # fmt: skip

    def score(self, data, records, labels) -> dict[str, float]:
        gold = [[a for a, _ in e.answers] for e in data.examples]
        return M.squad_metrics(gold, [r["prediction"] for r in records])

    def prediction_rows(self, data, records, spec) -> list[dict]:
        return [{"id": ex.qid, "question": ex.question, **rec} for ex, rec in zip(data.examples, records, strict=True)]

    def write_rows(self, f: IO[str], suffix: str, rows: Sequence[dict[str, Any]]) -> None:
        if suffix == ".json":  # the official SQuAD {id: answer} file
            json.dump({r["id"]: r["prediction"] for r in rows}, f, ensure_ascii=False, indent=1)
            return
        super().write_rows(f, suffix, rows)


TASK_CLASSES: dict[str, type[Task]] = {
    cls.name: cls for cls in (Classification, Regression, TokenClassification, QuestionAnswering)
}


def task_for(spec: TaskSpec) -> Task:
    """The task object for ``spec`` (its ``task`` name already canonical)."""
    return TASK_CLASSES[spec.task](spec)


def require_metric_packages(task: type[Task] | Task) -> None:
    """Raise a one-line error, before any training, when a package the task's metrics need is missing."""
    import importlib.util

    for module, package in task.metric_packages.items():
        if importlib.util.find_spec(module) is None:
            raise ElectraError(
                f"{task.name} metrics need the {package!r} package, which is not installed (pip install {package})"
            )
