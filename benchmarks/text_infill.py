"""Text infilling: one-shot filling against refinement by the critic, on sentences with 15% / 30% / 50% of their
word pieces masked. Reports the share of masked pieces recovered exactly, per setting, and a few examples.

    python benchmarks/text_infill.py -c runs/tiny --corpus wordnet --sentences 500
    python benchmarks/text_infill.py --smoke

Settings: ``one-shot argmax`` (every mask filled at once with the generator's most likely piece), ``one-shot
sample`` (drawn at temperature 1), and refinement over 8 steps at temperature 1 with each rule (``random``,
``confidence``, ``critic``: the checkpoint's discriminator picks which pieces to draw again).
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from electra.core.runtime import hardware
from electra.data.corpus import SkipReport, iter_documents, resolve_corpus
from electra.data.prepare import split_sentences
from electra.data.tokenizer import special_token_ids
from electra.generation.infill import allowed_ids, refine_text, render_tokens
from electra.generation.text import encode_batch
from electra.models import Discriminator, MaskedLM, load_checkpoint
from electra.tokens.masking import candidate_mask, mask_tokens

SETTINGS = [  # name, steps, rule, temperature
    ("one-shot argmax", 1, "random", 1e-4),
    ("one-shot sample", 1, "random", 1.0),
    ("refined, random", 8, "random", 1.0),
    ("refined, confidence", 8, "confidence", 1.0),
    ("refined, critic", 8, "critic", 1.0),
]


def sentences(corpus: str, n: int, tokenizer, max_len: int, seed: int = 0) -> list[str]:
    """``n`` sentences of 8 to ``max_len - 2`` word pieces from the corpus, drawn with a seed."""
    out = []
    for doc in iter_documents(resolve_corpus([corpus]), False, "text", SkipReport()):
        for s in split_sentences(doc):
            k = len(tokenizer.encode(s, add_special_tokens=False).ids)
            if 8 <= k <= max_len - 2:
                out.append(s)
        if len(out) >= 20 * n:
            break
    rng = np.random.default_rng(seed)
    return [out[i] for i in rng.choice(len(out), min(n, len(out)), replace=False)]


def masked_batch(tokenizer, texts: list[str], rate: float, max_len: int, seed: int):
    """Inputs with ``rate`` of each text's pieces (at least one) masked: (inputs, editable, original ids)."""
    special = special_token_ids(tokenizer)
    _, inputs = encode_batch(tokenizer, texts, max_len, special["pad"])
    ids, real = inputs["input_ids"], inputs["attention_mask"]
    special_ids = torch.tensor(sorted(set(special.values())))
    candidates = candidate_mask(ids, real, special_ids).sum(1)
    rates = rate * candidates / real.sum(1)  # mask_tokens counts real tokens; this masks `rate` of the pieces
    masked = mask_tokens(ids, real, special_ids, special["mask"], rates, mask_token_prob=1.0,
                         num_slots=ids.shape[1], generator=torch.Generator().manual_seed(seed))  # fmt: skip
    editable = torch.zeros_like(ids, dtype=torch.bool).scatter(1, masked.positions, masked.weights > 0)
    return {**inputs, "input_ids": masked.input_ids}, editable, ids


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-c", "--checkpoint", help="a pretrained text pair (electra pretrain)")
    p.add_argument("--corpus", default="wiki-en", help="where the sentences come from (a catalogue name or file)")
    p.add_argument("--sentences", type=int, default=500)
    p.add_argument("--rates", default="0.15,0.3,0.5")
    p.add_argument("--smoke", action="store_true", help="a random tiny pair on a tiny text: every setting runs")
    args = p.parse_args()
    if args.smoke:
        args.checkpoint, args.corpus, args.sentences = smoke_checkpoint(), SMOKE_TEXT, 8
    if not args.checkpoint:
        sys.exit("give -c CHECKPOINT (or --smoke)")
    pre = load_checkpoint(Path(args.checkpoint), pretrained=True)
    tok, gen, critic = pre.tokenizer, pre.as_class(MaskedLM), pre.as_class(Discriminator)
    max_len = min(64, gen.config.max_position_embeddings)
    texts = sentences(args.corpus, args.sentences, tok, max_len)
    allowed = allowed_ids(tok, gen.config.vocab_size)
    mask_id = special_token_ids(tok)["mask"]
    rates = [float(r) for r in args.rates.split(",")]
    table: dict[str, list[float]] = {name: [] for name, *_ in SETTINGS}
    examples = []
    for rate in rates:
        inputs, editable, original = masked_batch(tok, texts, rate, max_len, seed=1)
        for name, steps, rule, temperature in SETTINGS:
            out = refine_text(gen, critic, inputs, editable, allowed, mask_id, steps=steps, rule=rule,
                              temperature=temperature, seed=0).tokens  # fmt: skip
            table[name].append(float((out[editable] == original[editable]).float().mean()))
            if rate == 0.3 and name in ("one-shot argmax", "refined, critic"):
                examples.append((name, out[:3]))
        if rate == 0.3:
            drop = set(special_token_ids(tok).values())
            for r in range(3):
                n = int(inputs["attention_mask"][r].sum())
                examples.insert(r, ("masked", render_tokens(tok, inputs["input_ids"][r, :n].tolist(), [False] * n,
                                                            drop - {mask_id})))  # fmt: skip
    print(f"\n{datetime.date.today()}, {hardware(torch.device('cpu'))}, torch {torch.__version__}; checkpoint "
          f"{pre.path} (step {pre.step}); {len(texts)} sentences from {args.corpus}\n")
    print("| setting | " + " | ".join(f"{r:.0%} masked" for r in rates) + " |")
    print("|---|" + "---|" * len(rates))
    for name, values in table.items():
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    print("\nexamples at 30% masked:")
    drop = set(special_token_ids(tok).values())
    for name, value in examples:
        if isinstance(value, str):
            print(f"  masked: {value}")
            continue
        for r in range(len(value)):
            n = int((value[r] != special_token_ids(tok)["pad"]).sum())
            print(f"  {name}: {render_tokens(tok, value[r, :n].tolist(), [False] * n, drop)}")


SMOKE_TEXT = str(Path(tempfile.gettempdir()) / "electra-infill-smoke.txt")


def smoke_checkpoint() -> str:
    from electra.data.tokenizer import train_wordpiece
    from electra.models import Electra, ElectraConfig, EncoderConfig

    words = "the river city market stone road garden winter music light water fire book school".split()
    rng = np.random.default_rng(0)
    lines = [" ".join(rng.choice(words, 10)) + "." for _ in range(100)]
    Path(SMOKE_TEXT).write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    tok = train_wordpiece(lines, vocab_size=100, min_frequency=1)
    enc = EncoderConfig(vocab_size=128, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64,
                        embedding_size=16, max_position_embeddings=64)  # fmt: skip
    path = Path(tempfile.mkdtemp(prefix="electra-infill-")) / "checkpoint-0000001"
    Electra(ElectraConfig(enc, 0.5)).save_pretrained(path, tok, {"kind": "pretrained"})
    return str(path)


if __name__ == "__main__":
    main()
