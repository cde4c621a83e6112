"""Using a pretrained checkpoint: fill in [MASK]s with the generator, spot replaced tokens with the discriminator."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from electra.data.tokenizer import load_tokenizer
from electra.errors import ElectraError
from electra.pretraining.builder import Pretrained, load_pretrained


@dataclass
class MaskPrediction:
    position: int
    candidates: list[tuple[str, float]]


def _encode(pre: Pretrained, text: str):
    tok = load_tokenizer(pre.path / "tokenizer.json")
    enc = tok.encode(text)
    max_len = pre.config.model.max_position_embeddings
    if len(enc.ids) > max_len:
        raise ElectraError(f"text is {len(enc.ids)} tokens long; the model takes at most {max_len}")
    ids = torch.tensor([enc.ids])
    types = torch.tensor([enc.type_ids])
    mask = torch.ones_like(ids, dtype=torch.bool)
    return tok, enc, ids, mask, types


@torch.no_grad()
def fill_mask(checkpoint: Path | Pretrained, text: str, top_k: int = 5) -> list[MaskPrediction]:
    """Top-k generator completions (token, probability) for each [MASK] in ``text``."""
    pre = checkpoint if isinstance(checkpoint, Pretrained) else load_pretrained(checkpoint)
    tok, enc, ids, mask, types = _encode(pre, text)
    where = (ids[0] == pre.special_ids["mask"]).nonzero().flatten()
    if len(where) == 0:
        raise ElectraError("the text contains no [MASK] token")
    logits = pre.generator(ids, mask, types, positions=where[None])[0].float()
    real_vocab = tok.get_vocab_size()
    probs = logits[:, :real_vocab].softmax(-1)
    out = []
    for pos, p in zip(where.tolist(), probs):
        values, indices = p.topk(min(top_k, real_vocab))
        out.append(MaskPrediction(pos, [(tok.id_to_token(i), float(v)) for v, i in zip(values, indices.tolist())]))
    return out


@dataclass
class TokenVerdict:
    token: str
    replaced_prob: float


@torch.no_grad()
def detect(checkpoint: Path | Pretrained, text: str) -> list[TokenVerdict]:
    """Probability, for every token of ``text`` (special tokens dropped), that it was replaced."""
    pre = checkpoint if isinstance(checkpoint, Pretrained) else load_pretrained(checkpoint)
    _, enc, ids, mask, types = _encode(pre, text)
    probs = torch.sigmoid(pre.discriminator(ids, mask, types)[0].float())
    return [
        TokenVerdict(t, float(p))
        for t, p, special in zip(enc.tokens, probs.tolist(), enc.special_tokens_mask)
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
