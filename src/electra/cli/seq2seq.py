"""``electra seq2seq train | evaluate`` and ``electra translate``: the encoder-decoder Transformer."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from electra.cli.runs import add_run_options

EPILOG = """\
Any config value can be overridden as --section.key VALUE, e.g.
  --train.steps 2000 --data.corpus pairs.tsv --data.valid dev.tsv --model.encoder_layers 4
Sections: model, data, train (see `electra seq2seq train --show-config`). data.corpus is a catalogue pair
(bible-en-es, bible-en-fr, bible-kjv-es), one TSV, or two line-aligned files: --data.corpus "[train.en, train.es]"."""


def _cmd_train(args: argparse.Namespace, overrides: list[str]) -> None:
    import yaml

    from electra.cli.runs import resolved_config
    from electra.recipes.seq2seq.config import build_seq2seq_config, config_from_dict
    from electra.recipes.seq2seq.run import train

    cfg = resolved_config(args, overrides, build_seq2seq_config, config_from_dict)
    if args.show_config:
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
        return
    train(cfg, resume=args.resume, progress=not args.quiet)


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from electra.data.parallel import PAIR_CATALOGUE
    from electra.recipes.seq2seq import data as D
    from electra.recipes.seq2seq.run import evaluate_translation

    loaded = _load(args)
    entries = args.data or loaded.cfg.data.corpus
    if entries[0] in PAIR_CATALOGUE:
        paths = D.pair_sources(entries)[args.split]
    elif args.data:  # files: all of their pairs
        paths = [Path(p) for p in args.data]
    else:
        raise_error(f"the run was trained on files ({' '.join(entries)}), not a catalogue pair: give --data FILE")
    pairs = D.read_split(paths, "evaluation pairs")
    scores, _ = evaluate_translation(loaded, pairs, args.batch_size)
    print(f"BLEU {scores.bleu:.2f}  chrF {scores.chrf:.2f}  (length ratio {scores.length_ratio:.3f}, {len(pairs):,} "
          f"pairs, {loaded.path})")  # fmt: skip
    print(scores.signature)


def raise_error(message: str) -> None:
    from electra.core.errors import ElectraError

    raise ElectraError(message)


def _cmd_translate(args: argparse.Namespace) -> None:
    from electra.core.atomic import atomic_file
    from electra.recipes.seq2seq.run import translate_with

    loaded = _load(args)
    if args.input:
        if not Path(args.input).is_file():
            raise_error(f"input file {args.input} does not exist")
        lines = Path(args.input).read_text(encoding="utf-8").splitlines()
    else:
        lines = sys.stdin.read().splitlines()
    out = translate_with(loaded, [" ".join(x.split()) for x in lines], args.batch_size)
    text = "".join(o + "\n" for o in out)
    if args.output:
        with atomic_file(Path(args.output)) as f:
            f.write(text)
    else:
        sys.stdout.write(text)


DECODING = ("beam", "length_penalty", "max_len_a", "max_len_b")


def _load(args: argparse.Namespace):
    """The checkpoint of ``-c``, its decoding settings overridden by those given on the command line."""
    import dataclasses

    from electra.recipes.seq2seq.run import load_translator

    loaded = load_translator(args.checkpoint, args.device, args.average_last)
    given = {k: getattr(args, k) for k in DECODING if getattr(args, k) is not None}
    loaded.cfg.train = dataclasses.replace(loaded.cfg.train, **given)
    return loaded


def _decoding_arguments(p: argparse.ArgumentParser) -> None:
    """The options ``seq2seq evaluate`` and ``translate`` share: the checkpoint and how to decode."""
    p.add_argument("-c", "--checkpoint", required=True, help="checkpoint or run directory")
    p.add_argument("--beam", type=int, help="beam size (default: the run's; 1 = greedy)")
    p.add_argument("--length-penalty", type=float, help="fairseq's lenpen: scores over length ** this (default: "
                   "the run's)")  # fmt: skip
    p.add_argument("--max-len-a", type=float, help="at most a x source length + b tokens (default: the run's)")
    p.add_argument("--max-len-b", type=int, help="see --max-len-a (default: the run's)")
    p.add_argument("--batch-size", type=int, default=32, help="sentences per batch (default 32)")
    p.add_argument("--average-last", type=int, default=1, metavar="K",
                   help="the mean of the run's newest K checkpoints (default 1: the newest)")  # fmt: skip
    p.add_argument("--device", default="auto")


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``seq2seq train``, ``seq2seq evaluate`` and ``translate``."""
    group = sub.add_parser("seq2seq", help="train and score an encoder-decoder translation model")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    tr = actions.add_parser("train", help="train on sentence pairs", epilog=EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    add_run_options(tr, "tiny, small, base or big")
    tr.set_defaults(func=_cmd_train, takes_overrides=True)
    ev = actions.add_parser("evaluate", help="BLEU and chrF (sacrebleu) of a checkpoint's translations")
    _decoding_arguments(ev)
    ev.add_argument("--data", nargs="+", help="a catalogue pair, a TSV or two files (default: the run's corpus)")
    ev.add_argument("--split", default="test", help="split of a catalogue pair (default test)")
    ev.set_defaults(func=_cmd_evaluate)
    tl = sub.add_parser("translate", help="translate sentences (a file, or standard input) with a trained model")
    _decoding_arguments(tl)
    tl.add_argument("-i", "--input", help="one sentence per line (default: standard input)")
    tl.add_argument("-o", "--output", help="file for the translations (default: standard output)")
    tl.set_defaults(func=_cmd_translate)
