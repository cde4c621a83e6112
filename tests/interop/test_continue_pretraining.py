"""Continued pretraining: ``--train.init_from`` starts a run from an imported Hugging Face ELECTRA."""

from __future__ import annotations

import json
import random
import shutil

import pytest
import torch
from safetensors.torch import load_file
from test_hf_import import VOCAB, _electra_pair

from electra.cli.main import main as cli_main
from electra.core.errors import ElectraError
from electra.interop import import_hf

WORDS = [f"w{i}" for i in range(80)]


def _corpus(path):
    rng = random.Random(0)
    docs = [" ".join(" ".join(rng.choice(WORDS) for _ in range(8)) + " ." for _ in range(5)) for _ in range(60)]
    path.write_text("\n\n".join(docs) + "\n")
    return path


@pytest.fixture
def imported(tmp_path):
    _, _, dpath, gpath = _electra_pair(tmp_path)
    ckpt, _ = import_hf(dpath, tmp_path / "imported", generator_dir=gpath)
    return ckpt


def _overrides(tmp_path, imported):
    return ["--data.corpus", str(_corpus(tmp_path / "c.txt")), "--data.max_seq_length", "32",
            "--train.batch_size", "4", "--train.log_every", "1", "--train.tensorboard", "false",
            "--data.num_workers", "0", "--train.init_from", str(imported)]  # fmt: skip


def _args(tmp_path, imported):
    # The preset's model shape (hidden 128, 64 positions) differs from the import's: the checkpoint's wins.
    return ["pretrain", "--preset", "tiny", "-q", *_overrides(tmp_path, imported), "-o", str(tmp_path / "run")]


def test_run_starts_from_the_imported_weights_and_resumes(tmp_path, imported, monkeypatch):
    monkeypatch.setenv("ELECTRA_CACHE", str(tmp_path / "cache"))
    # lr 1e-9: two steps move no weight by more than ~1e-8, so the run's weights must be the import's.
    assert cli_main([*_args(tmp_path, imported), "--train.steps", "2", "--train.lr", "1e-9",
                     "--train.save_every", "2"]) == 0  # fmt: skip
    out = tmp_path / "run" / "checkpoint-0000002"
    meta = json.loads((out / "config.json").read_text())
    theirs = json.loads((imported / "config.json").read_text())
    assert meta["model_config"] == theirs["model_config"]  # the import's shape
    assert meta["model_config"]["discriminator"]["vocab_size"] == VOCAB  # and unpadded vocabulary
    assert meta["initialised_from"] == str(imported)
    saved = json.loads((out / "train_config.json").read_text())
    assert saved["train"]["init_from"] == str(imported) and saved["model"]["hidden_size"] == 32
    assert (out / "tokenizer.json").read_text() == (imported / "tokenizer.json").read_text()
    start, now = load_file(imported / "model.safetensors"), load_file(out / "model.safetensors")
    assert start.keys() == now.keys()
    for k in start:
        torch.testing.assert_close(now[k], start[k], atol=1e-6, rtol=0, msg=lambda m, k=k: f"{k}: {m}")
    state = torch.load(out / "trainer_state.pt", weights_only=True)
    assert {float(s["step"]) for s in state["optimizer"]["state"].values()} == {2.0}  # a fresh optimiser

    # Resuming keeps the imported shape (the preset's would not fit its checkpoint), and no longer needs
    # the checkpoint it started from.
    shutil.rmtree(imported.parent)
    assert cli_main([*_args(tmp_path, imported), "--train.steps", "3", "--train.lr", "1e-9", "--resume"]) == 0
    assert (tmp_path / "run" / "checkpoint-0000003").is_dir()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--objective.kind", "mlm"], "was pretrained with objective.kind 'electra', this run uses 'mlm'"),
        (["--data.max_seq_length", "64"], "data.max_seq_length = 64 exceeds the 40 positions"),
        (["--data.tokenizer", "tok.json"], "leave data.tokenizer unset"),
    ],
)
def test_checkpoints_that_cannot_seed_the_run(tmp_path, imported, monkeypatch, extra, message):
    monkeypatch.setenv("ELECTRA_CACHE", str(tmp_path / "cache"))
    from electra.recipes.pretrain import pretrain
    from electra.recipes.pretrain.config import build_config

    overrides = [*_overrides(tmp_path, imported), *extra, "--train.output_dir", str(tmp_path / "run")]
    cfg = build_config("tiny", None, overrides)
    with pytest.raises(ElectraError, match=message) as e:
        pretrain(cfg, progress=False)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "run").exists()


def test_show_config_shows_the_checkpoints_model(tmp_path, imported, monkeypatch, capsys):
    import yaml

    assert cli_main([*_args(tmp_path, imported), "--show-config"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    theirs = json.loads((imported / "config.json").read_text())["model_config"]
    disc = theirs["discriminator"]
    assert {k: shown["model"][k] for k in ("hidden_size", "num_layers", "max_position_embeddings")} == {
        k: disc[k] for k in ("hidden_size", "num_layers", "max_position_embeddings")
    }
    assert shown["model"]["hidden_size"] == 32  # not the preset's 128
    assert shown["model"]["generator_multiplier"] == theirs["generator_multiplier"]
