"""``electra finetune``, ``evaluate`` and ``predict``: :func:`register` adds them to a parser."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EPILOG_FINETUNE = """\
examples:
  electra finetune -m runs/tiny --data movie-reviews --seeds 1,2,3 -o runs/ft-movies
  electra finetune -m runs/tiny --data conll2003 --random-init -o runs/ft-conll-random
  electra finetune -m runs/tiny --task classification --train train.tsv --dev dev.tsv \\
      --text-column sentence --label-column label
  electra finetune -m runs/tiny --task qa --train train-v2.0.json --dev dev-v2.0.json

Defaults follow the ELECTRA recipe: lr 3e-4 / 1e-4 / 5e-5 for Small / Base / Large sized encoders,
layer-wise decay 0.8 (0.9 Large), 3 epochs (10 for RTE / STS-B, 2 for QA), batch 32, warm-up 10%,
weight decay 0, dropout 0.1; the final model is reported (--select best: the best dev epoch's).
Each seed writes OUT/seed-N/ (the checkpoint, metrics.jsonl, curves.png); OUT/summary.json holds
every seed's dev/test metrics with their median and spread."""


def _yes_no(text: str) -> bool:
    if text.lower() in ("true", "yes", "1"):
        return True
    if text.lower() in ("false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"seeds must be integers separated by commas, got {text!r}"
        ) from None
    if not seeds:
        raise argparse.ArgumentTypeError("give at least one seed")
    return seeds


def _add_reading_options(p: argparse.ArgumentParser, default: Any = None) -> None:
    """Options saying how data files are read (all default to automatic / the checkpoint's)."""
    g = p.add_argument_group("reading the data")
    g.add_argument("--format", choices=["auto", "csv", "tsv", "jsonl", "json", "hf", "conll", "squad"], default=default,
                   help="file format (default: from the file name and the task)")  # fmt: skip
    g.add_argument("--text-column", default=default,
                   help="column of the (first) text (default: text, sentence, sentence1, ...)")  # fmt: skip
    g.add_argument("--text-pair-column", default=default,
                   help="column of the second text ('none' for single texts; default: auto)")  # fmt: skip
    g.add_argument("--label-column", default=default, help="column of the label (default: label)")
    g.add_argument("--no-header", dest="header", action="store_false", default=default,
                   help="CSV/TSV without a header row: columns are named 0, 1, 2, ...")  # fmt: skip
    g.add_argument("--hf-split", default=default, help="split of a Hugging Face dataset (or write DIR@SPLIT)")
    g.add_argument("--token-column", type=int, default=default, help="CoNLL: column of the token (default 0)")
    g.add_argument("--tag-column", type=int, default=default, help="CoNLL: column of the tag (default -1, the last)")
    g.add_argument("--tag-scheme", choices=["auto", "iob1", "iob2", "bioes"], default=default,
                   help="CoNLL tag scheme (default auto)")  # fmt: skip
    g.add_argument("--squad-version", choices=["auto", "1", "2"], default=default, help="SQuAD version (default auto)")


_READING = {"format": "format", "text_column": "text_column", "text_pair_column": "text_pair_column",
            "label_column": "label_column", "header": "header", "hf_split": "split", "token_column": "token_column",
            "tag_column": "tag_column", "tag_scheme": "tag_scheme", "squad_version": "squad_version"}  # fmt: skip


def _reading_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {field: getattr(args, arg) for arg, field in _READING.items() if getattr(args, arg, None) is not None}


# flag destination -> FinetuneConfig key (flags not listed keep their name)
_FLAG_KEYS = {"data": "dataset", "train": "train_file", "dev": "dev_file", "test": "test_file"}
_NOT_CONFIG = {"func", "command", "config", "show_config", "list_data", "quiet", "task", *_READING}


def finetune_values(args: argparse.Namespace) -> dict[str, Any]:
    """The configuration values the user gave as flags (the parser leaves out the others)."""
    given = vars(args)
    values: dict[str, Any] = {_FLAG_KEYS.get(k, k): v for k, v in given.items() if k not in _NOT_CONFIG}
    task = _reading_overrides(args)
    if "task" in given:
        task["task"] = given["task"]
    if task:
        values["task"] = task
    if given.get("quiet"):
        values["progress"] = False
    return values


def _cmd_finetune(args: argparse.Namespace) -> None:
    import yaml

    from electra.recipes.finetune.config import build_finetune_config
    from electra.recipes.finetune.run import finetune, format_summary

    if getattr(args, "list_data", False):
        from electra.data.task_catalogue import describe_tasks

        print("\n".join(describe_tasks()))
        return
    cfg = build_finetune_config(getattr(args, "config", None), finetune_values(args), require_task=True)
    if getattr(args, "show_config", False):
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
        return
    print(format_summary(finetune(cfg)))


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from electra.core.atomic import check_writable, write_text_atomic
    from electra.recipes.finetune.inference import evaluate

    if args.json:
        check_writable(Path(args.json), "metrics", directory=False)
    metrics = evaluate(
        args.model,
        args.file,
        args.split,
        _reading_overrides(args),
        args.batch_size,
        args.device,
        args.precision,
    )
    text = json.dumps(metrics, indent=2)
    if args.json:
        write_text_atomic(Path(args.json), text + "\n")
    print(text)


def _cmd_predict(args: argparse.Namespace) -> None:
    from electra.recipes.finetune.inference import predict

    rows = predict(
        args.model,
        args.file,
        args.out,
        _reading_overrides(args),
        args.batch_size,
        args.device,
        args.precision,
    )
    if args.out:
        print(f"wrote {len(rows):,} predictions to {args.out}", file=sys.stderr)
    else:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))


def _add_runtime(p: argparse.ArgumentParser, batch_default: int) -> None:
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "bf16", "fp32"],
        help="auto: bf16 autocast on CUDA, float32 on CPU",
    )
    p.add_argument(
        "--batch-size", dest="batch_size", type=int, default=batch_default, help="evaluation batch size"
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``finetune``, ``evaluate`` and ``predict`` sub-commands to ``subparsers``."""
    # Flags left out stay unset (argparse.SUPPRESS): the configuration's defaults apply, then --config.
    ft = subparsers.add_parser("finetune", epilog=EPILOG_FINETUNE, argument_default=argparse.SUPPRESS,
                               help="fine-tune a pretrained discriminator on a task (classification, NER, QA, ...)",
                               formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ft.add_argument("-m", "--model", help="pretrained checkpoint or run directory")
    ft.add_argument("--task", choices=["classification", "regression", "token-classification", "ner", "qa", "squad"],
                    help="task type (implied by --data)")  # fmt: skip
    ft.add_argument("--data", help="catalogue dataset: movie-reviews, conll2003 (see --list-data)")
    ft.add_argument("--list-data", action="store_true", help="list the catalogue datasets and exit")
    ft.add_argument("--train", help="training file (or Hugging Face dataset directory)")
    ft.add_argument("--dev", help="dev file: evaluated every epoch (with --select best, picks the epoch kept)")
    ft.add_argument("--test", help="test file: evaluated once, with the model kept")
    ft.add_argument("-o", "--output-dir", help="run directory (default runs/finetune)")
    ft.add_argument("--overwrite", action="store_true", help="replace checkpoints already in the run directory")
    ft.add_argument("--random-init", action="store_true",
                    help="same architecture and tokenizer as the checkpoint, randomly initialised (a baseline)")
    ft.add_argument("--config", type=Path, help="YAML file of fine-tuning settings (flags override it)")
    ft.add_argument("--show-config", action="store_true", help="print the resolved settings and exit")
    h = ft.add_argument_group("hyper-parameters")
    h.add_argument("--seeds", type=_seeds, help="comma-separated seeds, e.g. 1,2,3 (default 1)")
    h.add_argument("--lr", type=float, help="peak learning rate (default by size: 3e-4 / 1e-4 / 5e-5)")
    h.add_argument("--layer-decay", type=float, help="layer-wise learning-rate decay (default 0.8; 0.9 Large)")
    h.add_argument("--epochs", type=float, help="(default: the official rule: 3; 10 for RTE / STS-B; 2 for QA)")
    h.add_argument("--select", choices=["final", "best"],
                   help="model reported and kept: final (after the last epoch, the paper's protocol; default) or "
                        "best (the best dev epoch's: an upward-biased dev score)")  # fmt: skip
    h.add_argument("--batch-size", type=int, help="global batch per optimiser step (default 32)")
    h.add_argument("--grad-accum", type=int, help="micro-batches per optimiser step (default 1)")
    h.add_argument("--eval-batch-size", type=int, help="(default 64)")
    h.add_argument("--warmup-fraction", type=float, help="(default 0.1)")
    h.add_argument("--weight-decay", type=float, help="(default 0)")
    h.add_argument("--dropout", type=float, help="dropout of encoder and head (default: the checkpoint's)")
    h.add_argument("--max-length", type=int, help="tokens per sequence (default 128, QA 512; at most the model's)")
    h.add_argument("--doc-stride", type=int, help="QA: tokens a context window advances by (default 128)")
    h.add_argument("--max-query-length", type=int, help="QA: question tokens kept (default 64)")
    h.add_argument("--max-answer-length", type=int, help="QA: longest answer in tokens (default 30)")
    h.add_argument("--null-threshold", type=float,
                   help="SQuAD 2.0: answer '' when the no-answer logit exceeds this (default 0)")  # fmt: skip
    h.add_argument("--qa-head", choices=["bert", "official"],
                   help="QA: bert (independent start / end logits; default) or official (the official "
                        "ELECTRA head: the end conditioned on the start, beam 20, answerability always)")  # fmt: skip
    h.add_argument("--skip-nonfinite-steps", type=int,
                   help="skip up to N steps whose loss is not finite instead of stopping (default 0)")  # fmt: skip
    h.add_argument("--metric", help="headline dev metric, which --select best selects by (default accuracy / "
                   "pearson / f1)")  # fmt: skip
    h.add_argument("--max-train-examples", type=int, help="use only the first N training examples")
    ft.add_argument("--device", help="auto, cpu, cuda or cuda:N (default auto)")
    ft.add_argument("--precision", choices=["auto", "bf16", "fp32"],
                    help="auto: bf16 autocast on CUDA, float32 on CPU")  # fmt: skip
    ft.add_argument("--compile", type=_yes_no, help="torch.compile the model (true/false; default false)")
    ft.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_reading_options(ft, default=argparse.SUPPRESS)
    ft.set_defaults(func=_cmd_finetune)

    ev = subparsers.add_parser("evaluate", help="metrics of a fine-tuned checkpoint on labelled data")
    ev.add_argument("-m", "--model", required=True, help="fine-tuned checkpoint or a seed's run directory")
    ev.add_argument(
        "file", nargs="?", help="labelled data file (default: the --split the model was trained with)"
    )
    ev.add_argument(
        "--split", choices=["train", "dev", "test"], help="split of the training run's data (default dev)"
    )
    ev.add_argument("--json", help="also write the metrics to this JSON file")
    _add_runtime(ev, 64)
    _add_reading_options(ev)
    ev.set_defaults(func=_cmd_evaluate)

    pr = subparsers.add_parser("predict", help="predictions of a fine-tuned checkpoint, to JSONL or CSV")
    pr.add_argument("-m", "--model", required=True, help="fine-tuned checkpoint or a seed's run directory")
    pr.add_argument("file", help="input file (labels not needed)")
    pr.add_argument(
        "-o", "--out", help="output .jsonl or .csv (QA also .json, NER also .conll); default stdout"
    )
    _add_runtime(pr, 64)
    _add_reading_options(pr)
    pr.set_defaults(func=_cmd_predict)
