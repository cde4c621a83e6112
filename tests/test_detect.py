"""`electra detect` / `fill-mask` as tools: base-rate marking, --top, JSON, many lines from a file or stdin,
and the planted-word measure of detection quality."""

from __future__ import annotations

import io
import json
import random

import pytest
import torch

from electra.cli.main import main as cli_main
from electra.data.tokenizer import train_wordpiece
from electra.generation import detection_quality, marked_words, plant, render_detection, score_planted
from electra.generation import text as text_mod
from electra.generation.text import Detection, WordScore
from electra.models import Discriminator, Electra, ElectraConfig, EncoderConfig

WORDS = "the river city market stone road garden winter music light water fire book school king queen".split()
PLANTED = "kitchen"


def _sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 10))) + " ." for _ in range(n)]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny random ELECTRA with a tokenizer and a recorded base rate of 0.2."""
    tok = train_wordpiece(_sentences(200) + [PLANTED] * 5, vocab_size=120, min_frequency=1)
    enc = EncoderConfig(vocab_size=128, hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
                        embedding_size=16, max_position_embeddings=64, dropout=0.0, attention_dropout=0.0)  # fmt: skip
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("detect") / "checkpoint-0000001"
    Electra(ElectraConfig(enc, 0.5)).save_pretrained(path, tok, {"base_rate": 0.2, "kind": "pretrained"})
    return path, tok


@pytest.fixture
def planted_scores(checkpoint, monkeypatch):
    """The discriminator made to give the planted word 0.3 and every other token 0.1 (all under 0.5)."""
    _, tok = checkpoint
    planted = tok.token_to_id(PLANTED)

    def fake(discriminator, inputs):
        return torch.where(inputs["input_ids"] == planted, 0.3, 0.1)

    monkeypatch.setattr(text_mod, "replaced_probabilities", fake)


def _detection(probs: list[float]) -> Detection:
    words, start = [], 0
    for i, p in enumerate(probs):
        words.append(WordScore(f"w{i}", start, start + 2, p, [i + 1]))
        start += 3
    return Detection(" ".join(w.word for w in words), [], words)


def test_marking_against_the_base_rate_threshold_and_top_k():
    d = _detection([0.12, 0.13, 0.30, 0.11, 0.25])
    assert marked_words(d, base_rate=0.2) == [2, 4]  # above the base rate, most suspicious first
    assert marked_words(d, base_rate=0.2, threshold=0.5) == []  # the absolute rule marks nothing
    assert marked_words(d, base_rate=0.2, threshold=0.25) == [2, 4]
    assert marked_words(d, base_rate=0.2, top=3) == [2, 4, 1]
    assert render_detection(d, [2]) == "w0 w1 [[w2]](0.30) w3 w4"


def test_detect_marks_the_planted_word_under_0_5(checkpoint, planted_scores, capsys):
    path, _ = checkpoint
    assert cli_main(["detect", f"the river runs through the {PLANTED} of the city .", "-c", str(path)]) == 0
    out = capsys.readouterr().out.strip()
    assert out == f"the river runs through the [[{PLANTED}]](0.30) of the city ."  # base rate 0.2 from the checkpoint
    assert cli_main(["detect", f"the {PLANTED} .", "-c", str(path), "--threshold", "0.5"]) == 0
    assert "[[" not in capsys.readouterr().out


def test_json_carries_the_numbers_of_the_text_output(checkpoint, capsys):
    path, _ = checkpoint
    text = "the river city market ."
    assert cli_main(["detect", text, "-c", str(path), "-v"]) == 0
    verbose = [ln.split() for ln in capsys.readouterr().out.splitlines()[2:]]
    assert cli_main(["detect", text, "-c", str(path), "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert [t["token"] for t in row["tokens"]] == [v[0] for v in verbose]
    assert [round(t["prob"], 3) for t in row["tokens"]] == [float(v[1]) for v in verbose]
    assert row["base_rate"] == 0.2 and row["text"] == text
    assert [w["word"] for w in row["words"]] == ["the", "river", "city", "market", "."]
    assert row["marked"] == [w["word"] for w in sorted(row["words"], key=lambda w: -w["prob"]) if w["prob"] > 0.2]
    for w in row["words"]:
        assert text[w["start"] : w["end"]] == w["word"]


def test_many_lines_from_a_file_or_stdin_give_the_same_results(checkpoint, tmp_path, monkeypatch, capsys):
    path, _ = checkpoint
    lines = _sentences(70, seed=3)
    (tmp_path / "in.txt").write_text("\n".join(lines[:35]) + "\n\n" + "\n".join(lines[35:]) + "\n")
    argv = ["detect", "-c", str(path), "--input", str(tmp_path / "in.txt"), "--json", "--batch-size", "16"]
    from_file = [json.loads(ln) for ln in _run(capsys, argv)]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines)))
    assert cli_main(["detect", "-c", str(path), "--json", "--top", "2"]) == 0
    from_stdin = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in from_file] == lines == [r["text"] for r in from_stdin]
    for a, b in zip(from_file, from_stdin, strict=True):  # batches of 16 and 64: the same numbers
        assert [t["prob"] for t in a["tokens"]] == pytest.approx([t["prob"] for t in b["tokens"]], abs=1e-5)
        assert len(b["marked"]) == 2  # --top 2 marks exactly two words
    one = [json.loads(ln) for ln in _run(capsys, ["detect", lines[5], "-c", str(path), "--json"])]
    assert [t["prob"] for t in one[0]["tokens"]] == pytest.approx([t["prob"] for t in from_file[5]["tokens"]], abs=1e-5)


def _run(capsys, argv: list[str]) -> list[str]:
    assert cli_main(argv) == 0
    return capsys.readouterr().out.splitlines()


def test_fill_mask_json_for_many_lines(checkpoint, tmp_path, capsys):
    path, _ = checkpoint
    (tmp_path / "m.txt").write_text("the [MASK] city .\nthe river [MASK] [MASK] .\n")
    rows = [json.loads(ln) for ln in _run(capsys, ["fill-mask", "-c", str(path), "-i", str(tmp_path / "m.txt"),
                                                    "--json", "-k", "3"])]  # fmt: skip
    assert [len(r["masks"]) for r in rows] == [1, 2]
    assert all(len(m["candidates"]) == 3 for r in rows for m in r["masks"])
    single = _run(capsys, ["fill-mask", "the river [MASK] [MASK] .", "-c", str(path), "-k", "3"])
    first = rows[1]["masks"][0]["candidates"]
    assert single[0].startswith(f"[MASK] at token {rows[1]['masks'][0]['position']}: {first[0]['token']} ")
    assert cli_main(["fill-mask", "-c", str(path), "no mask here"]) == 2


def test_planted_word_quality_chance_for_an_untrained_model_perfect_for_an_oracle(checkpoint):
    _, tok = checkpoint
    texts = _sentences(400, seed=5)
    torch.manual_seed(1)
    disc = Discriminator(EncoderConfig(vocab_size=128, hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
                                       embedding_size=16, max_position_embeddings=64)).eval()  # fmt: skip
    untrained = detection_quality(disc, tok, texts, seed=0)
    assert untrained.sentences == 400 and 0.4 < untrained.auc < 0.6, untrained
    assert abs(untrained.top1 - untrained.chance_top1) < 0.1, untrained
    planted = plant(tok, texts, seed=0)
    assert all(p.ids[p.position] not in p.original or len(p.original) > 1 for p in planted)

    def oracle(inputs):  # knows where each planted token is
        probs = torch.full(inputs["input_ids"].shape, 0.1)
        for r, p in enumerate(planted[oracle.offset : oracle.offset + len(probs)]):
            probs[r, p.position] = 0.9
        oracle.offset += len(probs)
        return probs

    oracle.offset = 0
    perfect = score_planted(planted, oracle, batch_size=64)
    assert (perfect.auc, perfect.top1) == (1.0, 1.0) and perfect.chance_top1 < 0.25


def test_bad_input_is_one_line(checkpoint, tmp_path, capsys):
    path, _ = checkpoint
    for argv, said in [
        (["detect", "x", "-c", str(path), "--input", str(tmp_path / "nope.txt")], "give a text or --input, not both"),
        (["detect", "-c", str(path), "--input", str(tmp_path / "nope.txt")], "input file not found"),
        (["detect", "x", "-c", str(path), "--top", "0"], "--top must be at least 1"),
        (["detect", "-c", str(path), "--evaluate", str(tmp_path / "nope.txt")], "evaluation file not found"),
    ]:
        assert cli_main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and said in err, err


def test_a_reader_that_goes_away_ends_the_command_quietly(checkpoint, tmp_path):
    """`electra detect ... | head -1`: the closed pipe ends the command with SIGPIPE's status, no traceback."""
    import subprocess
    import sys

    path, _ = checkpoint
    (tmp_path / "in.txt").write_text("\n".join(_sentences(2000, seed=4)) + "\n")
    inputs = str(tmp_path / "in.txt")
    argv = [sys.executable, "-m", "electra.cli.main", "detect", "-c", str(path), "-i", inputs, "--json"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().startswith(b'{"text": ')
    proc.stdout.close()  # more than a pipe's buffer is still to come
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
