"""The ``electra`` command line."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from electra.cli import data, experiment, finetune, generate, infer, interop, pretrain, seq2seq
from electra.core.errors import ElectraError


def build_parser() -> argparse.ArgumentParser:
    """The parser of every ``electra`` command."""
    p = argparse.ArgumentParser(prog="electra", description="ELECTRA pretraining and Transformer models.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (data, pretrain, infer, generate, interop, finetune, experiment, seq2seq):
        group.register(sub)
    return p


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: writes in progress are rolled back, then a one-line message."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``electra`` console script; returns the exit status."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
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
    except Terminated:
        print("electra: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("electra: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`electra detect ... | head`): stop quietly, as `cat` does
        _silence_stdout()
        return 141
    return 0


def _silence_stdout() -> None:
    """Point standard output at /dev/null so that the interpreter's last flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
