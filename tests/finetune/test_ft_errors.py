"""Bad input through the whole pipeline: one-line errors naming the problem and the file."""

from __future__ import annotations

import argparse
import json

import pytest
from ft_helpers import sentiment_rows, write_jsonl

from electra.cli.finetune import register
from electra.cli.main import main
from electra.core.errors import ElectraError
from electra.recipes.finetune import FinetuneConfig, TaskSpec, evaluate, finetune


def _cfg(tiny_checkpoint, tmp_path, **kw) -> FinetuneConfig:
    base = {
        "model": str(tiny_checkpoint),
        "task": TaskSpec("classification"),
        "output_dir": str(tmp_path / "o"),
        "epochs": 1,
        "progress": False,
    }
    base.update(kw)
    return FinetuneConfig(**base)


def _one_line(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg
    return msg


def test_label_in_test_unseen_in_training(tiny_checkpoint, tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", sentiment_rows(20, 1))
    test = write_jsonl(tmp_path / "test.jsonl", [{"text": "ok film", "label": "neutral"}])
    with pytest.raises(ElectraError) as e:
        finetune(_cfg(tiny_checkpoint, tmp_path, train_file=str(train), test_file=str(test)))
    msg = _one_line(e)
    assert "test.jsonl:1: label 'neutral' does not occur in the training data" in msg


def test_unseen_tag_in_dev(tiny_checkpoint, tmp_path):
    (tmp_path / "train.txt").write_text("bob B-PER\nsat O\n")
    (tmp_path / "dev.txt").write_text("paris B-LOC\n")
    with pytest.raises(ElectraError, match=r"dev.txt:1: label 'B-LOC' does not occur"):
        finetune(
            _cfg(
                tiny_checkpoint,
                tmp_path,
                task=TaskSpec("ner"),
                train_file=str(tmp_path / "train.txt"),
                dev_file=str(tmp_path / "dev.txt"),
            )
        )


def test_sequence_length_over_model_maximum(tiny_checkpoint, tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", sentiment_rows(20, 1))
    with pytest.raises(ElectraError) as e:
        finetune(_cfg(tiny_checkpoint, tmp_path, train_file=str(train), max_length=512))
    assert "max_length 512 exceeds the model's maximum sequence length 64" in _one_line(e)


def test_long_texts_are_truncated_and_reported(tiny_checkpoint, tmp_path, capsys):
    rows = sentiment_rows(20, 1) + [{"text": " ".join(["film"] * 200), "label": "positive"}]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    finetune(_cfg(tiny_checkpoint, tmp_path, train_file=str(train)))
    assert "1 of 21 train examples" in capsys.readouterr().err


def test_empty_file_and_missing_column(tiny_checkpoint, tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ElectraError, match="empty.csv is empty"):
        finetune(_cfg(tiny_checkpoint, tmp_path, train_file=str(tmp_path / "empty.csv")))
    (tmp_path / "cols.csv").write_text("text,sentiment\nx,1\n")
    with pytest.raises(ElectraError, match="missing label column 'label'; columns are text, sentiment"):
        finetune(_cfg(tiny_checkpoint, tmp_path, train_file=str(tmp_path / "cols.csv")))


def test_qa_offsets_not_matching_the_context(tiny_checkpoint, tmp_path):
    data = {
        "version": "v2.0",
        "data": [
            {
                "title": "t",
                "paragraphs": [
                    {
                        "context": "bob lives in paris .",
                        "qas": [
                            {
                                "id": "x1",
                                "question": "where ?",
                                "answers": [{"text": "paris", "answer_start": 3}],
                            }
                        ],
                    }
                ],
            }
        ],
    }
    (tmp_path / "q.json").write_text(json.dumps(data))
    with pytest.raises(ElectraError) as e:
        finetune(_cfg(tiny_checkpoint, tmp_path, task=TaskSpec("qa"), train_file=str(tmp_path / "q.json")))
    assert "question x1: answer 'paris' does not match the context at offset 3" in _one_line(e)


def test_single_label_training_data(tiny_checkpoint, tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", [{"text": "a", "label": "x"}] * 3)
    with pytest.raises(ElectraError, match="needs at least two labels"):
        finetune(_cfg(tiny_checkpoint, tmp_path, train_file=str(train)))


def test_checkpoint_problems(tiny_checkpoint, tmp_path):
    with pytest.raises(ElectraError, match="checkpoint not found"):
        finetune(_cfg(tmp_path / "nope", tmp_path, train_file="x.csv"))
    with pytest.raises(ElectraError, match="is a pretrained checkpoint, not a fine-tuned one"):
        evaluate(tiny_checkpoint, "x.csv", device="cpu")


def test_existing_run_directory_is_not_overwritten(tiny_checkpoint, tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", sentiment_rows(16, 1))
    cfg = _cfg(tiny_checkpoint, tmp_path, train_file=str(train), batch_size=16)
    finetune(cfg)
    with pytest.raises(ElectraError, match="already holds a checkpoint"):
        finetune(cfg)
    cfg.overwrite = True
    finetune(cfg)


def test_pretrained_commands_refuse_fine_tuned_checkpoints(tiny_checkpoint, tmp_path, capsys):
    train = write_jsonl(tmp_path / "train.jsonl", sentiment_rows(16, 1))
    finetune(_cfg(tiny_checkpoint, tmp_path, train_file=str(train), batch_size=16, seeds=[1, 2]))
    out = tmp_path / "o"
    capsys.readouterr()
    for argv, said in [
        (["detect", "a film", "-c", str(out / "seed-1")], "is a fine-tuned checkpoint"),
        (["fill-mask", "a [MASK] film", "-c", str(out / "seed-2")], "is a fine-tuned checkpoint"),
        (["detect", "a film", "-c", str(out)], "holds fine-tuned checkpoints"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and said in err, err
        assert "use `electra evaluate` or `electra predict`" in err
    assert main(["evaluate", "-m", str(out)]) == 2  # the fine-tuning commands still name a seed's run
    assert f"pass one of them, e.g. {out / 'seed-1'}" in capsys.readouterr().err


def test_cli_errors(tiny_checkpoint, tmp_path):
    p = argparse.ArgumentParser(prog="electra")
    register(p.add_subparsers(dest="command"))
    args = p.parse_args(["finetune", "-m", str(tiny_checkpoint), "--train", "t.csv"])
    with pytest.raises(ElectraError, match="give --task"):
        args.func(args)
    with pytest.raises(SystemExit):
        p.parse_args(["finetune", "--seeds", "1,x"])
    with pytest.raises(ElectraError, match="unknown task dataset 'imdb'"):
        args = p.parse_args(["finetune", "-m", str(tiny_checkpoint), "--data", "imdb"])
        args.func(args)


def test_unknown_selection_metric(tiny_checkpoint, tmp_path):
    with pytest.raises(
        ElectraError, match="unknown metric 'bleu' for classification; choose from accuracy, f1, mcc"
    ):
        finetune(_cfg(tiny_checkpoint, tmp_path, train_file="x.csv", metric="bleu"))


def test_missing_metric_package_fails_before_training(tiny_checkpoint, tmp_path, monkeypatch):
    """Without seqeval, NER fine-tuning stops with a one-line error before a seed trains (and writes)."""
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "seqeval" else real_find_spec(name, *a)
    )
    (tmp_path / "train.txt").write_text("bob B-PER\nsat O\n")
    with pytest.raises(ElectraError) as e:
        finetune(_cfg(tiny_checkpoint, tmp_path, task=TaskSpec("ner"), train_file=str(tmp_path / "train.txt")))
    assert "token-classification metrics need the 'seqeval' package" in _one_line(e)
    assert not (tmp_path / "o").exists()
