"""What the training commands (``pretrain``, ``seq2seq train``) share: their run options, and how a run's
configuration is resolved (preset < YAML < overrides; on ``--resume`` alone, the checkpoint's own)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any


def add_run_options(p: argparse.ArgumentParser, presets: str) -> None:
    """``--preset``, ``--config``, ``-o``, ``--resume``, ``--show-config`` and ``-q``."""
    p.add_argument("--preset", help=presets)
    p.add_argument("--config", type=Path, help="YAML config file")
    p.add_argument("-o", "--output-dir", help="run directory (same as --train.output_dir)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in the run directory "
                   "(with no --preset or --config: with the checkpoint's own config, then the overrides)")  # fmt: skip
    p.add_argument("--show-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def resolved_config(args: argparse.Namespace, overrides: list[str], build: Callable[..., Any],
                    from_saved: Callable[[dict, list[str]], Any]) -> Any:  # fmt: skip
    """``build(preset, config_file, overrides)``; but resuming with neither a preset nor a YAML file, the newest
    checkpoint's saved config with the overrides applied (``from_saved``), so that ``-o DIR --resume`` goes on
    with the run's own settings."""
    from electra.core import checkpoint as ckpt
    from electra.models.pretrained import saved_train_config

    if args.output_dir:
        overrides = [*overrides, "--train.output_dir", args.output_dir]
    cfg = build(args.preset, args.config, overrides)
    if args.resume and not args.preset and not args.config:
        latest = ckpt.latest_checkpoint(Path(cfg.train.output_dir))
        saved = saved_train_config(latest) if latest is not None else None
        if saved is not None:
            cfg = from_saved(saved, overrides)
            cfg.validate()
    return cfg
