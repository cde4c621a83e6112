"""What a task is and how its files are read (:class:`TaskSpec`), and the examples the readers produce."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

from electra.core.errors import ElectraError

CLASSIFICATION = "classification"
REGRESSION = "regression"
TOKEN_CLASSIFICATION = "token-classification"
QA = "qa"
TASKS = (CLASSIFICATION, REGRESSION, TOKEN_CLASSIFICATION, QA)
TASK_ALIASES = {
    "ner": TOKEN_CLASSIFICATION,
    "tagging": TOKEN_CLASSIFICATION,
    "squad": QA,
    "span": QA,
    "cls": CLASSIFICATION,
    "reg": REGRESSION,
}

FORMATS = ("auto", "csv", "tsv", "jsonl", "json", "hf", "conll", "squad")


def canonical_task(name: str) -> str:
    """The task kind for ``name`` or one of its aliases (``ner``, ``squad``...)."""
    task = TASK_ALIASES.get(name, name)
    if task not in TASKS:
        raise ElectraError(f"unknown task {name!r}; expected one of {', '.join(TASKS)} (or ner, squad)")
    return task


@dataclass
class TaskSpec:
    """What the task is and how its files are read; saved in fine-tuned checkpoints for evaluate/predict.

    Table columns (CSV/TSV/JSONL/HF): ``text_column`` (auto: the first of text, sentence, sentence1,
    question1, premise, question present), ``text_pair_column`` (auto: the partner of the text column,
    e.g. sentence2, when present; ``"none"`` for single sentences), ``label_column``. Headerless
    CSV/TSV files (``header=False``) name their columns "0", "1", ...

    CoNLL files: whitespace-separated columns, ``token_column`` and ``tag_column`` (negative counts
    from the end), blank lines between sentences, ``-DOCSTART-`` lines ignored; ``tag_scheme`` is
    iob1, iob2, bioes or auto (detected on the training file).

    SQuAD JSON: ``squad_version`` "1", "2" or auto (2.0 when the file says v2 or uses is_impossible).
    """

    task: str = CLASSIFICATION
    format: str = "auto"
    text_column: str | None = None
    text_pair_column: str | None = None
    label_column: str = "label"
    header: bool = True
    split: str | None = None  # for Hugging Face datasets
    token_column: int = 0
    tag_column: int = -1
    tag_scheme: str = "auto"
    squad_version: str = "auto"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Canonicalise the task name; raise :class:`ElectraError` for an unknown task or format."""
        self.task = canonical_task(self.task)
        if self.format not in FORMATS:
            raise ElectraError(f"unknown data format {self.format!r}; expected one of {', '.join(FORMATS)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskSpec:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class TextExample:
    """One (pair of) text(s) for classification or regression; ``label`` None when unlabelled."""

    text: str
    text_pair: str | None = None
    label: str | float | None = None
    source: str = ""  # "file:line" for error messages
    raw: dict[str, Any] = field(default_factory=dict)  # the original row, echoed by predict


@dataclass
class TokenExample:
    """One sentence for token classification; ``tags`` are IOB2 (None when unlabelled)."""

    tokens: list[str]
    tags: list[str] | None = None
    source: str = ""


@dataclass
class QAExample:
    """One SQuAD question. ``answers`` are ``(text, char_start)`` pairs checked against ``context``."""

    qid: str
    question: str
    context: str
    answers: list[tuple[str, int]] = field(default_factory=list)
    is_impossible: bool = False
    title: str = ""
    source: str = ""
