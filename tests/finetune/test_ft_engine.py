"""Fine-tuning on the shared engine: gradient accumulation, settings from YAML, data-parallel under torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml
from safetensors.torch import load_file

from electra.cli.main import main as cli_main
from electra.core.errors import ElectraError
from electra.recipes.finetune import FinetuneConfig, TaskSpec, build_finetune_config, finetune


def _weights(run) -> dict[str, torch.Tensor]:
    (ckpt,) = run.glob("seed-1/checkpoint-*")
    return load_file(ckpt / "model.safetensors")


def _args(tiny_checkpoint, sentiment_files, out, *extra) -> list[str]:
    return ["finetune", "-m", str(tiny_checkpoint), "--task", "classification", "--train",
            str(sentiment_files["train"]), "--dev", str(sentiment_files["dev"]), "--epochs", "1", "--batch-size",
            "16", "--dropout", "0", "--max-train-examples", "96", "-o", str(out), "-q", *extra]  # fmt: skip


def test_gradient_accumulation_gives_the_whole_batch_update(tiny_checkpoint, sentiment_files, tmp_path):
    """Without dropout, 2 or 4 micro-batches of a batch of 16 train to the weights of the whole batch."""
    runs = {}
    for accum in (1, 2, 4):
        runs[accum] = tmp_path / f"accum{accum}"
        assert cli_main(_args(tiny_checkpoint, sentiment_files, runs[accum], "--grad-accum", str(accum))) == 0
    base = _weights(runs[1])
    for accum in (2, 4):
        other = _weights(runs[accum])
        for k in base:
            torch.testing.assert_close(other[k], base[k], atol=2e-5, rtol=1e-4,
                                       msg=lambda m, k=k, a=accum: f"{a} {k}: {m}")  # fmt: skip
    start = load_file(tiny_checkpoint / "model.safetensors")
    moved = "encoder.layers.0.attention.qkv.weight"
    assert not torch.allclose(base[moved], start[f"discriminator.{moved}"])  # it did train


def test_settings_from_yaml_with_flags_on_top(tiny_checkpoint, sentiment_files, tmp_path, capsys):
    settings = tmp_path / "ft.yaml"
    settings.write_text(yaml.safe_dump({"model": str(tiny_checkpoint), "epochs": 2, "lr": 1e-3,
                                        "task": {"task": "classification", "label_column": "label"}}))  # fmt: skip
    assert cli_main(["finetune", "--config", str(settings), "--lr", "5e-4", "--train", "t.jsonl", "--show-config"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["epochs"] == 2.0 and shown["lr"] == 5e-4 and shown["train_file"] == "t.jsonl"
    assert shown["task"]["task"] == "classification" and shown["batch_size"] == 32  # the default
    settings.write_text(yaml.safe_dump({"model": "m", "epochz": 2}))
    with pytest.raises(ElectraError, match=r"ft.yaml: unknown config key 'epochz' \(did you mean 'epochs'\?\)"):
        build_finetune_config(settings)
    with pytest.raises(ElectraError, match="config value for epochs has the wrong type"):
        build_finetune_config(None, {"model": "m", "epochs": "many"})
    with pytest.raises(ElectraError, match=r"fine-tuning setting out of range: grad_accum = 3 \(must divide"):
        build_finetune_config(None, {"model": "m", "grad_accum": 3})


def test_python_api_and_cli_take_the_same_settings(tiny_checkpoint, sentiment_files, tmp_path):
    cfg = FinetuneConfig(model=str(tiny_checkpoint), task=TaskSpec("classification"), epochs=1, seeds=[1],
                         train_file=str(sentiment_files["train"]), output_dir=str(tmp_path / "api"), progress=False,
                         max_train_examples=32, batch_size=16, dropout=0.0)  # fmt: skip
    finetune(cfg)
    saved = json.loads(next((tmp_path / "api").glob("seed-1/checkpoint-*/train_config.json")).read_text())
    assert build_finetune_config(None, saved) == cfg  # the run's settings are kept with its checkpoint


@pytest.mark.filterwarnings("ignore")
def test_data_parallel_fine_tuning_matches_gradient_accumulation(tiny_checkpoint, sentiment_files, tmp_path):
    """2 gloo processes, each with its half of every batch: the weights of one process accumulating the same
    two halves; one set of outputs written."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    ddp = tmp_path / "ddp"
    proc = subprocess.run([*launcher, "-m", "electra.cli.main", *_args(tiny_checkpoint, sentiment_files, ddp)],
                          capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in ddp.iterdir()) == ["seed-1", "summary.json"]
    assert json.loads((ddp / "summary.json").read_text())["info"]["world_size"] == 2
    single = tmp_path / "single"
    assert cli_main(_args(tiny_checkpoint, sentiment_files, single, "--grad-accum", "2")) == 0
    a, b = _weights(ddp), _weights(single)
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=2e-5, rtol=1e-4, msg=lambda m, k=k: f"{k}: {m}")


@pytest.mark.filterwarnings("ignore")
def test_compiled_fine_tuning_reaches_the_eager_weights(tiny_checkpoint, sentiment_files, tmp_path):
    """``--compile true`` (torch.compile of the model, batches of varying length): eager's weights to float
    tolerance."""
    runs = {}
    for name, extra in (("eager", []), ("compiled", ["--compile", "true"])):
        runs[name] = tmp_path / name
        assert cli_main(_args(tiny_checkpoint, sentiment_files, runs[name], "--max-train-examples", "48", *extra)) == 0
    eager, compiled = _weights(runs["eager"]), _weights(runs["compiled"])
    for k in eager:
        torch.testing.assert_close(compiled[k], eager[k], atol=1e-5, rtol=1e-4, msg=lambda m, k=k: f"{k}: {m}")






def test_the_final_model_is_reported_unless_best_is_asked_for(tiny_checkpoint, sentiment_files, tmp_path, capsys,
                                                              monkeypatch):
    """--select final (the default, the paper's protocol) keeps and reports the model after the last epoch,
    even when an earlier epoch scored higher on dev; --select best keeps the best epoch's. The dev scores
    are scripted (0.6, 0.9, 0.7, 0.8 for epochs 1-4), so the test does not hang on training noise; the
    checkpoint kept is the one of the reported epoch's last step. The summary says which."""
    from electra.recipes.finetune import run as ft_run

    def run(name: str, *extra: str) -> tuple[dict, str]:
        scores = iter([0.6, 0.9, 0.7, 0.8])
        monkeypatch.setattr(ft_run, "_evaluate_dev", lambda run, model: {"dev_accuracy": next(scores)})
        out = tmp_path / name
        assert cli_main([*_args(tiny_checkpoint, sentiment_files, out), "--epochs", "4", *extra]) == 0
        return json.loads((out / "seed-1" / "result.json").read_text()), capsys.readouterr().out

    steps_per_epoch = 96 // 16
    final, said = run("final")
    assert (final["epoch"], final["dev"]["accuracy"]) == (4, 0.8)
    assert final["checkpoint"].endswith(f"checkpoint-{4 * steps_per_epoch:07d}")
    assert said.startswith("reported: the final model") and "seed 1: final epoch 4" in said
    best, said = run("best", "--select", "best")
    assert (best["epoch"], best["dev"]["accuracy"]) == (2, 0.9)
    assert best["checkpoint"].endswith(f"checkpoint-{2 * steps_per_epoch:07d}")
    assert said.startswith("reported: the best dev epoch model") and "seed 1: best epoch 2" in said
    assert json.loads((tmp_path / "best" / "summary.json").read_text())["info"]["select"] == "best"


def test_epochs_follow_the_official_rule_unless_given():
    from electra.recipes.finetune.config import default_epochs

    assert default_epochs("classification") == default_epochs("token-classification", "conll2003") == 3.0
    assert default_epochs("classification", "RTE") == default_epochs("regression", "sts-b") == 10.0
    assert default_epochs("qa") == 2.0
