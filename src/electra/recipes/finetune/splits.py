"""The data of a fine-tuning run: files from the catalogue or the user, read, checked and encoded per split."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from tokenizers import Tokenizer
from tqdm.auto import tqdm

from electra.core.errors import ElectraError
from electra.recipes.finetune import features as feat
from electra.recipes.finetune.config import FinetuneConfig
from electra.recipes.finetune.spec import TaskSpec
from electra.recipes.finetune.tasks import Task, TaskData

HF_SPLITS = {"train": "train", "dev": "validation", "test": "test"}


def warn(msg: str) -> None:
    """A one-line warning on stderr that does not break the progress bar."""
    tqdm.write(f"electra: {msg}", file=sys.stderr)


def resolve_files(cfg: FinetuneConfig) -> tuple[TaskSpec, dict[str, str]]:
    """The task spec and the split files: the catalogue dataset's (fetched) or the configured files."""
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


def load_split(task: Task, source: str, role: str, require_labels: bool) -> tuple[TaskData, TaskSpec]:
    """Read one split (``role``: train, dev or test; features are added by :func:`encode_split`) and the
    spec as the file resolved it (columns, tag scheme, SQuAD version)."""
    read = task.read(str(source), require_labels, HF_SPLITS.get(role))
    return TaskData(str(source), read.examples, feat.Features(), read.labelled), read.spec


def encode_split(task: Task, data: TaskData, tokenizer: Tokenizer, special: dict[str, int], labels: Sequence[str],
                 settings: dict[str, Any], role: str) -> None:  # fmt: skip
    """Add the model features of ``data``; warn when examples had to be truncated."""
    data.features = task.encode(data.examples, tokenizer, feat.SpecialIds.from_dict(special), labels, settings)
    if data.features.n_truncated:
        warn(f"{data.features.n_truncated:,} of {len(data.examples):,} {role} examples in {data.source} were longer "
             f"than {settings['max_length']} tokens and were truncated (longest first)")  # fmt: skip
