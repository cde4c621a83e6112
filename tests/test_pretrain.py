"""The pretraining loop: exact resume, bad input through the CLI, and a tiny end-to-end run."""

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from electra.recipes.pretrain import run as pretrain_mod
from electra.recipes.pretrain.config import build_config
from electra.train.metrics import read_metrics

WORDS = (
    "river mountain forest city music science history language animal planet ocean energy market "
    "king queen war peace art film book school garden winter summer light water fire stone road"
).split()


def write_corpus(path, n_docs=120, seed=0):
    import random

    rng = random.Random(seed)
    docs = []
    for _ in range(n_docs):
        sents = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12))).capitalize() + "." for _ in range(5)]
        docs.append(" ".join(sents))
    path.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    return path


MICRO = [
    "--data.vocab_size", "120", "--data.max_seq_length", "32", "--model.hidden_size", "32",
    "--model.num_layers", "2", "--model.num_heads", "2", "--model.intermediate_size", "64",
    "--model.embedding_size", "16", "--model.max_position_embeddings", "32", "--train.batch_size", "8",
    "--train.warmup_steps", "2", "--train.log_every", "1", "--data.num_workers", "0",
    "--train.tensorboard", "false",
]  # fmt: skip


def micro_config(corpus, out, steps, *extra):
    args = [*MICRO, "--data.corpus", str(corpus), "--train.output_dir", str(out), "--train.steps", str(steps)]
    return build_config("tiny", None, [*args, *extra])


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path, monkeypatch):
    corpus = write_corpus(tmp_path / "c.txt")
    straight = tmp_path / "straight"
    pretrain_mod.pretrain(micro_config(corpus, straight, 8, "--train.save_every", "4"), progress=False)

    killed = tmp_path / "killed"
    real_save = pretrain_mod.save_training_checkpoint

    def save_then_die(trainer, *a, **k):
        path = real_save(trainer, *a, **k)
        if trainer.step == 4:
            raise KeyboardInterrupt  # the process is killed right after the step-4 checkpoint
        return path

    monkeypatch.setattr(pretrain_mod, "save_training_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        pretrain_mod.pretrain(micro_config(corpus, killed, 8, "--train.save_every", "4"), progress=False)
    monkeypatch.setattr(pretrain_mod, "save_training_checkpoint", real_save)
    assert [p.name for p in killed.glob("checkpoint-*")] == ["checkpoint-0000004"]
    pretrain_mod.pretrain(micro_config(corpus, killed, 8, "--train.save_every", "4"), resume=True, progress=False)

    a = load_file(straight / "checkpoint-0000008" / "model.safetensors")
    b = load_file(killed / "checkpoint-0000008" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=0, msg=k)
    # the weights really moved between step 4 and step 8, so equality is not vacuous
    c = load_file(straight / "checkpoint-0000004" / "model.safetensors")
    assert any(not torch.equal(a[k], c[k]) for k in a)
    rows_a = read_metrics(straight / "metrics.jsonl")
    rows_b = read_metrics(killed / "metrics.jsonl")
    assert [r["loss"] for r in rows_a] == pytest.approx([r["loss"] for r in rows_b], abs=1e-5)


def test_mlm_objective_runs(tmp_path):
    corpus = write_corpus(tmp_path / "c.txt", n_docs=40)
    out = tmp_path / "mlm"
    last = pretrain_mod.pretrain(micro_config(corpus, out, 3, "--objective.kind", "mlm"), progress=False)
    assert "disc_loss" not in last and last["mlm_loss"] > 0
    meta = json.loads((out / "checkpoint-0000003" / "config.json").read_text())
    assert meta["model_class"] == "MaskedLM"
    saved = json.loads((out / "checkpoint-0000003" / "train_config.json").read_text())
    assert saved["objective"]["random_token_prob"] == 0.1


@pytest.mark.parametrize("kind", ["electra", "mlm"])
def test_the_objective_is_told_the_tokenizer_size_not_the_padded_table(tmp_path, monkeypatch, kind):
    """The table is padded to a multiple of 64 (120 tokens: 128 rows); the command gives the objective the
    tokenizer's 120, so that no padding id is ever predicted, sampled or drawn as a random token."""
    from electra.recipes.pretrain import build

    built = []
    real = build.build_objective

    def spy(model, cfg, special, vocab_size=None, never_mask=None):
        built.append(real(model, cfg, special, vocab_size, never_mask))
        return built[-1]

    monkeypatch.setattr(build, "build_objective", spy)
    corpus = write_corpus(tmp_path / "c.txt", n_docs=40)
    pretrain_mod.pretrain(micro_config(corpus, tmp_path / kind, 1, "--objective.kind", kind), progress=False)
    table = built[0].model.config.vocab_size if kind == "mlm" else built[0].discriminator.config.vocab_size
    assert (built[0].vocab_size, table) == (120, 128)


def test_held_out_evaluation_is_logged_and_leaves_training_unchanged(tmp_path):
    corpus = write_corpus(tmp_path / "c.txt", n_docs=300)
    held = ("--data.eval_fraction", "0.2", "--train.save_every", "6")
    often = tmp_path / "often"
    pretrain_mod.pretrain(micro_config(corpus, often, 6, *held, "--train.eval_every", "2"), progress=False)
    once = tmp_path / "once"
    last = pretrain_mod.pretrain(micro_config(corpus, once, 6, *held), progress=False)  # at the checkpoint only

    rows = {r["step"]: r for r in read_metrics(often / "metrics.jsonl")}
    assert [s for s in rows if "eval_loss" in rows[s]] == [2, 4, 6]
    assert "loss" in rows[6] and "eval_disc_loss" in rows[6]  # training and held-out rows of a step merge
    assert rows[2]["eval_mlm_loss"] != rows[6]["eval_mlm_loss"]
    once_rows = {r["step"]: r for r in read_metrics(once / "metrics.jsonl")}
    assert [s for s in once_rows if "eval_loss" in once_rows[s]] == [6]
    # Evaluating neither draws from the training RNG nor leaves dropout off: the weights are identical,
    # and the evaluation itself is deterministic (same masks, no dropout).
    a = load_file(often / "checkpoint-0000006" / "model.safetensors")
    b = load_file(once / "checkpoint-0000006" / "model.safetensors")
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert last["eval_loss"] == rows[6]["eval_loss"]


def test_held_out_evaluation_on_separate_text(tmp_path, micro_cli):
    corpus = write_corpus(tmp_path / "c.txt", n_docs=120)
    other = write_corpus(tmp_path / "other.txt", n_docs=30, seed=5)
    out = tmp_path / "out"
    proc = micro_cli("--data.corpus", str(corpus), "--data.eval_corpus", str(other), "-o", str(out),
                     "--train.steps", "2", "--train.eval_every", "1")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"\| held-out evaluation on \d+ \|", proc.stdout), proc.stdout
    rows = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in rows if "eval_loss" in r] == [1, 2]
    proc = micro_cli("--data.corpus", str(corpus), "--data.eval_corpus", str(other), "--data.eval_fraction", "0.1",
                     "-o", str(tmp_path / "both"))  # fmt: skip
    assert_one_line_error(proc, r"data.eval_fraction = 0.1 .*not together with data.eval_corpus")
    proc = micro_cli("--data.corpus", str(corpus), "--data.eval_corpus", str(tmp_path / "nowhere.txt"),
                     "-o", str(tmp_path / "missing"))  # fmt: skip
    assert_one_line_error(proc, "nowhere.txt")
    (tmp_path / "blank.txt").write_text("\n\n")
    proc = micro_cli("--data.corpus", str(corpus), "--data.eval_corpus", str(tmp_path / "blank.txt"),
                     "-o", str(tmp_path / "blank"))  # fmt: skip
    assert_one_line_error(proc, "data.eval_corpus: corpus is empty")


def run_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "electra.cli.main", *args], capture_output=True, text=True, cwd=cwd, timeout=1800
    )


def assert_one_line_error(proc, pattern):
    import re

    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("electra: error: "), proc.stderr
    assert re.search(pattern, lines[-1]), lines[-1]


@pytest.fixture
def micro_cli(tmp_path):
    def go(*args):
        return run_cli("pretrain", "--preset", "tiny", "-q", *MICRO, *args, cwd=tmp_path)

    return go


def test_bad_input_missing_corpus(tmp_path, micro_cli):
    proc = micro_cli("--data.corpus", str(tmp_path / "nowhere"), "-o", str(tmp_path / "out"))
    assert_one_line_error(proc, "corpus path not found: .*nowhere")
    assert not (tmp_path / "out").exists()


def test_bad_input_empty_and_binary_corpus(tmp_path, micro_cli):
    d = tmp_path / "texts"
    d.mkdir()
    (d / "empty.txt").write_text("\n\n  \n")
    (d / "blob.bin").write_bytes(bytes(range(256)) * 20)
    proc = micro_cli("--data.corpus", str(d), "-o", str(tmp_path / "out"))
    assert_one_line_error(proc, "corpus is empty")
    assert not list((tmp_path / "out").glob("checkpoint-*")) if (tmp_path / "out").exists() else True


def test_bad_input_unknown_key_and_range(tmp_path, micro_cli):
    assert_one_line_error(micro_cli("--train.stepss", "3"), "unknown config key 'train.stepss'.*'train.steps'")
    assert_one_line_error(micro_cli("--objective.mask_rate", "1.5"), r"objective.mask_rate = 1.5")


def test_resume_with_a_mismatching_config_is_refused(tmp_path, micro_cli):
    corpus = write_corpus(tmp_path / "c.txt", n_docs=40)
    out = tmp_path / "out"
    proc = micro_cli("--data.corpus", str(corpus), "-o", str(out), "--train.steps", "2")
    assert proc.returncode == 0, proc.stderr
    proc = micro_cli("--data.corpus", str(corpus), "-o", str(out), "--train.steps", "4", "--resume",
                     "--model.hidden_size", "64", "--model.num_heads", "2")  # fmt: skip
    assert_one_line_error(proc, r"config does not match checkpoint .*model.hidden_size = 64, checkpoint has 32")
    proc = micro_cli("--data.corpus", str(corpus), "-o", str(out), "--train.steps", "2")
    assert_one_line_error(proc, "already holds checkpoints; pass --resume")
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-0000002"]


def _entropy(p: float) -> float:
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


@pytest.mark.slow
def test_tiny_pretraining_on_the_default_corpus(tmp_path):
    """ELECTRA learns on the real default corpus (the tiny preset: 3,000 steps, ~6 min on 2 cores).

    The always-"original" baseline is judged by log-loss: it is the best constant predictor, whose
    cross-entropy is the entropy H(p) of the replaced fraction p. (Its accuracy, 1 - p, is only
    overtaken much later: a young discriminator's probabilities stay below 0.5 everywhere.)
    """
    out = tmp_path / "tiny"
    proc = run_cli("pretrain", "--preset", "tiny", "-q", "-o", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = read_metrics(out / "metrics.jsonl")
    first, last = rows[0], rows[-1]
    assert last["step"] == 3000
    assert "train.warmup_steps" not in proc.stderr  # the preset is not one the trainer warns about

    def gap(window):
        return sum(_entropy(r["replaced_frac"]) - r["disc_loss"] for r in window) / len(window)

    # The margin must hold, not just appear: a discriminator that collapses to the constant guess
    # mid-run (as the preset's old 100-step warm-up did) ends with a margin of ~0.
    middle = [r for r in rows if 1000 < r["step"] <= 2000]
    tail = rows[-10:]
    assert gap(middle) > 0.002 and gap(tail) > 0.002, (gap(middle), gap(tail), last)
    assert all(r["disc_acc"] >= 1 - r["replaced_frac"] - 0.005 for r in tail), tail
    assert last["mlm_loss"] < first["mlm_loss"] - 1.5, (first, last)
    assert (out / "loss_curves.png").stat().st_size > 10_000
    assert (out / "checkpoint-0003000" / "model.safetensors").is_file()

    fm = run_cli("fill-mask", "The capital of France is [MASK].", "-c", str(out), "-k", "3")
    assert fm.returncode == 0, fm.stderr
    assert fm.stdout.count("[MASK] at token") == 1 and fm.stdout.count("(0.") >= 3
    det = run_cli("detect", "The city has a large river and a big market.", "-c", str(out), "-v")
    assert det.returncode == 0, det.stderr
    assert "river" in det.stdout and len(det.stdout.splitlines()) > 5
    # The README's sentence: the planted word is marked (against the base rate stored with the checkpoint).
    det = run_cli("detect", "The river flows through the kitchen of the city.", "-c", str(out))
    assert det.returncode == 0 and "[[kitchen]]" in det.stdout, det.stdout + det.stderr
    # Planted random words in held-out sentences are found far above chance (measured AUC 0.78-0.83,
    # top-1 0.28-0.40 against 0.10 by chance).
    held_out = Path(__file__).parent / "fixtures" / "held-out-sentences.txt"
    ev = run_cli("detect", "-c", str(out), "--evaluate", str(held_out))
    assert ev.returncode == 0, ev.stderr
    quality = json.loads(ev.stdout)
    assert quality["sentences"] == 60 and quality["auc"] > 0.65, quality
    assert quality["top1"] > 2 * quality["chance_top1"], quality


def test_pad_token_need_not_be_id_zero(tmp_path):
    """A vocabulary with [PAD] at id 3: that row is the model's padding row (initialised to zero; only the
    generator's tied output layer moves it, by ~lr per step)."""
    from safetensors.torch import load_file

    from electra.models import load_checkpoint

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("".join(f"{t}\n" for t in ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]", ".", *WORDS]))
    corpus = write_corpus(tmp_path / "c.txt", n_docs=40)
    out = tmp_path / "run"
    pretrain_mod.pretrain(micro_config(corpus, out, 2, "--data.tokenizer", str(vocab)), progress=False)
    table = load_file(out / "checkpoint-0000002" / "model.safetensors")
    word = table["discriminator.encoder.embeddings.word_embeddings.weight"]
    assert float(word[3].abs().max()) < 0.005 and float(word[0].std()) > 0.01  # row 0 is [UNK], a normal row
    pre = load_checkpoint(out)
    assert pre.discriminator.encoder.embeddings.word_embeddings.padding_idx == 3


def test_a_time_limited_run_stops_with_a_checkpoint_that_resumes_on_the_same_schedule(tmp_path):
    """``train.max_minutes`` (already passed at the first check, step 2): a checkpoint at step 2, and a
    resume without the limit ends with the weights of a run never stopped (the schedule is train.steps')."""
    corpus = write_corpus(tmp_path / "c.txt")
    straight, sliced = tmp_path / "straight", tmp_path / "sliced"
    every = ("--train.save_every", "100", "--train.log_every", "2")
    pretrain_mod.pretrain(micro_config(corpus, straight, 6, *every), progress=False)
    pretrain_mod.pretrain(micro_config(corpus, sliced, 6, *every, "--train.max_minutes", "1e-6"), progress=False)
    assert [p.name for p in sliced.glob("checkpoint-*")] == ["checkpoint-0000002"]
    pretrain_mod.pretrain(micro_config(corpus, sliced, 6, *every), resume=True, progress=False)
    a = load_file(straight / "checkpoint-0000006" / "model.safetensors")
    b = load_file(sliced / "checkpoint-0000006" / "model.safetensors")
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=0, msg=k)
    lrs = [r["lr"] for r in read_metrics(sliced / "metrics.jsonl") if "lr" in r]
    assert lrs == [r["lr"] for r in read_metrics(straight / "metrics.jsonl") if "lr" in r]
