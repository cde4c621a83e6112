"""Fine-tuning ELECTRA discriminators: classification, regression, token classification, extractive QA.

Python use::

    from electra.finetune import FinetuneConfig, TaskSpec, finetune, evaluate, predict

    summary = finetune(FinetuneConfig(model="runs/tiny", dataset="movie-reviews", seeds=[1, 2, 3]))
    print(summary.aggregate["dev_accuracy"]["median"])
    evaluate("runs/finetune/seed-1", split="test")
    predict("runs/finetune/seed-1", "reviews.csv", "predictions.jsonl")
"""

from electra.finetune.heads import FinetuneModel, SequenceHead, SpanHead, TokenHead
from electra.finetune.loading import Finetuned, load_base_encoder, load_finetuned
from electra.finetune.recipe import default_layer_decay, default_lr, layerwise_param_groups
from electra.finetune.tasks import TASKS, QAExample, TaskSpec, TextExample, TokenExample
from electra.finetune.trainer import FinetuneConfig, FinetuneSummary, evaluate, finetune, predict

__all__ = [
    "TASKS",
    "FinetuneConfig",
    "FinetuneModel",
    "FinetuneSummary",
    "Finetuned",
    "QAExample",
    "SequenceHead",
    "SpanHead",
    "TaskSpec",
    "TextExample",
    "TokenExample",
    "TokenHead",
    "default_layer_decay",
    "default_lr",
    "evaluate",
    "finetune",
    "layerwise_param_groups",
    "load_base_encoder",
    "load_finetuned",
    "predict",
]
