"""``electra pretrain``: ELECTRA (or a masked LM) on a corpus, configured by preset, YAML and overrides."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EPILOG = """\
Any config value can be overridden as --section.key VALUE, e.g.
  --train.steps 2000 --model.num_layers 6 --data.corpus my_texts/ --objective.kind mlm
Sections: model, objective, data, train (see `electra pretrain --show-config`)."""


def _resolved_config(args: argparse.Namespace, overrides: list[str]):
    from electra.core import checkpoint as ckpt
    from electra.models.pretrained import saved_train_config
    from electra.recipes.pretrain.config import build_config, config_from_dict

    if args.output_dir:
        overrides = [*overrides, "--train.output_dir", args.output_dir]
    cfg = build_config(args.preset, args.config, overrides)
    if args.resume and not args.preset and not args.config:
        # Resuming without a preset: start from the checkpoint's own config, then the overrides.
        latest = ckpt.latest_checkpoint(Path(cfg.train.output_dir))
        saved = saved_train_config(latest) if latest is not None else None
        if saved is not None:
            cfg = config_from_dict(saved, overrides)
            cfg.validate()
    return cfg


def _cmd_pretrain(args: argparse.Namespace, overrides: list[str]) -> None:
    import yaml

    from electra.recipes.pretrain.run import adopt_initial_model, pretrain

    cfg = _resolved_config(args, overrides)
    if args.show_config:
        if cfg.train.init_from and not args.resume:
            cfg = adopt_initial_model(cfg)[0]  # the model shape the run will have
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
        return
    for warning in cfg.warnings():
        print(f"electra: warning: {warning}", file=sys.stderr)
    pretrain(cfg, resume=args.resume, progress=not args.quiet)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``pretrain`` command (it takes ``--section.key value`` overrides)."""
    pt = sub.add_parser("pretrain", help="pretrain ELECTRA (or a masked LM) on a corpus", epilog=EPILOG,
                        formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    pt.add_argument("--preset", help="tiny, small, base or large")
    pt.add_argument("--config", type=Path, help="YAML config file")
    pt.add_argument("-o", "--output-dir", help="run directory (same as --train.output_dir)")
    pt.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in the run directory")
    pt.add_argument("--show-config", action="store_true", help="print the resolved config and exit")
    pt.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    pt.set_defaults(func=_cmd_pretrain, takes_overrides=True)
