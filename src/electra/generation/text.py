"""Text with a pretrained pair: the generator fills in [MASK]s, the discriminator spots replaced tokens.

These functions take models and a tokenizer (load them with :func:`electra.models.load_checkpoint`); they
know nothing of files.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tokenizers import Encoding, Tokenizer

from electra.core.errors import ElectraError
from electra.data.tokenizer import special_token_ids
from electra.models import Discriminator, MaskedLM


@dataclass
class MaskPrediction:
    """The generator's top candidates (token, probability) for the [MASK] at token ``position``."""

    position: int
    candidates: list[tuple[str, float]]


@dataclass
class TokenVerdict:
    """The discriminator's probability that ``token`` was replaced."""

    token: str
    replaced_prob: float


def encode(tokenizer: Tokenizer, text: str, max_length: int) -> tuple[Encoding, dict[str, torch.Tensor]]:
    """The encoding of ``text`` and its model inputs as a batch of one; an error when it is too long."""
    enc = tokenizer.encode(text)
    if len(enc.ids) > max_length:
        raise ElectraError(f"text is {len(enc.ids)} tokens long; the model takes at most {max_length}")
    ids = torch.tensor([enc.ids])
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids, dtype=torch.bool),
              "token_type_ids": torch.tensor([enc.type_ids])}  # fmt: skip
    return enc, inputs


@torch.no_grad()
def fill_mask(generator: MaskedLM, tokenizer: Tokenizer, text: str, top_k: int = 5) -> list[MaskPrediction]:
    """Top-k generator completions (token, probability) for each [MASK] in ``text``."""
    _, inputs = encode(tokenizer, text, generator.config.max_position_embeddings)
    ids = inputs["input_ids"]
    where = (ids[0] == special_token_ids(tokenizer)["mask"]).nonzero().flatten()
    if len(where) == 0:
        raise ElectraError("the text contains no [MASK] token")
    logits = generator(ids, inputs["attention_mask"], inputs["token_type_ids"], positions=where[None])[0].float()
    real_vocab = tokenizer.get_vocab_size()
    probs = logits[:, :real_vocab].softmax(-1)
    out = []
    for pos, p in zip(where.tolist(), probs, strict=True):
        values, indices = p.topk(min(top_k, real_vocab))
        out.append(MaskPrediction(pos, [(tokenizer.id_to_token(i), float(v))
                                        for v, i in zip(values, indices.tolist(), strict=True)]))  # fmt: skip
    return out


@torch.no_grad()
def detect(discriminator: Discriminator, tokenizer: Tokenizer, text: str) -> list[TokenVerdict]:
    """Probability, for every token of ``text`` (special tokens dropped), that it was replaced."""
    enc, inputs = encode(tokenizer, text, discriminator.config.max_position_embeddings)
    probs = torch.sigmoid(discriminator(**inputs)[0].float())
    return [
        TokenVerdict(t, float(p))
        for t, p, special in zip(enc.tokens, probs.tolist(), enc.special_tokens_mask, strict=True)
        if not special
    ]


def render_detection(verdicts: list[TokenVerdict], threshold: float = 0.5) -> str:
    """The text with suspected replacements marked ``[[token]](p)``; word pieces re-joined."""
    parts: list[str] = []
    for v in verdicts:
        piece = v.token[2:] if v.token.startswith("##") else v.token
        shown = f"[[{piece}]]({v.replaced_prob:.2f})" if v.replaced_prob >= threshold else piece
        if v.token.startswith("##") and parts:
            parts[-1] += shown
        else:
            parts.append(shown)
    return " ".join(parts)
