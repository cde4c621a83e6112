"""Fine-tuning configuration: one dataclass, filled by the same mechanism as pretraining's
(:mod:`electra.core.config`): defaults < ``--config`` YAML < command-line flags."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from electra.core.config import apply, check_ranges
from electra.core.errors import ElectraError
from electra.core.files import read_yaml
from electra.core.runtime import PRECISIONS
from electra.recipes.finetune.spec import TaskSpec

SELECTIONS = ("final", "best")
QA_HEADS = ("bert", "official")
# The official fine-tuning code's epochs: 3, but 10 for the small GLUE tasks RTE and STS-B and 2 for QA.
SMALL_TASKS = ("rte", "sts", "sts-b", "stsb")


def default_epochs(task: str, dataset: str | None = None) -> float:
    """Epochs when none are given, by the official rule: 2 for extractive QA, 10 for the small tasks (a
    catalogue dataset named like RTE or STS-B), else 3."""
    if task == "qa":
        return 2.0
    if dataset and dataset.lower() in SMALL_TASKS:
        return 10.0
    return 3.0


@dataclass
class FinetuneConfig:
    """Everything :func:`~electra.recipes.finetune.run.finetune` needs. ``None`` learning rate / layer decay
    mean the per-size defaults of the ELECTRA recipe."""

    model: str = ""  # pretrained (or fine-tuned) checkpoint or run directory
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
    epochs: float | None = None  # None: the official per-task rule (see default_epochs)
    batch_size: int = 32  # global, per optimiser step
    grad_accum: int = 1
    eval_batch_size: int = 64
    warmup_fraction: float = 0.1
    weight_decay: float = 0.0
    adam_eps: float = 1e-6
    clip_norm: float = 1.0
    skip_nonfinite_steps: int = 0  # steps with a non-finite loss are skipped; more than this stop the run
    bias_correction: bool = False
    dropout: float | None = None  # None: the checkpoint's (0.1 in the recipe)
    max_length: int | None = None  # None: 128 (512 for QA), capped by the model's positions
    doc_stride: int = 128
    max_query_length: int = 64
    max_answer_length: int = 30
    null_threshold: float = 0.0
    qa_head: str = "bert"  # "bert": independent start / end logits; "official": the official ELECTRA QA head
    seeds: list[int] = field(default_factory=lambda: [1])
    metric: str | None = None  # headline (and with select "best", selection) metric; None: accuracy / pearson / f1
    select: str = "final"  # "final": the model after the last epoch (the paper's protocol); "best": best dev epoch
    device: str = "auto"
    precision: str = "auto"  # auto (bf16 on CUDA), bf16, fp32
    compile: bool = False
    compile_mode: str = "default"
    log_every: int = 20
    max_train_examples: int | None = None
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> None:
        """Raise :class:`ElectraError` naming the first out-of-range setting."""
        if not self.model:
            raise ElectraError("give the checkpoint to fine-tune with -m/--model")
        self.task.validate()
        checks = [
            ("epochs", self.epochs is None or self.epochs > 0),
            ("select", self.select in SELECTIONS),
            ("qa_head", self.qa_head in QA_HEADS),
            ("batch_size", self.batch_size > 0),
            ("grad_accum", self.grad_accum > 0 and self.batch_size % self.grad_accum == 0),
            ("eval_batch_size", self.eval_batch_size > 0),
            ("warmup_fraction", 0 <= self.warmup_fraction < 1),
            ("weight_decay", self.weight_decay >= 0),
            ("clip_norm", self.clip_norm >= 0),
            ("skip_nonfinite_steps", self.skip_nonfinite_steps >= 0),
            ("lr", self.lr is None or self.lr > 0),
            ("layer_decay", self.layer_decay is None or 0 < self.layer_decay <= 1),
            ("dropout", self.dropout is None or 0 <= self.dropout < 1),
            ("doc_stride", self.doc_stride > 0),
            ("max_query_length", self.max_query_length > 0),
            ("max_answer_length", self.max_answer_length > 0),
            ("seeds", len(self.seeds) > 0),
            ("precision", self.precision in PRECISIONS),
            ("compile_mode", self.compile_mode in ("default", "reduce-overhead", "max-autotune")),
            ("log_every", self.log_every > 0),
            ("max_train_examples", self.max_train_examples is None or self.max_train_examples > 0),
        ]
        hints = {"grad_accum": f" (must divide batch_size = {self.batch_size})", "select": " (expected final or best)",
                 "qa_head": " (expected bert or official)"}
        check_ranges(self, checks, hints, what="fine-tuning setting")
        if len(set(self.seeds)) != len(self.seeds):
            raise ElectraError(f"seeds repeat: {self.seeds}")


def build_finetune_config(config_file: Path | None = None, values: dict[str, Any] | None = None,
                          require_task: bool = False) -> FinetuneConfig:  # fmt: skip
    """A validated :class:`FinetuneConfig`: defaults, then a YAML file's keys, then ``values`` (e.g. the
    command-line flags given), each checked against the field types. With ``require_task`` one of them must
    name the task (``task.task``) or a catalogue ``dataset``."""
    cfg = FinetuneConfig()
    explicit: set[str] = set()
    if config_file is not None:
        explicit |= apply(cfg, read_yaml(Path(config_file)), str(config_file))
    if values:
        explicit |= apply(cfg, values, "command line")
    if require_task and not explicit & {"task.task", "dataset"}:
        raise ElectraError(
            "give --task (classification, regression, token-classification/ner, qa/squad) "
            "or a catalogue dataset with --data"
        )
    if cfg.dataset and "task.task" not in explicit and explicit & {f"task.{k}" for k in _READING_KEYS}:
        raise ElectraError("--data names a catalogue dataset whose reading options are fixed; drop the reading options")
    cfg.validate()
    return cfg


_READING_KEYS = ("format", "text_column", "text_pair_column", "label_column", "header", "split", "token_column",
                 "tag_column", "tag_scheme", "squad_version")  # fmt: skip
