"""``electra seq2seq train`` on the shared engine (issue 11): a tiny model learns to reverse sequences,
resume is exact, ``translate`` and ``seq2seq evaluate`` work from the command line, bad input is one line."""

import random
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from electra.cli.main import main as cli_main
from electra.core.errors import ElectraError
from electra.recipes.seq2seq import build_seq2seq_config, train
from electra.recipes.seq2seq import run as run_mod

WORDS = [f"w{i}" for i in range(12)]


def _pairs(path, n, seed):
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        s = [rng.choice(WORDS) for _ in range(rng.randint(3, 8))]
        lines.append(" ".join(s) + "\t" + " ".join(reversed(s)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _args(tmp, out, steps, *extra):
    return [
        "--data.corpus", str(tmp / "train.tsv"), "--data.valid", str(tmp / "dev.tsv"), "--data.vocab_size", "40",
        "--model.hidden_size", "64", "--model.intermediate_size", "128", "--model.dropout", "0.0",
        "--train.steps", str(steps), "--train.warmup_steps", "100", "--train.lr", "3e-3", "--train.output_dir",
        str(out), "--data.max_tokens", "1024", "--train.beam", "1", "--train.tensorboard", "false",
        "--train.log_every", "10", *extra]  # fmt: skip


def _config(tmp, out, steps, *extra):
    return build_seq2seq_config("tiny", None, _args(tmp, out, steps, *extra))


@pytest.fixture(scope="module")
def reverser(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reverse")
    _pairs(tmp / "train.tsv", 4000, 0)
    _pairs(tmp / "dev.tsv", 100, 1)
    out = tmp / "run"
    last = train(_config(tmp, out, 400, "--train.save_every", "400"), progress=False)
    return tmp, out, last


def test_a_tiny_model_learns_to_reverse(reverser):
    tmp, out, last = reverser
    loaded = run_mod.load_translator(out, "cpu")
    pairs = [tuple(line.split("\t")) for line in (tmp / "dev.tsv").read_text().splitlines()]
    hyps = run_mod.translate(loaded.model, loaded.vocab, [s for s, _ in pairs], beam=4)
    exact = sum(h == r for h, (_, r) in zip(hyps, pairs)) / len(pairs)
    assert exact >= 0.95, exact
    assert last["eval_bleu"] > 90 and last["nll"] < last["loss"]  # label smoothing: loss above the plain NLL
    assert (out / "loss_curves.png").is_file() and (out / "metrics.jsonl").is_file()


def test_translate_and_evaluate_from_the_command_line(reverser, tmp_path):
    tmp, out, _ = reverser
    cli = [sys.executable, "-m", "electra.cli.main"]
    done = subprocess.run([*cli, "translate", "-c", str(out), "--beam", "2"], input="w1 w2 w3\nw4 w5 w6 w7\n",
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["w3 w2 w1", "w7 w6 w5 w4"]
    done = subprocess.run([*cli, "translate", "-c", str(out), "--max-len-a", "0", "--max-len-b", "1"],
                          input="w1 w2 w3\n", capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0 and done.stdout == "\n", done.stderr  # room for the end token alone
    done = subprocess.run([*cli, "seq2seq", "evaluate", "-c", str(out), "--data", str(tmp / "dev.tsv")],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0 and done.stdout.startswith("BLEU ") and "tok:13a" in done.stdout, done.stderr
    assert float(done.stdout.split()[1]) > 90


def test_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path, monkeypatch):
    _pairs(tmp_path / "train.tsv", 300, 0)
    _pairs(tmp_path / "dev.tsv", 10, 1)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    train(_config(tmp_path, straight, 6, "--train.save_every", "3"), progress=False)
    real = run_mod.save_training_checkpoint

    def save_then_die(trainer, *a, **k):
        path = real(trainer, *a, **k)
        if trainer.step == 3:
            raise KeyboardInterrupt
        return path

    monkeypatch.setattr(run_mod, "save_training_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(_config(tmp_path, killed, 6, "--train.save_every", "3"), progress=False)
    monkeypatch.setattr(run_mod, "save_training_checkpoint", real)
    # `-o DIR --resume` alone goes on with the run's own config (the defaults would not match the checkpoint).
    assert cli_main(["seq2seq", "train", "-o", str(killed), "--resume", "-q"]) == 0
    a = load_file(straight / "checkpoint-0000006" / "model.safetensors")
    b = load_file(killed / "checkpoint-0000006" / "model.safetensors")
    c = load_file(straight / "checkpoint-0000003" / "model.safetensors")
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=0, msg=k)
    assert any(not torch.equal(a[k], c[k]) for k in a)
    with pytest.raises(ElectraError, match="does not match checkpoint"):
        train(_config(tmp_path, killed, 9, "--train.save_every", "3", "--data.vocab_size", "50"), resume=True,
              progress=False)  # fmt: skip


def test_bad_input_is_one_line(tmp_path):
    src, tgt = tmp_path / "a.en", tmp_path / "a.es"
    src.write_text("one\ntwo\nthree\n", encoding="utf-8")
    tgt.write_text("uno\ndos\n", encoding="utf-8")
    cfg = build_seq2seq_config("tiny", None, ["--data.corpus", f"[{src}, {tgt}]", "--train.output_dir",
                                              str(tmp_path / "o")])  # fmt: skip
    with pytest.raises(ElectraError, match="has 3 lines but .* has 2"):
        train(cfg, progress=False)
    with pytest.raises(ElectraError, match="unknown language pair|does not exist"):
        train(build_seq2seq_config("tiny", None, ["--data.corpus", "bible-en-xx"]), progress=False)
    with pytest.raises(ElectraError, match="data.corpus"):
        build_seq2seq_config("tiny", None, ["--data.corpus", "[a, b, c]"])


def test_average_last_is_the_mean_of_the_newest_checkpoints(tmp_path):
    _pairs(tmp_path / "train.tsv", 200, 0)
    _pairs(tmp_path / "dev.tsv", 10, 1)
    out = tmp_path / "run"
    train(_config(tmp_path, out, 6, "--train.save_every", "2"), progress=False)
    averaged = run_mod.load_translator(out, "cpu", average_last=2).model.state_dict()
    a = load_file(out / "checkpoint-0000004" / "model.safetensors")
    b = load_file(out / "checkpoint-0000006" / "model.safetensors")
    for name, value in a.items():
        torch.testing.assert_close(averaged[name], (value + b[name]) / 2, msg=name)
    with pytest.raises(ElectraError, match="--average-last 9: .* holds 3 checkpoint"):
        run_mod.load_translator(out, "cpu", average_last=9)


def test_translate_keeps_order_and_empty_lines_and_warns_about_cut_sources(reverser, capsys):
    _, out, _ = reverser
    loaded = run_mod.load_translator(out, "cpu")
    long = " ".join(["w1"] * 300)  # beyond the 256 positions
    got = run_mod.translate(loaded.model, loaded.vocab, ["w1 w2 w3 w4 w5 w6", "", "w7 w8", long], beam=2)
    assert got[:3] == ["w6 w5 w4 w3 w2 w1", "", "w8 w7"]
    assert "1 sentence(s) longer than" in capsys.readouterr().err


def test_separate_vocabularies_train_save_and_translate(tmp_path):
    """data.joint_vocabulary false: one tokenizer per side, separate tables, both saved and used."""
    _pairs(tmp_path / "train.tsv", 200, 0)
    _pairs(tmp_path / "dev.tsv", 10, 1)
    out = tmp_path / "run"
    extra = ["--data.joint_vocabulary", "false", "--model.shared_embeddings", "false", "--train.save_every", "2"]
    train(_config(tmp_path, out, 2, *extra), progress=False)
    ckpt_dir = out / "checkpoint-0000002"
    assert (ckpt_dir / "tokenizer.json").is_file() and (ckpt_dir / "target_tokenizer.json").is_file()
    loaded = run_mod.load_translator(out, "cpu")
    assert not loaded.vocab.joint and loaded.model.src_embeddings is not loaded.model.tgt_embeddings
    assert loaded.model.config.tgt_vocab_size == loaded.vocab.target.get_vocab_size()
    assert len(run_mod.translate(loaded.model, loaded.vocab, ["w1 w2"], beam=1)) == 1
    with pytest.raises(ElectraError, match="data.joint_vocabulary"):
        build_seq2seq_config("tiny", None, ["--data.joint_vocabulary", "false"])  # shared tables need one vocabulary


def _without_key_bias(name, t):
    """A weight without its attention key bias: softmax ignores that bias, so its gradient is float noise, which
    Adam's normalisation turns into steps of full size (they differ between any two summation orders)."""
    if name.endswith("qkv.bias"):
        third = t.numel() // 3
        return torch.cat([t[:third], t[2 * third :]])
    if name.endswith("kv.bias"):
        return t[t.numel() // 2 :]
    return t


def test_torchrun_two_ranks_train_as_one_process_and_resume_on_one(tmp_path):
    """Each rank takes half the rows of every token-budget batch and weights its loss by its share of the
    batch's tokens: 2 gloo processes reach one process's weights, write one run, and resume in one process."""
    import os

    from electra.train.metrics import read_metrics

    _pairs(tmp_path / "train.tsv", 300, 0)
    _pairs(tmp_path / "dev.tsv", 10, 1)
    one, two = tmp_path / "one", tmp_path / "two"
    train(_config(tmp_path, one, 6, "--train.save_every", "3"), progress=False)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                "-m", "electra.cli.main", "seq2seq", "train", "--preset", "tiny"]  # fmt: skip
    done = subprocess.run([*launcher, *_args(tmp_path, two, 6, "--train.save_every", "3")], capture_output=True,
                          text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in two.glob("checkpoint-*")) == ["checkpoint-0000003", "checkpoint-0000006"]
    a = load_file(one / "checkpoint-0000006" / "model.safetensors")
    b = load_file(two / "checkpoint-0000006" / "model.safetensors")
    start = load_file(one / "checkpoint-0000003" / "model.safetensors")
    assert any(not torch.equal(a[k], start[k]) for k in a)
    for k in a:
        torch.testing.assert_close(_without_key_bias(k, b[k]), _without_key_bias(k, a[k]), atol=1e-6, rtol=1e-5,
                                   msg=k)  # fmt: skip
    rows_one, rows_two = read_metrics(one / "metrics.jsonl"), read_metrics(two / "metrics.jsonl")
    assert [r["step"] for r in rows_two] == [r["step"] for r in rows_one]
    assert rows_two[-1]["loss"] == pytest.approx(rows_one[-1]["loss"], rel=1e-4)
    assert rows_two[-1]["eval_bleu"] == pytest.approx(rows_one[-1]["eval_bleu"])
    train(_config(tmp_path, two, 8, "--train.save_every", "4"), resume=True, progress=False)
    assert (two / "checkpoint-0000008").is_dir()


def test_max_minutes_ends_the_run_with_a_checkpoint_and_dev_scores(tmp_path):
    """A limit already passed at the first check (step 5): training stops there, evaluates and saves."""
    _pairs(tmp_path / "train.tsv", 300, 0)
    _pairs(tmp_path / "dev.tsv", 10, 1)
    out = tmp_path / "timed"
    last = train(_config(tmp_path, out, 1000, "--train.max_minutes", "0.00001", "--train.save_every", "1000",
                         "--train.log_every", "5"), progress=False)  # fmt: skip
    assert [p.name for p in out.glob("checkpoint-*")] == ["checkpoint-0000005"]
    assert "eval_bleu" in last
