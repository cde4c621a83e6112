"""Faults a real user meets: divergence, two runs on one directory, a full disk, bad output paths, interrupted
writes, bad arguments. Each test reproduces the fault through the command line (or the function it calls)
and checks one line of error, the exit status and that nothing half-written is left."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_pretrain import MICRO, assert_one_line_error, write_corpus

from electra.core.errors import ElectraError
from electra.core.lock import LOCK_NAME, run_lock


def _cli(*args: str, cwd: Path, limit_bytes: int | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """``electra ARGS`` in a child process, optionally with a file-size limit (a full disk, as the writer
    sees it: writes past the limit fail with EFBIG)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "electra.cli.main", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout, preexec_fn=limit if limit_bytes else None)  # fmt: skip


def _pretrain(tmp_path: Path, out: str, *extra: str, limit_bytes: int | None = None) -> subprocess.CompletedProcess:
    corpus = tmp_path / "c.txt"
    if not corpus.exists():
        write_corpus(corpus, n_docs=60)
    return _cli("pretrain", "--preset", "tiny", "-q", *MICRO, "--data.corpus", str(corpus), "-o", out, *extra,
                cwd=tmp_path, limit_bytes=limit_bytes)  # fmt: skip


def _strict_json_lines(path: Path) -> list[dict]:
    def refuse(name: str) -> None:
        raise ValueError(f"{path} holds {name}, which is not JSON")

    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


def _all_finite(checkpoint: Path) -> bool:
    return all(torch.isfinite(t).all() for t in load_file(checkpoint / "model.safetensors").values())


# ------------------------------------------------------------------------------------------------ divergence


def test_divergence_stops_the_run_before_any_bad_checkpoint(tmp_path):
    """lr 1e3 explodes the loss within a few steps: the run stops with exit 2 naming the step, every
    checkpoint it wrote is finite (the bad updates were skipped on the device), metrics.jsonl is JSON."""
    proc = _pretrain(tmp_path, "run", "--train.steps", "40", "--train.lr", "1e3", "--train.warmup_steps", "0",
                     "--train.save_every", "2", "--train.log_every", "3")  # fmt: skip
    assert_one_line_error(proc, r"training diverged: \d+ step\(s\) up to step \d+ had a non-finite loss")
    checkpoints = sorted((tmp_path / "run").glob("checkpoint-*"))
    assert checkpoints and all(_all_finite(c) for c in checkpoints)
    assert not list((tmp_path / "run").glob(".tmp-*"))
    _strict_json_lines(tmp_path / "run" / "metrics.jsonl")


def test_a_bounded_number_of_bad_steps_can_be_skipped(tmp_path):
    proc = _pretrain(tmp_path, "run", "--train.steps", "8", "--train.lr", "1e3", "--train.warmup_steps", "0",
                     "--train.save_every", "8", "--train.skip_nonfinite_steps", "1000")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = _strict_json_lines(tmp_path / "run" / "metrics.jsonl")
    assert rows[-1]["skipped_steps"] > 0
    assert _all_finite(tmp_path / "run" / "checkpoint-0000008")


def test_non_finite_settings_are_refused(tmp_path):
    for value in ("inf", "nan", "-.inf"):
        proc = _pretrain(tmp_path, "run", "--train.lr", value)
        assert_one_line_error(proc, "config value for train.lr is not a finite number")
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------------------------ locking


def _hold_lock(directory: Path) -> subprocess.Popen:
    """A child process holding ``directory``'s run lock until killed."""
    code = ("import sys, time; from pathlib import Path; from electra.core.lock import run_lock\n"
            "with run_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(600)")  # fmt: skip
    child = subprocess.Popen([sys.executable, "-c", code, str(directory)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    return child


def test_a_run_directory_in_use_is_refused_and_a_dead_holder_releases_it(tmp_path):
    run = tmp_path / "run"
    holder = _hold_lock(run)
    try:
        proc = _pretrain(tmp_path, "run", "--train.steps", "2")
        assert_one_line_error(proc, rf"^electra: error: run is in use by another run \(process {holder.pid} on .*\)")
        with pytest.raises(ElectraError, match="is in use by another run"):
            with run_lock(run):
                pass
    finally:
        holder.kill()  # as kill -9: the operating system releases the lock
        holder.wait()
    proc = _pretrain(tmp_path, "run", "--train.steps", "2", "--train.save_every", "2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (run / "checkpoint-0000002").is_dir() and not (run / LOCK_NAME).exists()  # stale lock taken, removed
    with run_lock(run):  # in one process too, a second holder is refused
        with pytest.raises(ElectraError, match="is in use by another run"):
            with run_lock(run):
                pass
    assert not (run / LOCK_NAME).exists()


def test_fine_tuning_output_in_use_is_refused(tmp_path):
    from electra.recipes.finetune import FinetuneConfig, TaskSpec, finetune

    holder = _hold_lock(tmp_path / "ft")
    try:
        with pytest.raises(ElectraError, match="ft is in use by another run"):
            finetune(FinetuneConfig(model="x", task=TaskSpec("classification"), output_dir=str(tmp_path / "ft")))
    finally:
        holder.kill()
        holder.wait()


def test_a_failed_start_leaves_no_directory(tmp_path):
    proc = _pretrain(tmp_path, "out", "--data.corpus", str(tmp_path / "nowhere"))
    assert_one_line_error(proc, "corpus path not found")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------------ full disk


def test_a_full_disk_while_saving_a_checkpoint_is_one_line_and_leaves_nothing(tmp_path):
    proc = _pretrain(tmp_path, "warm", "--train.steps", "1", "--train.save_every", "1")  # corpus and data cached
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = _pretrain(tmp_path, "run", "--train.steps", "2", "--train.save_every", "2", limit_bytes=60_000)
    assert_one_line_error(proc, r"could not save checkpoint .*checkpoint-0000002: File too large")
    assert not [p.name for p in (tmp_path / "run").iterdir() if "checkpoint" in p.name]


def test_a_full_disk_during_export_and_fine_tuning_leaves_nothing(tmp_path):
    assert _pretrain(tmp_path, "run", "--train.steps", "2", "--train.save_every", "2").returncode == 0
    proc = _cli("export", "run", "hf", cwd=tmp_path, limit_bytes=60_000)
    assert_one_line_error(proc, r"could not write .*hf/discriminator: File too large")
    assert not (tmp_path / "hf").exists() or not list((tmp_path / "hf").iterdir())
    rows = [json.dumps({"text": f"river {'city' if i % 2 else 'stone'}", "label": str(i % 2)}) for i in range(40)]
    (tmp_path / "t.jsonl").write_text("\n".join(rows) + "\n")
    proc = _cli("finetune", "-m", "run", "--task", "classification", "--train", "t.jsonl", "--epochs", "1", "-o", "ft",
                "-q", cwd=tmp_path, limit_bytes=60_000)  # fmt: skip
    assert_one_line_error(proc, r"could not save checkpoint .*: File too large")
    assert not list((tmp_path / "ft").rglob("checkpoint-*")) and not list((tmp_path / "ft").rglob(".tmp-*"))
    # and with room, the same export works and is refused the second time unless --overwrite
    assert _cli("export", "run", "hf", cwd=tmp_path).returncode == 0
    assert_one_line_error(_cli("export", "run", "hf", cwd=tmp_path), "already exists; .*--overwrite")
    assert _cli("export", "run", "hf", "--overwrite", cwd=tmp_path).returncode == 0


def test_a_full_disk_while_training_a_tokenizer_or_preparing_data_leaves_nothing(tmp_path):
    write_corpus(tmp_path / "c.txt", n_docs=60)
    assert _cli("tokenizer", "train", "c.txt", "--out", "tok", "--vocab-size", "120", cwd=tmp_path).returncode == 0
    proc = _cli("tokenizer", "train", "c.txt", "--out", "tok2", "--vocab-size", "120", cwd=tmp_path, limit_bytes=3000)
    assert_one_line_error(proc, r"could not write tok2/tokenizer.json: File too large")
    proc = _cli("data", "prepare", "c.txt", "--tokenizer", "tok", "--out", "prep", "--max-seq-length", "32",
                cwd=tmp_path, limit_bytes=3000)  # fmt: skip
    assert_one_line_error(proc, r"could not write prepared data in prep: (File too large|disk full or file too large)")
    assert not (tmp_path / "tok2").exists() and not (tmp_path / "prep").exists()


# ------------------------------------------------------------------------------------------------ paths


def test_unusable_output_paths_are_refused_up_front(tmp_path):
    (tmp_path / "file").write_text("x")
    started = time.time()
    for out in (str(tmp_path / "file"), "/proc/electra-run"):
        proc = _pretrain(tmp_path, out, "--train.steps", "2")
        assert_one_line_error(proc, f"cannot use {out} as a run directory")
    assert time.time() - started < 120


@pytest.mark.parametrize("bad", ["the other kind", "under a regular file", "under /proc"])
def test_every_command_that_writes_checks_its_output_first(tmp_path, capsys, bad):
    """export, import, predict, evaluate --json, tokenizer train and data prepare refuse an output they
    cannot write before reading anything (the checkpoints and data named here do not even exist)."""
    from electra.cli.main import main as cli_main

    (tmp_path / "file").write_text("x")
    out_dir, out_file = {"the other kind": (tmp_path / "file", tmp_path),
                         "under a regular file": (tmp_path / "file" / "out", tmp_path / "file" / "out.json"),
                         "under /proc": (Path("/proc/electra-test"), Path("/proc/electra-test.json"))}[bad]  # fmt: skip
    commands = [
        ["export", "nowhere", str(out_dir)],
        ["import", str(tmp_path), str(out_dir)],
        ["tokenizer", "train", "nowhere.txt", "--out", str(out_dir)],
        ["data", "prepare", "nowhere.txt", "--tokenizer", "nowhere", "--out", str(out_dir)],
        ["predict", "-m", "nowhere", "in.jsonl", "-o", str(out_file)],
        ["evaluate", "-m", "nowhere", "in.jsonl", "--json", str(out_file)],
    ]
    reasons = ("is a file, not a directory", "it is a directory", "cannot be created in /proc")
    for argv in commands:
        assert cli_main(argv) == 2, argv
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert last.startswith("electra: error: cannot write ") and any(r in last for r in reasons), (argv, last)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing created


# ------------------------------------------------------------------------------------------------ long inputs


def test_a_line_of_megabytes_is_read_in_bounded_memory(tmp_path):
    """An 11 MB file of one line streams as documents of at most MAX_DOCUMENT_CHARS, cut at spaces, with
    Python-side memory far below the line's size (reading the line whole needs more than twice its size)."""
    import tracemalloc

    from electra.data.corpus import MAX_DOCUMENT_CHARS, iter_documents

    words = [f"w{i % 997}" for i in range(2_000_000)]
    (tmp_path / "one-line.txt").write_text(" ".join(words) + "\n")
    for doc_per_line in (True, False):
        tracemalloc.start()
        sizes = [len(doc) for doc in iter_documents([tmp_path / "one-line.txt"], doc_per_line=doc_per_line)]
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 4_000_000 and max(sizes) <= MAX_DOCUMENT_CHARS, (peak, max(sizes))
    read = [w for doc in iter_documents([tmp_path / "one-line.txt"]) for w in doc.split()]
    assert read == words  # no word cut, none lost, in order


def test_a_step_that_cannot_fit_is_refused_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("ELECTRA_CACHE", str(tmp_path / "cache"))
    proc = _pretrain(tmp_path, "run", "--data.max_seq_length", "100000", "--model.max_position_embeddings", "100000")
    assert_one_line_error(proc, r"data.max_seq_length = 100000 .* needs at least [\d,.]+ GiB .* this machine has")
    assert not (tmp_path / "run").exists()
    assert not list((tmp_path / "cache").rglob("*.npy"))  # the corpus was not prepared


# ------------------------------------------------------------------------------------------------ interrupted


def test_stale_temporaries_and_half_deleted_checkpoints_are_cleaned(tmp_path):
    assert _pretrain(tmp_path, "run", "--train.steps", "2", "--train.save_every", "2").returncode == 0
    run = tmp_path / "run"
    for name in (".tmp-checkpoint-0000004-abc", ".deleting-checkpoint-0000001"):
        (run / name).mkdir()
        (run / name / "model.safetensors").write_bytes(b"trunc")
    proc = _pretrain(tmp_path, "run", "--train.steps", "4", "--train.save_every", "2", "--resume")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".") and p.name != LOCK_NAME) == []
    assert (run / "checkpoint-0000004").is_dir()
    umask = os.umask(0)
    os.umask(umask)  # checkpoints get the user's usual permissions, not mkdtemp's private ones
    assert (run / "checkpoint-0000004").stat().st_mode & 0o777 == 0o777 & ~umask
    assert (run / "checkpoint-0000004" / "model.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask


def test_pruning_renames_before_deleting(tmp_path, tiny_electra_config, monkeypatch):
    """A kill during pruning leaves a hidden ``.deleting-*`` directory, never a partial checkpoint under a
    valid name."""
    import shutil

    from electra.core import checkpoint as ck
    from electra.models import Electra

    model = Electra(tiny_electra_config)
    for step in (1, 2, 3):
        ck.write_checkpoint(tmp_path / ck.checkpoint_name(step), model, {}, trainer_state={"step": step})

    def killed(path, *a, **k):
        (Path(path) / "trainer_state.pt").unlink()  # half deleted ...
        raise KeyboardInterrupt  # ... when the process dies

    monkeypatch.setattr(shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        ck.prune_checkpoints(tmp_path, keep=2)
    assert [p.name for p in ck.checkpoint_dirs(tmp_path)] == ["checkpoint-0000002", "checkpoint-0000003"]
    assert (tmp_path / ".deleting-checkpoint-0000001").is_dir()


# ------------------------------------------------------------------------------------------------ arguments


def test_bad_arguments_of_fill_mask_and_detect(tmp_path):
    assert _pretrain(tmp_path, "run", "--train.steps", "2", "--train.save_every", "2").returncode == 0
    for args, said in [
        (["fill-mask", "a [MASK]", "-c", "run", "-k", "-3"], "-k/--top-k must be at least 1, got -3"),
        (["fill-mask", "a [MASK]", "-c", "run", "-k", "0"], "-k/--top-k must be at least 1, got 0"),
        (["detect", "", "-c", "run"], "the text is empty"),
        (["detect", "a b", "-c", "run", "--threshold", "7"], r"--threshold must be in \[0, 1\], got 7"),
    ]:
        assert_one_line_error(_cli(*args, cwd=tmp_path), said)


def test_corrupt_files_are_named_as_corrupt(tmp_path):
    assert _pretrain(tmp_path, "run", "--train.steps", "2", "--train.save_every", "2").returncode == 0
    ckpt = tmp_path / "run" / "checkpoint-0000002"
    state = (ckpt / "trainer_state.pt").read_bytes()
    (ckpt / "trainer_state.pt").write_bytes(state[: len(state) // 2])
    proc = _pretrain(tmp_path, "run", "--train.steps", "4", "--resume")
    assert_one_line_error(proc, r"trainer_state.pt: it is corrupt")
    assert "weights_only=False" not in proc.stderr
    weights = (ckpt / "model.safetensors").read_bytes()
    (ckpt / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    proc = _cli("detect", "a b", "-c", "run", cwd=tmp_path)
    assert_one_line_error(proc, r"model.safetensors is corrupt or truncated")
    (ckpt / "model.safetensors").write_bytes(weights)
    from safetensors.torch import save_file

    tensors = load_file(ckpt / "model.safetensors")
    name = next(k for k in sorted(tensors) if k.endswith("qkv.weight"))
    tensors[name] = tensors[name][:-1]
    save_file(tensors, ckpt / "model.safetensors")
    proc = _cli("detect", "a b", "-c", "run", cwd=tmp_path)
    assert_one_line_error(proc, rf"does not fit the model: size mismatch for {name}: .*torch.Size\(\[\d+, \d+\]\)")


def test_yaml_that_is_not_a_mapping_or_not_yaml(tmp_path):
    for text, said in [("false\n", "expected a mapping of sections"), ("[]\n", "expected a mapping of sections"),
                       ("train: [1, 2\n", r"is not valid YAML \(line 2, column 1\)")]:  # fmt: skip
        (tmp_path / "c.yaml").write_text(text)
        assert_one_line_error(_cli("pretrain", "--config", "c.yaml", cwd=tmp_path), said)


def test_resume_past_the_end_and_sigterm(tmp_path):
    assert _pretrain(tmp_path, "run", "--train.steps", "2", "--train.save_every", "2").returncode == 0
    before = (tmp_path / "run" / "config.yaml").read_text()
    proc = _pretrain(tmp_path, "run", "--train.steps", "1", "--resume")
    assert_one_line_error(proc, r"--resume: .*checkpoint-0000002 is at step 2, not before train.steps = 1")
    assert (tmp_path / "run" / "config.yaml").read_text() == before  # nothing rewritten
    corpus = tmp_path / "c.txt"
    child = subprocess.Popen([sys.executable, "-m", "electra.cli.main", "pretrain", "--preset", "tiny", *MICRO,
                              "--data.corpus", str(corpus), "-o", "long", "--train.steps", "100000"],
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.time() + 120
    while not (tmp_path / "long" / "metrics.jsonl").exists() and time.time() < deadline:
        time.sleep(0.2)
    child.terminate()
    _, err = child.communicate(timeout=60)
    assert child.returncode == 143 and err.strip().splitlines()[-1] == "electra: terminated", err[-2000:]
    assert not list((tmp_path / "long").glob(".tmp-*"))


def _lines(path: Path) -> int:
    return len(path.read_bytes().splitlines()) if path.is_file() else 0


def test_kill_9_soak_resumes_to_the_uninterrupted_weights(tmp_path):
    """A run killed with SIGKILL ten times at random moments once it is training (in steps, checkpoint
    writes, pruning: a checkpoint every 3 steps makes saving a large share of the time) and resumed each
    time ends with the weights of a run that was never interrupted, valid metrics and no stray temporaries."""
    import random

    args = ["--train.steps", "100", "--train.save_every", "3", "--train.keep_checkpoints", "2",
            "--model.dropout", "0.1"]  # fmt: skip
    assert _pretrain(tmp_path, "straight", *args).returncode == 0
    command = [sys.executable, "-m", "electra.cli.main", "pretrain", "--preset", "tiny", "-q", *MICRO,
               "--data.corpus", str(tmp_path / "c.txt"), "-o", "killed", *args]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run, metrics, rng, kills = tmp_path / "killed", tmp_path / "killed" / "metrics.jsonl", random.Random(0), 0
    deadline = time.time() + 300
    while time.time() < deadline and not (run / "checkpoint-0000100").is_dir():
        resume = ["--resume"] if list(run.glob("checkpoint-*")) else []
        child = subprocess.Popen([*command, *resume], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)  # fmt: skip
        if kills < 10:
            logged = _lines(metrics)
            while child.poll() is None and _lines(metrics) <= logged and time.time() < deadline:
                time.sleep(0.005)  # until this run has trained a step
            # up to 0.1 s more: on free cores this model trains tens of steps a second, and a longer wait let an
            # attempt reach step 100 before the tenth kill
            time.sleep(rng.uniform(0.0, 0.1))
            if child.poll() is None:
                child.kill()
                child.wait()
                kills += 1
                continue
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err[-2000:]
        break
    assert kills == 10 and (run / "checkpoint-0000100").is_dir(), (kills, sorted(p.name for p in run.iterdir()))
    a = load_file(tmp_path / "straight" / "checkpoint-0000100" / "model.safetensors")
    b = load_file(run / "checkpoint-0000100" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [p.name for p in run.iterdir() if p.name.startswith(".") and p.name != LOCK_NAME] == []
    assert {row["step"] for row in _strict_json_lines(metrics)} == set(range(1, 101))
