"""End to end on CPU: a tiny encoder fine-tuned on small synthetic tasks, through the API and the CLI."""

from __future__ import annotations

import argparse
import json

import pytest
from ft_helpers import ner_sentences, write_conll

from electra.cli.finetune import register
from electra.recipes.finetune import FinetuneConfig, TaskSpec, evaluate, finetune, load_finetuned, predict


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="electra")
    register(p.add_subparsers(dest="command", required=True))
    return p


def test_classification_learns_far_above_chance(tiny_checkpoint, sentiment_files, tmp_path):
    cfg = FinetuneConfig(
        model=str(tiny_checkpoint),
        task=TaskSpec(task="classification"),
        train_file=str(sentiment_files["train"]),
        dev_file=str(sentiment_files["dev"]),
        test_file=str(sentiment_files["test"]),
        output_dir=str(tmp_path / "run"),
        lr=2e-3,
        epochs=4,
        batch_size=16,
        seeds=[1, 2],
        progress=False,
    )
    summary = finetune(cfg)
    assert summary.aggregate["dev_accuracy"]["median"] > 0.9  # chance is 0.5
    assert summary.aggregate["test_accuracy"]["n"] == 2
    run = tmp_path / "run"
    assert (run / "summary.json").is_file()
    for seed in (1, 2):
        seed_dir = run / f"seed-{seed}"
        assert (seed_dir / "curves.png").is_file()
        rows = [json.loads(x) for x in (seed_dir / "metrics.jsonl").read_text().splitlines()]
        assert sum("dev_accuracy" in r for r in rows) == 4  # one evaluation per epoch
        assert len(list(seed_dir.glob("checkpoint-*"))) == 1  # one checkpoint kept: the reported model
    ft = load_finetuned(run / "seed-1")
    assert ft.labels == ["negative", "positive"]
    best = json.loads((run / "seed-1" / "result.json").read_text())
    again = evaluate(run / "seed-1", device="cpu")
    assert again["accuracy"] == pytest.approx(best["dev"]["accuracy"])
    out = tmp_path / "pred.csv"
    rows = predict(run / "seed-1", str(sentiment_files["test"]), out, device="cpu")
    assert len(rows) == 100 and set(rows[0]) >= {"text", "label", "prediction", "probabilities"}
    header = out.read_text().splitlines()[0].split(",")
    assert header[:3] == ["text", "label", "prediction"] and "probabilities_positive" in header


def test_random_init_and_cli(tiny_checkpoint, sentiment_files, tmp_path, capsys):
    args = _parser().parse_args(
        [
            "finetune",
            "-m",
            str(tiny_checkpoint),
            "--task",
            "classification",
            "--train",
            str(sentiment_files["train"]),
            "--dev",
            str(sentiment_files["dev"]),
            "--random-init",
            "--epochs",
            "1",
            "--seeds",
            "3",
            "-o",
            str(tmp_path / "r"),
            "-q",
            "--max-train-examples",
            "64",
        ]
    )
    args.func(args)
    printed = capsys.readouterr().out
    assert "dev_accuracy: median" in printed
    meta = json.loads(next((tmp_path / "r" / "seed-3").glob("checkpoint-*/config.json")).read_text())
    assert meta["random_init"] is True and meta["kind"] == "finetuned"

    args = _parser().parse_args(
        [
            "predict",
            "-m",
            str(tmp_path / "r" / "seed-3"),
            str(sentiment_files["dev"]),
            "-o",
            str(tmp_path / "p.jsonl"),
            "--device",
            "cpu",
        ]
    )
    args.func(args)
    lines = (tmp_path / "p.jsonl").read_text().splitlines()
    assert len(lines) == 100 and json.loads(lines[0])["prediction"] in ("positive", "negative")

    args = _parser().parse_args(
        ["evaluate", "-m", str(tmp_path / "r" / "seed-3"), "--json", str(tmp_path / "m.json")]
    )
    args.func(args)
    assert set(json.loads((tmp_path / "m.json").read_text())) == {"accuracy", "f1", "mcc"}


def test_token_classification_end_to_end(tiny_checkpoint, tmp_path):
    train = write_conll(tmp_path / "train.txt", ner_sentences(200, 1))
    dev = write_conll(tmp_path / "dev.txt", ner_sentences(60, 2))
    summary = finetune(
        FinetuneConfig(
            model=str(tiny_checkpoint),
            task=TaskSpec(task="ner"),
            train_file=str(train),
            dev_file=str(dev),
            output_dir=str(tmp_path / "ner"),
            lr=3e-3,
            epochs=4,
            batch_size=16,
            progress=False,
        )
    )
    assert summary.aggregate["dev_f1"]["median"] > 0.9
    out = tmp_path / "pred.conll"
    rows = predict(tmp_path / "ner" / "seed-1", str(dev), out, device="cpu")
    assert len(rows) == 60 and len(rows[0]["prediction"]) == len(rows[0]["tokens"])
    assert len(out.read_text().split("\n\n")) >= 60


def test_qa_end_to_end_runs_and_scores(tiny_checkpoint, tmp_path):
    import random

    from ft_helpers import NAMES, PLACES

    rng = random.Random(0)
    data = []
    for i in range(120):
        name, place = rng.choice(NAMES), rng.choice(PLACES)
        context = f"the film is long . {name} lives in {place} . the music is good ."
        qas = [
            {
                "id": f"q{i}",
                "question": f"where {name} lives ?",
                "answers": [{"text": place, "answer_start": context.index(f" in {place}") + 4}],
            }
        ]
        if i % 4 == 0:
            qas.append({"id": f"n{i}", "question": "who is boring ?", "answers": [], "is_impossible": True})
        data.append({"title": "t", "paragraphs": [{"context": context, "qas": qas}]})
    squad = tmp_path / "train.json"
    squad.write_text(json.dumps({"version": "v2.0", "data": data}))
    summary = finetune(
        FinetuneConfig(
            model=str(tiny_checkpoint),
            task=TaskSpec(task="qa"),
            train_file=str(squad),
            dev_file=str(squad),
            output_dir=str(tmp_path / "qa"),
            lr=3e-3,
            epochs=3,
            batch_size=16,
            max_length=32,
            doc_stride=8,
            progress=False,
        )
    )
    dev = summary.seeds[0].dev
    assert {"exact_match", "f1", "has_answer_f1", "no_answer_f1"} <= set(dev)
    out = tmp_path / "pred.json"
    predict(tmp_path / "qa" / "seed-1", str(squad), out, device="cpu")
    assert len(json.loads(out.read_text())) == 150


def test_discriminator_imported_from_hugging_face_format_fine_tunes(
    tiny_checkpoint, sentiment_files, tmp_path
):
    """A discriminator-only Hugging Face directory, imported with `electra import`, fine-tunes the same way
    and starts from exactly the imported encoder weights."""
    import torch

    from electra.interop import export_hf, import_hf
    from electra.recipes.finetune.loading import load_base_encoder

    dirs = export_hf(tiny_checkpoint, tmp_path / "hf")
    imported, _ = import_hf(dirs["discriminator"], tmp_path / "imported")
    original, again = load_base_encoder(tiny_checkpoint), load_base_encoder(imported)
    assert all(torch.equal(original.state[k], again.state[k]) for k in original.state)
    summary = finetune(
        FinetuneConfig(
            model=str(tmp_path / "imported"),
            task=TaskSpec(task="classification"),
            train_file=str(sentiment_files["train"]),
            dev_file=str(sentiment_files["dev"]),
            output_dir=str(tmp_path / "ft"),
            epochs=1,
            max_train_examples=64,
            progress=False,
        )
    )
    assert summary.seeds[0].dev and summary.info["model"].startswith(str(tmp_path / "imported"))
