"""The ``electra`` command line."""

from __future__ import annotations

import argparse
import sys

from electra.cli import data, finetune, infer, interop, pretrain
from electra.core.errors import ElectraError


def build_parser() -> argparse.ArgumentParser:
    """The parser of every ``electra`` command."""
    p = argparse.ArgumentParser(prog="electra", description="ELECTRA pretraining and Transformer models.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (data, pretrain, infer, interop, finetune):
        group.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``electra`` console script; returns the exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    try:
        if getattr(args, "takes_overrides", False):
            args.func(args, extra)
        else:
            if extra:
                parser.error(f"unrecognized arguments: {' '.join(extra)}")
            args.func(args)
    except ElectraError as e:
        print(f"electra: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("electra: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
