"""``electra tokenizer train``, ``electra data prepare`` and ``electra data list``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_tokenizer_train(args: argparse.Namespace) -> None:
    from electra.core.atomic import check_writable
    from electra.data.corpus import SkipReport, iter_documents, resolve_corpus
    from electra.data.tokenizer import save_tokenizer, train_wordpiece

    check_writable(Path(args.out), "tokenizer directory", directory=True)
    report = SkipReport()
    docs = iter_documents(resolve_corpus(args.corpus), args.doc_per_line, args.text_field, report)
    tok = train_wordpiece(docs, vocab_size=args.vocab_size, lowercase=not args.cased)
    save_tokenizer(tok, Path(args.out))
    if report.skipped:
        print(report.summary(), file=sys.stderr)
    print(f"wrote {args.out}/tokenizer.json and vocab.txt ({tok.get_vocab_size():,} tokens)")


def _cmd_data_prepare(args: argparse.Namespace) -> None:
    from electra.core.atomic import check_writable
    from electra.data.corpus import resolve_corpus
    from electra.data.prepare import PackingConfig, prepare_corpus
    from electra.data.shards import TokenShards
    from electra.data.tokenizer import load_tokenizer

    check_writable(Path(args.out), "prepared-data directory", directory=True)
    tok = load_tokenizer(Path(args.tokenizer))
    cfg = PackingConfig(max_seq_length=args.max_seq_length, seed=args.seed, doc_per_line=args.doc_per_line,
                        text_field=args.text_field)  # fmt: skip
    out = prepare_corpus(resolve_corpus(args.corpus), tok, Path(args.out), cfg)
    shards = TokenShards(out)
    print(f"{out}: {len(shards):,} sequences, {shards.num_tokens:,} tokens")


def _cmd_data_list(args: argparse.Namespace) -> None:
    from electra.data import catalogue
    from electra.data.parallel import describe_pairs

    print("\n".join(catalogue.describe()))
    print("\nlanguage pairs (electra seq2seq train --data.corpus NAME):")
    print("\n".join(describe_pairs()))
    from electra.data.images import describe_images

    print("\nimage sets (electra pretrain --preset image-tiny --data.corpus NAME):")
    print("\n".join(describe_images()))


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``tokenizer`` and ``data`` command groups."""
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
    dl = data.add_parser("list", help="corpora and language pairs the project can fetch by name")
    dl.set_defaults(func=_cmd_data_list)
