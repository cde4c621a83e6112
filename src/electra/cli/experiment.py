"""``electra experiment``: pretraining variants compared downstream at equal compute."""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """examples:
  electra experiment experiments/paper-small-gpu.yaml -o runs/paper-small   # ELECTRA vs MLM vs random init
  electra experiment experiments/cpu-micro.yaml -o runs/micro               # minutes on a laptop

Started again with the same -o, a stopped experiment completes: finished stages are skipped, a
pretraining run resumes from its newest checkpoint. Writes results.md, results.json and results.png."""


def _cmd_experiment(args: argparse.Namespace) -> None:
    from electra.core.atomic import check_writable
    from electra.experiments.runner import read_spec, run_experiment

    spec = read_spec(Path(args.spec))
    out = Path(args.output_dir)
    check_writable(out, "experiment directory", directory=True)
    run_experiment(spec, out, progress=not args.quiet)
    print((out / "results.md").read_text(), end="")
    print(f"results: {out / 'results.md'}, {out / 'results.json'}, {out / 'results.png'}")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``experiment`` command."""
    ex = sub.add_parser("experiment", help="pretrain variants at equal compute, fine-tune each, tabulate",
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ex.add_argument("spec", help="YAML spec: preset, corpus, budget, variants, tasks, seeds, finetune settings")
    ex.add_argument("-o", "--output-dir", required=True, help="experiment directory (resumable)")
    ex.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    ex.set_defaults(func=_cmd_experiment)
