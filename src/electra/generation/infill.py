"""Text infilling with a pretrained pair: the generator fills every [MASK] at once, the discriminator (as a
critic) sends the least convincing words back to be drawn again (:func:`~electra.generation.refine.refine`).

``[MASK*3]`` in a text stands for three masks: a span whose length is given as a count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from tokenizers import Tokenizer

from electra.core.errors import ElectraError
from electra.data.tokenizer import special_token_ids
from electra.generation.refine import Refinement, refine
from electra.generation.text import encode_batch
from electra.models import Discriminator, MaskedLM

SPAN = re.compile(r"\[MASK\*(\d+)\]")
MAX_SPAN = 64


def expand_spans(text: str) -> str:
    """``text`` with each ``[MASK*n]`` written out as ``n`` [MASK] tokens."""

    def expand(match: re.Match) -> str:
        n = int(match.group(1))
        if not 1 <= n <= MAX_SPAN:
            raise ElectraError(f"[MASK*{n}]: a span holds 1 to {MAX_SPAN} masks")
        return " ".join(["[MASK]"] * n)

    return SPAN.sub(expand, text)


@dataclass
class Infilled:
    """A text with its masks filled: the filled text, and with ``record`` each step's rendering (the tokens
    drawn so far, those the rule sent back marked ``[[...]]``)."""

    source: str
    text: str
    steps: list[str] = field(default_factory=list)


def render_tokens(tokenizer: Tokenizer, ids: Sequence[int], marked: Sequence[bool], special: set[int]) -> str:
    """Word pieces joined into words (``##`` pieces glued to the previous one), ``marked`` pieces as ``[[piece]]``,
    special tokens dropped."""
    words: list[str] = []
    for i, m in zip(ids, marked, strict=True):
        if i in special:
            continue
        piece = tokenizer.id_to_token(i) or ""
        glue = piece.startswith("##") and words
        piece = piece[2:] if piece.startswith("##") else piece
        piece = f"[[{piece}]]" if m else piece
        if glue:
            words[-1] += piece
        else:
            words.append(piece)
    return " ".join(words)


def allowed_ids(tokenizer: Tokenizer, table: int) -> torch.Tensor:
    """Ids the sampler may draw [table]: the tokenizer's, less its special tokens (and the table's padding rows)."""
    allowed = torch.zeros(table, dtype=torch.bool)
    allowed[: tokenizer.get_vocab_size()] = True
    specials = set(special_token_ids(tokenizer).values())
    specials |= {i for tok, i in tokenizer.get_vocab().items() if tok.startswith("[") and tok.endswith("]")}
    allowed[[i for i in specials if i < table]] = False
    return allowed


def refine_text(generator: MaskedLM, critic: Discriminator | None, inputs: dict[str, torch.Tensor],
                editable: torch.Tensor, allowed: torch.Tensor, mask_id: int, **settings) -> Refinement:  # fmt: skip
    """:func:`~electra.generation.refine.refine` over a batch of text inputs (``input_ids``, ``attention_mask``,
    ``token_type_ids``, on the models' device): both models read the padding mask and token types."""
    mask, types = inputs["attention_mask"], inputs["token_type_ids"]
    draw = lambda x: generator(x, mask, types)  # noqa: E731
    judge = (lambda x: critic(x, mask, types)) if critic is not None else None  # noqa: E731
    return refine(draw, judge, inputs["input_ids"], editable, allowed, mask_id, **settings)


@torch.no_grad()
def infill(generator: MaskedLM, critic: Discriminator | None, tokenizer: Tokenizer, texts: Sequence[str],
           steps: int = 8, rule: str = "critic", temperature: float = 1.0, noise: float = 1.0, seed: int = 0,
           record: bool = False) -> list[Infilled]:  # fmt: skip
    """Fill the [MASK]s (and ``[MASK*n]`` spans) of each text; every other token stays as given."""
    special = special_token_ids(tokenizer)
    expanded = [expand_spans(t) for t in texts]
    device = next(generator.parameters()).device
    encodings, inputs = encode_batch(tokenizer, expanded, generator.config.max_position_embeddings, special["pad"])
    inputs = {k: v.to(device) for k, v in inputs.items()}
    editable = inputs["input_ids"] == special["mask"]
    for text, row in zip(texts, editable, strict=True):
        if not bool(row.any()):
            raise ElectraError(f"the text contains no [MASK] token: {text[:60]!r}")
    allowed = allowed_ids(tokenizer, generator.config.vocab_size)
    result = refine_text(generator, critic, inputs, editable, allowed, special["mask"], steps=steps, rule=rule,
                         temperature=temperature, noise=noise, seed=seed, record=record)  # fmt: skip
    drop = set(special.values())
    out = []
    for r, (source, enc) in enumerate(zip(texts, encodings, strict=True)):
        n = len(enc.ids)
        ids = result.tokens[r, :n].tolist()
        shown = [render_tokens(tokenizer, s.tokens[r, :n].tolist(), s.rejected[r, :n].tolist(), drop)
                 for s in result.steps]  # fmt: skip
        out.append(Infilled(source, tokenizer.decode(ids, skip_special_tokens=True), shown))
    return out
