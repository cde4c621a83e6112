"""Fine-tuning ELECTRA discriminators: classification, regression, token classification, extractive QA.

Python use::

    from electra.recipes.finetune import FinetuneConfig, TaskSpec, finetune, evaluate, predict

    summary = finetune(FinetuneConfig(model="runs/tiny", dataset="movie-reviews", seeds=[1, 2, 3]))
    print(summary.aggregate["dev_accuracy"]["median"])
    evaluate("runs/finetune/seed-1", split="test")
    predict("runs/finetune/seed-1", "reviews.csv", "predictions.jsonl")
"""

from electra.recipes.finetune.config import FinetuneConfig, build_finetune_config
from electra.recipes.finetune.inference import evaluate, predict
from electra.recipes.finetune.loading import Finetuned, load_base_encoder, load_finetuned
from electra.recipes.finetune.recipe import default_layer_decay, default_lr, layerwise_param_groups
from electra.recipes.finetune.run import FinetuneSummary, finetune, format_summary
from electra.recipes.finetune.spec import TASKS, QAExample, TaskSpec, TextExample, TokenExample
from electra.recipes.finetune.tasks import TASK_CLASSES, Task, task_for

__all__ = [
    "TASKS",
    "TASK_CLASSES",
    "FinetuneConfig",
    "FinetuneSummary",
    "Finetuned",
    "QAExample",
    "Task",
    "TaskSpec",
    "TextExample",
    "TokenExample",
    "build_finetune_config",
    "default_layer_decay",
    "default_lr",
    "evaluate",
    "finetune",
    "format_summary",
    "layerwise_param_groups",
    "load_base_encoder",
    "load_finetuned",
    "predict",
    "task_for",
]
