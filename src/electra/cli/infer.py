"""``electra fill-mask`` and ``electra detect``: a pretrained checkpoint's generator and discriminator at work."""

from __future__ import annotations

import argparse
from pathlib import Path

from electra.core.errors import ElectraError


def _load(path: str):
    from electra.models import load_checkpoint

    pre = load_checkpoint(Path(path), pretrained=True)
    if pre.tokenizer is None:
        raise ElectraError(f"checkpoint {pre.path} has no tokenizer.json")
    return pre


def _cmd_fill_mask(args: argparse.Namespace) -> None:
    from electra.generation import fill_mask
    from electra.models import MaskedLM

    pre = _load(args.checkpoint)
    for pred in fill_mask(pre.as_class(MaskedLM), pre.tokenizer, args.text, args.top_k):
        cands = ", ".join(f"{t} ({p:.3f})" for t, p in pred.candidates)
        print(f"[MASK] at token {pred.position}: {cands}")


def _cmd_detect(args: argparse.Namespace) -> None:
    from electra.generation import detect, render_detection
    from electra.models import Discriminator

    pre = _load(args.checkpoint)
    verdicts = detect(pre.as_class(Discriminator), pre.tokenizer, args.text)
    print(render_detection(verdicts, args.threshold))
    if args.verbose:
        for v in verdicts:
            print(f"  {v.token:>15s}  {v.replaced_prob:.3f}")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``fill-mask`` and ``detect`` commands."""
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
