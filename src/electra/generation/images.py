"""Images from a pair trained on pixel tokens: the generator draws, the critic picks what to draw again.

Takes the models and the checkpoint's :class:`~electra.data.images.ImageTokens`; knows nothing of files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from electra.core.errors import ElectraError
from electra.data.images import ImageTokens
from electra.generation.refine import refine
from electra.models import Discriminator, MaskedLM


@dataclass
class SampledImages:
    """``images`` uint8 [N, S, S] with the ``labels`` they were drawn for (-1: unconditional); with ``record``,
    the first batch's steps: the images after each step [T, B, S, S] and the rejected pixels [T, B, S, S]."""

    images: np.ndarray
    labels: np.ndarray
    step_images: np.ndarray | None = None
    step_rejected: np.ndarray | None = None
    tokens: list[np.ndarray] = field(default_factory=list, repr=False)


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def image_labels(tokens: ImageTokens, n: int, label: int | None) -> np.ndarray:
    """The labels of ``n`` samples: ``label`` for all, else the classes in turn (-1 for an unconditional model)."""
    if not tokens.class_names:
        if label is not None:
            raise ElectraError("this image model is unconditional (trained with data.image_labels false): no --label")
        return np.full(n, -1, dtype=np.int64)
    if label is not None and not 0 <= label < tokens.num_classes:
        names = ", ".join(f"{i} {c}" for i, c in enumerate(tokens.class_names))
        raise ElectraError(f"label {label} is not one of the model's {tokens.num_classes} classes ({names})")
    return np.full(n, label, dtype=np.int64) if label is not None else np.arange(n, dtype=np.int64) % tokens.num_classes


def start_tokens(tokens: ImageTokens, labels: np.ndarray, given: np.ndarray | None = None,
                 keep: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """The starting sequences [N, L] and their editable positions: the class token (when the model has classes),
    then the pixels, all to be drawn, or for ``given`` uint8 images [N, H, W] the pixels where ``keep``
    [N, S, S] is True kept as given (completion)."""
    n, s = len(labels), tokens.size
    pixels = np.zeros((n, s * s), dtype=np.int64)
    editable = np.ones((n, s * s), dtype=bool)
    if given is not None:
        pixels = tokens.quantise(given).reshape(n, -1)
        editable = ~np.asarray(keep, dtype=bool).reshape(n, -1)
    if tokens.prefix:
        pixels = np.concatenate([tokens.class_id(labels)[:, None], pixels], axis=1)
        editable = np.concatenate([np.zeros((n, 1), dtype=bool), editable], axis=1)
    return torch.from_numpy(pixels), torch.from_numpy(editable)


@torch.no_grad()
def sample_images(generator: MaskedLM, critic: Discriminator | None, tokens: ImageTokens, labels: Sequence[int],
                  steps: int = 12, rule: str = "critic", temperature: float = 1.0, noise: float = 1.0,
                  seed: int = 0, batch_size: int = 256, given: np.ndarray | None = None,
                  keep: np.ndarray | None = None, record: bool = False) -> SampledImages:  # fmt: skip
    """One image per label, drawn by :func:`~electra.generation.refine.refine` in batches of ``batch_size``
    (batch ``b`` with seed ``seed + b``: the same seed gives the same images)."""
    labels = np.asarray(labels, dtype=np.int64)
    device = _device(generator)
    allowed = torch.zeros(generator.config.vocab_size, dtype=torch.bool)
    allowed[list(tokens.pixel_ids())] = True
    ids, editable = start_tokens(tokens, labels, given, keep)
    out, step_images, step_rejected = [], None, None
    was = generator.training, critic.training if critic is not None else False
    generator.eval()
    if critic is not None:
        critic.eval()
    try:
        for b, start in enumerate(range(0, len(labels), batch_size)):
            chunk = slice(start, start + batch_size)
            result = refine(generator, critic, ids[chunk].to(device), editable[chunk].to(device), allowed,
                            tokens.mask_id, steps, rule, temperature, noise, seed + b, record and b == 0)  # fmt: skip
            out.append(tokens.decode(result.tokens.cpu()))
            if result.steps:
                step_images = np.stack([tokens.decode(s.tokens.cpu()) for s in result.steps])
                step_rejected = np.stack([s.rejected[:, tokens.prefix :].cpu().numpy().reshape(-1, tokens.size,
                                                                                                tokens.size)
                                          for s in result.steps])  # fmt: skip
    finally:
        generator.train(was[0])
        if critic is not None:
            critic.train(was[1])
    images = np.concatenate(out) if out else np.zeros((0, tokens.size, tokens.size), dtype=np.uint8)
    return SampledImages(images, labels, step_images, step_rejected)


def steps_picture(step_images: np.ndarray, step_rejected: np.ndarray, rows: int = 8) -> np.ndarray:
    """An RGB picture [H, W, 3] of refinement: one row per sample (up to ``rows``), one column per step, each tile
    the image after that step's sampling with the pixels the rule rejected (to be drawn again) in red."""
    from electra.data.images import image_grid

    t, b, s, _ = step_images.shape
    b = min(b, rows)
    grey = image_grid(step_images[:, :b].transpose(1, 0, 2, 3).reshape(b * t, s, s), columns=t)
    red = image_grid(step_rejected[:, :b].transpose(1, 0, 2, 3).reshape(b * t, s, s).astype(np.uint8), columns=t,
                     fill=0) > 0  # fmt: skip
    picture = np.repeat(grey[..., None], 3, axis=-1)
    picture[red] = (220, 30, 30)
    return picture
