"""``electra pretrain``: ELECTRA (or a masked LM) on a corpus, configured by preset, YAML and overrides."""

from __future__ import annotations

import argparse
import sys

from electra.cli.runs import add_run_options

EPILOG = """\
Any config value can be overridden as --section.key VALUE, e.g.
  --train.steps 2000 --model.num_layers 6 --data.corpus my_texts/ --objective.kind mlm
Sections: model, objective, data, train (see `electra pretrain --show-config`)."""


def _cmd_pretrain(args: argparse.Namespace, overrides: list[str]) -> None:
    import yaml

    from electra.cli.runs import resolved_config
    from electra.recipes.pretrain.config import build_config, config_from_dict
    from electra.recipes.pretrain.run import adopt_initial_model, pretrain

    cfg = resolved_config(args, overrides, build_config, config_from_dict)
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
    add_run_options(pt, "tiny, small, base or large (or image-tiny, image-base)")
    pt.set_defaults(func=_cmd_pretrain, takes_overrides=True)
