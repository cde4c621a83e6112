"""CI runs the pretraining-step benchmark's CPU smoke mode: this project's step and the `transformers`
peer's on tiny shapes; both must run, and their losses must be on the same scale (the script asserts it)."""

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
    assert [r.split("|")[2].strip() for r in rows] == ["ours", "peer"], proc.stdout
