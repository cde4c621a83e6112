"""``electra generate text`` and ``electra generate image``: a pretrained pair generating by refinement.

The generator fills masked positions; a selection rule (``critic``: the discriminator; ``confidence``: the
generator's own probabilities; ``random``) picks which tokens to mask and draw again, over ``--steps`` steps.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from electra.core.errors import ElectraError

RULE_HELP = "which tokens to draw again: critic (the discriminator), confidence (MaskGIT), random"


def _load(path: str, device: str):
    from electra.core.runtime import resolve_device
    from electra.models import load_checkpoint

    return load_checkpoint(Path(path), device=resolve_device(device, "--device"), pretrained=True)


def _pair(pre, rule: str):
    """The checkpoint's generator and, unless the rule needs none, its discriminator (the critic)."""
    from electra.models import Discriminator, MaskedLM

    generator = pre.as_class(MaskedLM)
    critic = pre.as_class(Discriminator) if rule == "critic" else None
    return generator, critic


def _cmd_text(args: argparse.Namespace) -> None:
    from electra.cli.infer import read_texts
    from electra.generation.infill import infill

    pre = _load(args.checkpoint, args.device)
    if pre.tokenizer is None:
        kind = "an image model's" if pre.meta.get("image_tokens") else "a"
        raise ElectraError(f"checkpoint {pre.path} is {kind} checkpoint without tokenizer.json: use "
                           "`electra generate image` for image models")  # fmt: skip
    generator, critic = _pair(pre, args.rule)
    texts = read_texts(args)
    results = infill(generator, critic, pre.tokenizer, texts, args.steps, args.rule, args.temperature, args.noise,
                     args.seed, record=args.show_steps)  # fmt: skip
    for result in results:
        if args.show_steps:
            for t, shown in enumerate(result.steps, 1):
                print(f"step {t:2d}: {shown}")
        print(result.text)


def _image_tokens(pre):
    from electra.data.images import ImageTokens

    if not pre.meta.get("image_tokens"):
        raise ElectraError(f"checkpoint {pre.path} is a text model (no image_tokens in config.json): use "
                           "`electra generate text`")  # fmt: skip
    return ImageTokens.from_dict(pre.meta["image_tokens"])


def _cmd_image(args: argparse.Namespace) -> None:
    from electra.core.atomic import atomic_file
    from electra.data.images import image_grid, save_png
    from electra.generation.images import image_labels, sample_images, steps_picture

    out = Path(args.output)
    if out.suffix.lower() != ".png":
        raise ElectraError(f"-o/--output must be a .png file, got {out}")
    pre = _load(args.checkpoint, args.device)
    tokens = _image_tokens(pre)
    generator, critic = _pair(pre, args.rule)
    labels = image_labels(tokens, args.num, args.label)
    result = sample_images(generator, critic, tokens, labels, args.steps, args.rule, args.temperature, args.noise,
                           args.seed, args.batch_size, record=args.show_steps)  # fmt: skip
    columns = tokens.num_classes if args.label is None and tokens.num_classes and args.num % tokens.num_classes == 0 \
        else None
    save_png(image_grid(result.images, columns), out, args.scale)
    print(f"electra: {len(result.images)} images ({args.rule}, {args.steps} steps) in {out}")
    if args.show_steps:
        steps_png = out.with_name(f"{out.stem}-steps.png")
        save_png(steps_picture(result.step_images, result.step_rejected), steps_png, args.scale)
        print(f"electra: refinement steps (rows: samples; columns: steps; red: rejected) in {steps_png}")
    if args.save_npz:
        with atomic_file(Path(args.save_npz), binary=True) as f:
            np.savez(f, images=result.images, labels=result.labels, class_names=np.array(tokens.class_names))
        print(f"electra: arrays in {args.save_npz}")


def _common(p: argparse.ArgumentParser, steps: int, noise: float) -> None:
    from electra.cli.infer import _positive
    from electra.generation.refine import RULES

    p.add_argument("-c", "--checkpoint", required=True, help="pretrained checkpoint or run directory")
    p.add_argument("--steps", type=_positive, default=steps, help=f"refinement steps (default {steps})")
    p.add_argument("--rule", choices=RULES, default="critic", help=RULE_HELP)
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1)")
    p.add_argument("--noise", type=float, default=noise, help="Gumbel noise on the selection scores, annealed to 0 "
                   f"over the steps (MaskGIT's choice temperature; default {noise:g})")  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--show-steps", action="store_true", help="show every step, the rejected tokens marked")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``electra generate text`` and ``electra generate image``."""
    from electra.cli.infer import _positive

    gen = sub.add_parser("generate", help="generate with a pretrained pair: fill in text, draw images")
    kinds = gen.add_subparsers(dest="kind", required=True, metavar="KIND")
    text = kinds.add_parser("text", help="fill the [MASK]s of TEXT ([MASK*n]: n masks), refined by the critic")
    text.add_argument("text", nargs="?", help="the text (default: --input, or lines on standard input)")
    text.add_argument("-i", "--input", help="fill every non-blank line of this file ('-': standard input)")
    _common(text, 8, 1.0)
    text.set_defaults(func=_cmd_text)

    image = kinds.add_parser("image", help="draw images with a pair pretrained on pixel tokens")
    image.add_argument("-n", "--num", type=_positive, default=64, help="images to draw (default 64)")
    image.add_argument("--label", type=int, help="class to draw (default: every class in turn)")
    image.add_argument("-o", "--output", default="samples.png", help="PNG grid to write (default samples.png)")
    image.add_argument("--save-npz", metavar="FILE", help="also write the images and labels as .npz")
    image.add_argument("--scale", type=_positive, default=4, help="PNG pixels per image pixel (default 4)")
    image.add_argument("--batch-size", type=_positive, default=256)
    _common(image, 12, 1.0)
    image.set_defaults(func=_cmd_image)
