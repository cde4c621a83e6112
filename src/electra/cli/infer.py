"""``electra fill-mask`` and ``electra detect``: a pretrained checkpoint's generator and discriminator at work.

Both take one text, or many lines from ``--input FILE`` (``-``: standard input, also the default when no
text is given and the input is not a terminal), score them in batches, and print text or ``--json`` (one
object per line). ``detect --evaluate FILE`` measures detection on planted words instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from electra.core.errors import ElectraError

DEFAULT_BASE_RATE = 0.15  # ELECTRA's masking rate: the replaced fraction is at most this
PROGRESS_FROM = 256  # lines; fewer run without a progress bar


def _load(path: str):
    from electra.models import load_checkpoint

    pre = load_checkpoint(Path(path), pretrained=True)
    if pre.tokenizer is None:
        raise ElectraError(f"checkpoint {pre.path} has no tokenizer.json")
    return pre


def base_rate(pre) -> tuple[float, str]:
    """The replaced fraction the discriminator trained on (stored by ``electra pretrain``), else the training
    configuration's masking rate, else 0.15; and where it came from."""
    if pre.meta.get("base_rate") is not None:
        return float(pre.meta["base_rate"]), "checkpoint"
    mask_rate = ((pre.train_config or {}).get("objective") or {}).get("mask_rate")
    if mask_rate is not None:
        return float(mask_rate), "objective.mask_rate"
    return DEFAULT_BASE_RATE, "default"


def read_texts(args: argparse.Namespace) -> list[str]:
    """The texts to score: the positional text, or the non-blank lines of ``--input`` / standard input."""
    if args.text is not None and args.input is not None:
        raise ElectraError("give a text or --input, not both")
    if args.text is not None:
        if not args.text.strip():
            raise ElectraError("the text is empty")
        return [args.text]
    source = args.input
    if source is None:
        if sys.stdin.isatty():
            raise ElectraError("give a text, --input FILE, or lines on standard input")
        source = "-"
    if source == "-":
        lines = sys.stdin.read().splitlines()
    else:
        path = Path(source)
        if not path.is_file():
            raise ElectraError(f"input file not found: {path}")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as e:
            raise ElectraError(f"input file {path} is not UTF-8 text ({e.reason})") from None
    texts = [line.strip() for line in lines if line.strip()]
    if not texts:
        raise ElectraError(f"no text in {'standard input' if source == '-' else source}")
    return texts


def _in_batches(texts: Sequence[str], size: int, run: Callable[[Sequence[str]], list]) -> Iterator[Any]:
    """``run`` over ``texts`` in chunks of ``size``, with a progress bar (lines/s) on stderr for large inputs."""
    from tqdm.auto import tqdm

    with tqdm(total=len(texts), unit="line", disable=len(texts) < PROGRESS_FROM, file=sys.stderr) as bar:
        for start in range(0, len(texts), size):
            chunk = texts[start : start + size]
            yield from run(chunk)
            bar.update(len(chunk))


def _cmd_fill_mask(args: argparse.Namespace) -> None:
    from electra.generation import fill_mask_batch
    from electra.models import MaskedLM

    if args.top_k < 1:
        raise ElectraError(f"-k/--top-k must be at least 1, got {args.top_k}")
    pre = _load(args.checkpoint)
    generator, texts = pre.as_class(MaskedLM), read_texts(args)
    run = lambda chunk: fill_mask_batch(generator, pre.tokenizer, chunk, args.top_k, args.batch_size)  # noqa: E731
    for text, preds in zip(texts, _in_batches(texts, args.batch_size, run), strict=True):
        if args.json:
            masks = [_mask_json(p) for p in preds]
            print(json.dumps({"text": text, "masks": masks}, ensure_ascii=False))
            continue
        if len(texts) > 1:
            print(text)
        for pred in preds:
            cands = ", ".join(f"{t} ({p:.3f})" for t, p in pred.candidates)
            print(f"[MASK] at token {pred.position}: {cands}")


def _mask_json(pred) -> dict[str, Any]:
    return {"position": pred.position, "candidates": [{"token": t, "prob": round(v, 6)} for t, v in pred.candidates]}


def _detection_json(detection, marked: list[int], rate: float) -> dict[str, Any]:
    chosen = set(marked)
    return {
        "text": detection.text,
        "base_rate": round(rate, 6),
        "tokens": [{"token": t.token, "prob": round(t.replaced_prob, 6)} for t in detection.tokens],
        "words": [{"word": w.word, "start": w.start, "end": w.end, "prob": round(w.prob, 6), "marked": i in chosen}
                  for i, w in enumerate(detection.words)],  # fmt: skip
        "marked": [detection.words[i].word for i in marked],
    }


def _coloured(detection, marked: list[int], rate: float):
    """The text with each marked word coloured by how far its probability is above the base rate."""
    from rich.text import Text

    out, last, chosen = Text(), 0, set(marked)
    top = max((detection.words[i].prob for i in marked), default=rate)
    for i, w in enumerate(detection.words):
        if i not in chosen:
            continue
        out.append(detection.text[last : w.start])
        strength = (w.prob - rate) / max(top - rate, 1e-9) if top > rate else 1.0
        style = "black on yellow"
        if strength > 0.33:
            style = "bold white on red" if strength > 0.66 else "black on dark_orange"
        out.append(w.word, style=style)
        last = w.end
    out.append(detection.text[last:])
    return out


def _cmd_detect(args: argparse.Namespace) -> None:
    from electra.generation import detect_batch, marked_words, render_detection
    from electra.models import Discriminator

    pre = _load(args.checkpoint)
    discriminator = pre.as_class(Discriminator)
    if args.evaluate:
        return _evaluate(args, pre, discriminator)
    rate, source = base_rate(pre)
    if args.threshold is not None and not 0 <= args.threshold <= 1:
        raise ElectraError(f"--threshold must be in [0, 1], got {args.threshold}")
    if args.top is not None and args.top < 1:
        raise ElectraError(f"--top must be at least 1, got {args.top}")
    texts = read_texts(args)
    run = lambda chunk: detect_batch(discriminator, pre.tokenizer, chunk, args.batch_size)  # noqa: E731
    console = _console()
    for detection in _in_batches(texts, args.batch_size, run):
        marked = marked_words(detection, rate, args.threshold, args.top)
        if args.json:
            print(json.dumps(_detection_json(detection, marked, rate), ensure_ascii=False))
            continue
        if console is not None:
            console.print(_coloured(detection, marked, rate), highlight=False)
        else:
            print(render_detection(detection, marked))
        if args.verbose:
            print(f"  (base rate {rate:.3f}, from {source})")
            for v in detection.tokens:
                print(f"  {v.token:>15s}  {v.replaced_prob:.3f}")


def _console():
    """A colour console when standard output is a terminal, else None (plain markers)."""
    if not sys.stdout.isatty():
        return None
    from rich.console import Console

    return Console(soft_wrap=True)


def _evaluate(args: argparse.Namespace, pre, discriminator) -> None:
    from electra.generation import detection_quality

    path = Path(args.evaluate)
    if not path.is_file():
        raise ElectraError(f"evaluation file not found: {path}")
    texts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    quality = detection_quality(discriminator, pre.tokenizer, texts[: args.max_sentences], args.seed, args.batch_size)
    print(json.dumps({"checkpoint": str(pre.path), "file": str(path), **quality.to_dict()}))


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``fill-mask`` and ``detect`` commands."""
    fm = sub.add_parser("fill-mask", help="top-k generator completions for each [MASK] in TEXT (or in lines)")
    fm.add_argument("text", nargs="?", help="the text (default: --input, or lines on standard input)")
    fm.add_argument("-c", "--checkpoint", required=True, help="checkpoint or run directory")
    fm.add_argument("-k", "--top-k", type=int, default=5)
    _add_io(fm)
    fm.set_defaults(func=_cmd_fill_mask)

    de = sub.add_parser("detect", help="mark the words of TEXT (or of lines) the discriminator believes were replaced")
    de.add_argument("text", nargs="?", help="the text (default: --input, or lines on standard input)")
    de.add_argument("-c", "--checkpoint", required=True, help="checkpoint or run directory")
    de.add_argument("--threshold", type=float, help="mark words at or above this probability (default: above the "
                    "model's base rate, the replaced fraction it trained on)")  # fmt: skip
    de.add_argument("--top", type=int, help="mark the K most suspicious words of each text")
    de.add_argument("-v", "--verbose", action="store_true", help="also print every token's probability")
    de.add_argument("--evaluate", metavar="FILE", help="plant a random word in each line of FILE and report how "
                    "well they are found (ROC-AUC, top-1 rate), as JSON")  # fmt: skip
    de.add_argument("--max-sentences", type=int, default=1000, help="with --evaluate: lines used (default 1000)")
    de.add_argument("--seed", type=int, default=0, help="with --evaluate: seed of the planted words")
    _add_io(de)
    de.set_defaults(func=_cmd_detect)


def _add_io(p: argparse.ArgumentParser) -> None:
    """The options both commands share: where the lines come from, JSON output, batch size."""
    p.add_argument("-i", "--input", help="score every non-blank line of this file ('-': standard input)")
    p.add_argument("--json", action="store_true", help="one JSON object per text")
    p.add_argument("--batch-size", type=_positive, default=64, help="texts scored together (default 64)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value
