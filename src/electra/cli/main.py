"""The ``electra`` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from electra.errors import ElectraError

EPILOG_PRETRAIN = """\
Any config value can be overridden as --section.key VALUE, e.g.
  --train.steps 2000 --model.num_layers 6 --data.corpus my_texts/ --objective.kind mlm
Sections: model, objective, data, train (see `electra pretrain --show-config`)."""


def _cmd_tokenizer_train(args: argparse.Namespace) -> None:
    from electra.data import catalogue
    from electra.data.corpus import SkipReport, find_input_files, iter_documents
    from electra.data.tokenizer import save_tokenizer, train_wordpiece

    paths = [catalogue.fetch(c) if c in catalogue.CATALOGUE else Path(c) for c in args.corpus]
    report = SkipReport()
    docs = iter_documents(find_input_files(paths), args.doc_per_line, args.text_field, report)
    tok = train_wordpiece(docs, vocab_size=args.vocab_size, lowercase=not args.cased)
    save_tokenizer(tok, Path(args.out))
    if report.skipped:
        print(report.summary(), file=sys.stderr)
    print(f"wrote {args.out}/tokenizer.json and vocab.txt ({tok.get_vocab_size():,} tokens)")


def _cmd_data_prepare(args: argparse.Namespace) -> None:
    from electra.data import catalogue
    from electra.data.corpus import find_input_files
    from electra.data.prepare import PackingConfig, prepare_corpus
    from electra.data.shards import TokenShards
    from electra.data.tokenizer import load_tokenizer

    paths = [catalogue.fetch(c) if c in catalogue.CATALOGUE else Path(c) for c in args.corpus]
    tok = load_tokenizer(Path(args.tokenizer))
    cfg = PackingConfig(
        max_seq_length=args.max_seq_length, seed=args.seed, doc_per_line=args.doc_per_line, text_field=args.text_field
    )
    out = prepare_corpus(find_input_files(paths), tok, Path(args.out), cfg)
    shards = TokenShards(out)
    print(f"{out}: {len(shards):,} sequences, {shards.num_tokens:,} tokens")


def _cmd_data_list(args: argparse.Namespace) -> None:
    from electra.data import catalogue

    print("\n".join(catalogue.describe()))


def _cmd_pretrain(args: argparse.Namespace, overrides: list[str]) -> None:
    import yaml

    from electra.config import build_config, config_from_dict
    from electra.train.checkpoint import latest_checkpoint, read_meta

    if args.output_dir:
        overrides = [*overrides, "--train.output_dir", args.output_dir]
    cfg = build_config(args.preset, args.config, overrides)
    if args.resume and not args.preset and not args.config:
        # Resuming without a preset: start from the checkpoint's own config, then the overrides.
        ckpt = latest_checkpoint(Path(cfg.train.output_dir))
        if ckpt is not None:
            from electra.config import _apply, parse_overrides

            cfg = config_from_dict(read_meta(ckpt)["config"])
            _apply(cfg, parse_overrides(overrides), "command line")
            cfg.validate()
    if args.show_config:
        if cfg.train.init_from and not args.resume:
            from electra.train.pretrain import adopt_initial_model

            cfg = adopt_initial_model(cfg)[0]  # the model shape the run will have
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
        return
    for warning in cfg.warnings():
        print(f"electra: warning: {warning}", file=sys.stderr)
    from electra.train.pretrain import pretrain

    pretrain(cfg, resume=args.resume, progress=not args.quiet)


def _cmd_fill_mask(args: argparse.Namespace) -> None:
    from electra.inference import fill_mask

    for pred in fill_mask(Path(args.checkpoint), args.text, args.top_k):
        cands = ", ".join(f"{t} ({p:.3f})" for t, p in pred.candidates)
        print(f"[MASK] at token {pred.position}: {cands}")


def _cmd_detect(args: argparse.Namespace) -> None:
    from electra.inference import detect, render_detection

    verdicts = detect(Path(args.checkpoint), args.text)
    print(render_detection(verdicts, args.threshold))
    if args.verbose:
        for v in verdicts:
            print(f"  {v.token:>15s}  {v.replaced_prob:.3f}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="electra", description="ELECTRA pretraining and Transformer models.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tok = sub.add_parser("tokenizer", help="train a WordPiece vocabulary").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    t = tok.add_parser("train", help="train a WordPiece tokenizer on a corpus")
    t.add_argument("corpus", nargs="+", help="files, directories or catalogue names (e.g. wiki-en)")
    t.add_argument("--out", required=True, help="output directory (tokenizer.json, vocab.txt)")
    t.add_argument("--vocab-size", type=int, default=30522)
    t.add_argument("--cased", action="store_true", help="keep case and accents")
    t.add_argument("--doc-per-line", action="store_true", help="one document per line (default: blank-line blocks)")
    t.add_argument("--text-field", default="text", help="field holding the text in .jsonl files")
    t.set_defaults(func=_cmd_tokenizer_train)

    data = sub.add_parser("data", help="prepare corpora; list the data catalogue").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    d = data.add_parser("prepare", help="tokenize and pack a corpus into memory-mapped shards")
    d.add_argument("corpus", nargs="+", help="files, directories or catalogue names")
    d.add_argument("--tokenizer", required=True, help="tokenizer.json, vocab.txt or a directory holding one")
    d.add_argument("--out", required=True, help="directory for prepared data (a sub-directory per content hash)")
    d.add_argument("--max-seq-length", type=int, default=128)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--doc-per-line", action="store_true")
    d.add_argument("--text-field", default="text")
    d.set_defaults(func=_cmd_data_prepare)
    dl = data.add_parser("list", help="datasets the project can fetch by name")
    dl.set_defaults(func=_cmd_data_list)

    pt = sub.add_parser(
        "pretrain",
        help="pretrain ELECTRA (or a masked LM) on a corpus",
        epilog=EPILOG_PRETRAIN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pt.add_argument("--preset", help="tiny, small, base or large")
    pt.add_argument("--config", type=Path, help="YAML config file")
    pt.add_argument("-o", "--output-dir", help="run directory (same as --train.output_dir)")
    pt.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in the run directory")
    pt.add_argument("--show-config", action="store_true", help="print the resolved config and exit")
    pt.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    pt.set_defaults(func=_cmd_pretrain, takes_overrides=True)

    fm = sub.add_parser("fill-mask", help="top-k generator completions for each [MASK] in TEXT")
    fm.add_argument("text")
    fm.add_argument("-c", "--checkpoint", required=True, help="checkpoint or run directory")
    fm.add_argument("-k", "--top-k", type=int, default=5)
    fm.set_defaults(func=_cmd_fill_mask)

    de = sub.add_parser("detect", help="mark the tokens of TEXT the discriminator believes were replaced")
    de.add_argument("text")
    de.add_argument("-c", "--checkpoint", required=True, help="checkpoint or run directory")
    de.add_argument("--threshold", type=float, default=0.5, help="probability above which a token is marked")
    de.add_argument("-v", "--verbose", action="store_true", help="also print every token's probability")
    de.set_defaults(func=_cmd_detect)

    from electra.finetune.cli import register as register_finetune
    from electra.interop.cli import register as register_interop

    register_interop(sub)
    register_finetune(sub)
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
