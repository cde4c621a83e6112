"""CI runs the pretraining-step benchmark's CPU smoke mode: this project's step and the `transformers`
peer's on tiny shapes; both must run, and their losses must be on the same scale (the script asserts it); their
memory measurements run too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "pretrain_step.py"


def test_benchmark_smoke_mode_runs_both_steps():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke"], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [ln for ln in proc.stdout.splitlines() if ln.startswith("| smoke |")]
    # The resident-memory table, the step times, then what a forward keeps for backward.
    assert [r.split("|")[2].strip() for r in rows] == ["ours", "peer"] * 3, proc.stdout
    resident, kept = rows[:2], rows[4:]
    assert all(float(r.split("|")[4]) >= 0 for r in resident)  # a high-water mark: small steps may add nothing
    assert all(float(r.split("|")[4]) > 0 for r in kept)


def test_seq2seq_benchmark_smoke_mode_runs_both_models():
    """The translation benchmark on tiny shapes: ours and Marian of the same (trainable) size both train and
    beam-search."""
    script = SCRIPT.parent / "seq2seq.py"
    proc = subprocess.run([sys.executable, str(script), "--smoke"], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [ln.split("|") for ln in proc.stdout.splitlines() if ln.startswith("| smoke |")]
    assert [r[2].strip() for r in rows] == ["ours", "peer"] and rows[0][3] == rows[1][3], proc.stdout
    assert "ours / peer: training" in proc.stdout


def test_generation_benchmarks_smoke_mode_run_every_row():
    """The image benchmark (a pair trained for a few steps, the tutorials' GAN, three rules, the judge) and the text
    infilling one (a random pair, every setting) on tiny data."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(SCRIPT.parent / "image_generation.py"), "--smoke"], capture_output=True,
                          text=True, env=env, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [ln.split("|")[1].strip().split(" (")[0] for ln in proc.stdout.splitlines() if ln.startswith("| ")][1:]
    assert rows == ["real training images", "tutorials' dense GAN", "generator + random", "generator + confidence",
                    "generator + critic"], proc.stdout  # fmt: skip
    proc = subprocess.run([sys.executable, str(SCRIPT.parent / "text_infill.py"), "--smoke"], capture_output=True,
                          text=True, env=env, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sum(ln.startswith("| one-shot") or ln.startswith("| refined") for ln in proc.stdout.splitlines()) == 5


def test_sdpa_kernel_benchmark_smoke_mode_times_every_mask_form():
    proc = subprocess.run([sys.executable, str(SCRIPT.parent / "sdpa_kernels.py"), "--smoke"], capture_output=True,
                          text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [ln.split("|") for ln in proc.stdout.splitlines() if ln.startswith("| smoke |")]
    assert [r[2].strip() for r in rows] == ["none", "bool", "additive"]
    assert all(r[8].strip() != "refused" for r in rows)  # the math kernel takes every form
