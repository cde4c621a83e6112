"""Text with a pretrained pair: the generator fills in [MASK]s, the discriminator spots replaced tokens.

These functions take models and a tokenizer (load them with :func:`electra.models.load_checkpoint`); they
know nothing of files. Many texts are scored in padded batches on the model's device.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

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


@dataclass
class WordScore:
    """A word of the text (its word pieces joined): characters ``start:end``, and the highest replaced
    probability of its pieces."""

    word: str
    start: int
    end: int
    prob: float
    pieces: list[int] = field(default_factory=list)  # token positions


@dataclass
class Detection:
    """The discriminator's view of one text: per-token probabilities (special tokens dropped) and per word."""

    text: str
    tokens: list[TokenVerdict]
    words: list[WordScore]


def encode(tokenizer: Tokenizer, text: str, max_length: int) -> tuple[Encoding, dict[str, torch.Tensor]]:
    """The encoding of ``text`` and its model inputs as a batch of one; an error when it is too long."""
    (enc,), inputs = encode_batch(tokenizer, [text], max_length)
    return enc, inputs


def encode_batch(tokenizer: Tokenizer, texts: Sequence[str], max_length: int,
                 pad_id: int = 0) -> tuple[list[Encoding], dict[str, torch.Tensor]]:  # fmt: skip
    """Encodings of ``texts`` and their model inputs, padded to the longest; an error naming the first text
    that is too long."""
    encodings = tokenizer.encode_batch(list(texts))
    for i, enc in enumerate(encodings):
        if len(enc.ids) > max_length:
            where = f"text {i + 1}" if len(texts) > 1 else "text"
            raise ElectraError(f"{where} is {len(enc.ids)} tokens long; the model takes at most {max_length}")
    width = max(len(e.ids) for e in encodings)
    ids = torch.full((len(texts), width), pad_id, dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids, dtype=torch.bool)
    for r, enc in enumerate(encodings):
        ids[r, : len(enc.ids)] = torch.tensor(enc.ids)
        types[r, : len(enc.ids)] = torch.tensor(enc.type_ids)
        mask[r, : len(enc.ids)] = True
    return encodings, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def batches(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def fill_mask_batch(generator: MaskedLM, tokenizer: Tokenizer, texts: Sequence[str], top_k: int = 5,
                    batch_size: int = 64) -> list[list[MaskPrediction]]:  # fmt: skip
    """For each text, the top-k generator completions (token, probability) of each of its [MASK]s."""
    special = special_token_ids(tokenizer)
    real_vocab = tokenizer.get_vocab_size()
    out: list[list[MaskPrediction]] = []
    for chunk in batches(texts, batch_size):
        encodings, inputs = encode_batch(tokenizer, chunk, generator.config.max_position_embeddings, special["pad"])
        where = [(inputs["input_ids"][r] == special["mask"]).nonzero().flatten().tolist() for r in range(len(chunk))]
        for text, found in zip(chunk, where, strict=True):
            if not found:
                raise ElectraError(f"the text contains no [MASK] token: {text[:60]!r}")
        positions = torch.zeros(len(chunk), max(map(len, where)), dtype=torch.long)  # logits only at the masks
        for r, found in enumerate(where):
            positions[r, : len(found)] = torch.tensor(found)
        inputs = {k: v.to(_device(generator)) for k, v in inputs.items()}
        logits = generator(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"],
                           positions=positions.to(_device(generator))).float()  # fmt: skip
        probs = logits[..., :real_vocab].softmax(-1).cpu()
        for r, found in enumerate(where):
            preds = []
            for slot, pos in enumerate(found):
                values, indices = probs[r, slot].topk(min(top_k, real_vocab))
                pairs = zip(values.tolist(), indices.tolist(), strict=True)
                preds.append(MaskPrediction(pos, [(tokenizer.id_to_token(i), v) for v, i in pairs]))
            out.append(preds)
    return out


def fill_mask(generator: MaskedLM, tokenizer: Tokenizer, text: str, top_k: int = 5) -> list[MaskPrediction]:
    """Top-k generator completions (token, probability) for each [MASK] in ``text``."""
    return fill_mask_batch(generator, tokenizer, [text], top_k)[0]


def group_words(enc: Encoding, text: str, probs: Sequence[float]) -> list[WordScore]:
    """The words of an encoding (pieces of one pre-tokenized word together), each with its highest
    replaced probability."""
    words: dict[int, WordScore] = {}
    for pos, (word, (start, end)) in enumerate(zip(enc.word_ids, enc.offsets, strict=True)):
        if word is None or enc.special_tokens_mask[pos]:
            continue
        w = words.setdefault(word, WordScore("", start, end, 0.0))
        w.end = max(w.end, end)
        w.prob = max(w.prob, float(probs[pos]))
        w.pieces.append(pos)
    for w in words.values():
        w.word = text[w.start : w.end]
    return list(words.values())


@torch.no_grad()
def replaced_probabilities(discriminator: Discriminator, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """P(replaced) per token for a batch of model inputs, on the CPU."""
    inputs = {k: v.to(_device(discriminator)) for k, v in inputs.items()}
    return torch.sigmoid(discriminator(**inputs).float()).cpu()


def detect_batch(discriminator: Discriminator, tokenizer: Tokenizer, texts: Sequence[str],
                 batch_size: int = 64) -> list[Detection]:  # fmt: skip
    """The discriminator's verdict on every token and word of each text."""
    pad = special_token_ids(tokenizer)["pad"]
    out = []
    for chunk in batches(texts, batch_size):
        encodings, inputs = encode_batch(tokenizer, chunk, discriminator.config.max_position_embeddings, pad)
        probs = replaced_probabilities(discriminator, inputs)
        for r, (text, enc) in enumerate(zip(chunk, encodings, strict=True)):
            p = probs[r, : len(enc.ids)].tolist()
            tokens = [TokenVerdict(t, pr) for t, pr, s in zip(enc.tokens, p, enc.special_tokens_mask, strict=True)
                      if not s]  # fmt: skip
            out.append(Detection(text, tokens, group_words(enc, text, p)))
    return out


def detect(discriminator: Discriminator, tokenizer: Tokenizer, text: str) -> list[TokenVerdict]:
    """Probability, for every token of ``text`` (special tokens dropped), that it was replaced."""
    return detect_batch(discriminator, tokenizer, [text])[0].tokens


def marked_words(detection: Detection, base_rate: float, threshold: float | None = None,
                 top: int | None = None) -> list[int]:  # fmt: skip
    """Indices of the words to mark, most suspicious first: the ``top`` K by probability; else those at or
    above ``threshold``; else those above the model's base rate (the replaced fraction it trained on, which
    a young discriminator's probabilities stay around, far below 0.5)."""
    order = sorted(range(len(detection.words)), key=lambda i: -detection.words[i].prob)
    if top is not None:
        return order[:top]
    limit = threshold if threshold is not None else base_rate
    if threshold is not None:
        return [i for i in order if detection.words[i].prob >= limit]
    return [i for i in order if detection.words[i].prob > limit]


def render_detection(detection: Detection, marked: Sequence[int]) -> str:
    """The text with the marked words shown ``[[word]](p)``, everything else as written."""
    parts, last, chosen = [], 0, set(marked)
    for i, w in enumerate(detection.words):
        if i in chosen:
            parts += [detection.text[last : w.start], f"[[{w.word}]]({w.prob:.2f})"]
            last = w.end
    parts.append(detection.text[last:])
    return "".join(parts)
