"""Translation quality against the peer: this project's encoder-decoder and ``transformers``' ``MarianMTModel``
of the same shape, trained the same way (same pairs, joint tokenizer, token-budget batches in the same order,
label-smoothed loss, Adam (0.9, 0.98) with the inverse-square-root schedule, same steps, same seed), then
scored on the same held-out books with the same beam by sacrebleu. Prints a Markdown table.

    python benchmarks/seq2seq_quality.py --steps 3000 [--seed 1]   # bible-en-es, the tiny preset: ~60 min on 1 core
    python benchmarks/seq2seq_quality.py --smoke               # seconds: both sides train and translate
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

import torch
import transformers

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seq2seq import EOS, PAD, build_peer, peer_logits  # noqa: E402  (the same peer as the throughput benchmark)

from electra.core.runtime import hardware, resolve_device  # noqa: E402
from electra.models import TransformerSeq2Seq  # noqa: E402
from electra.objectives.translation import label_smoothed_nll  # noqa: E402
from electra.recipes.seq2seq import data as D  # noqa: E402
from electra.recipes.seq2seq.config import build_seq2seq_config  # noqa: E402
from electra.recipes.seq2seq.run import score, translate  # noqa: E402
from electra.train.optim import inverse_sqrt_lr  # noqa: E402


def ours_logits(model, b):
    return model(b["src_ids"], b["src_mask"], b["tgt_in"])


def marian_logits(model, b):
    return peer_logits(model, {"src": b["src_ids"], "mask": b["src_mask"], "tgt_in": b["tgt_in"]})


def fit(model, logits_fn, data: D.Encoded, cfg, device: torch.device) -> float:
    """Train ``model`` for ``cfg.train.steps`` steps; returns the wall seconds."""
    t = cfg.train
    opt = torch.optim.Adam(model.parameters(), lr=0.0, betas=(t.adam_beta1, t.adam_beta2), eps=t.adam_eps)
    model.train()
    torch.manual_seed(t.seed)
    start = time.perf_counter()
    stream = D.batch_stream(data, cfg.data.max_tokens, t.seed, device)
    for step in range(t.steps):
        for group in opt.param_groups:
            group["lr"] = inverse_sqrt_lr(step, t.lr, t.warmup_steps)
        _, _, batch = next(stream)
        loss, _ = label_smoothed_nll(logits_fn(model, batch), batch["tgt_out"], t.label_smoothing, PAD)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - start


@torch.no_grad()
def marian_translate(model, vocab: D.Vocabularies, sentences: list[str], beam: int, max_len_b: int) -> list[str]:
    """Marian's beam search over the sentences batched by length as ``translate`` batches them (so that the
    batch-wide ``max_new_tokens`` is close to each sentence's own ``1.2 x source + b`` limit), in order."""
    model.eval()
    device = next(model.parameters()).device
    enc_all = D.encode_pairs(vocab, [(s, "") for s in sentences], 255, None)
    order = sorted(range(len(sentences)), key=lambda i: len(enc_all.src[i]))
    out = [""] * len(sentences)
    for i in range(0, len(order), 32):
        rows = order[i : i + 32]
        b = D.collate(enc_all, rows)
        src = b["src_ids"].to(device)
        ids = model.generate(input_ids=src, attention_mask=b["src_mask"].long().to(device), num_beams=beam,
                             length_penalty=1.0, max_new_tokens=int(1.2 * src.shape[1]) + max_len_b,
                             early_stopping=True, do_sample=False)  # fmt: skip
        for index, row in zip(rows, ids.tolist(), strict=True):
            row = row[1:]  # the decoder start token
            out[index] = vocab.target.decode(row[: row.index(EOS)] if EOS in row else row)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="tiny")
    p.add_argument("--corpus", default="bible-en-es")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0, help="initial weights and batch order (both models share them)")
    p.add_argument("--smoke", action="store_true", help="a few pairs and steps: both sides run")
    args = p.parse_args(argv)
    steps = 3 if args.smoke else args.steps
    overrides = ["--data.corpus", args.corpus, "--train.steps", str(steps), "--model.dropout", "0.1",
                 "--train.seed", str(args.seed)]  # fmt: skip
    cfg = build_seq2seq_config(args.preset, None, overrides)
    device = resolve_device(args.device)
    sources = D.pair_sources(cfg.data.corpus)
    train_text = D.read_split(sources["train"], "training pairs")
    test_text = D.read_split(sources["test"], "test pairs")
    if args.smoke:
        train_text, test_text = train_text[:200], test_text[:8]
    vocab = D.Vocabularies.train(train_text, 300 if args.smoke else cfg.data.vocab_size, cfg.data.tokenizer_kind)
    data = D.encode_pairs(vocab, train_text, cfg.data.max_length, cfg.data.max_ratio)
    torch.manual_seed(cfg.train.seed)
    ours = TransformerSeq2Seq(cfg.model.model_config(vocab.source.get_vocab_size(), PAD)).to(device)
    peer = build_peer(ours, cfg.model.dropout).to(device)
    rows = []
    for name, model, logits_fn in (("ours", ours, ours_logits), ("Marian", peer, marian_logits)):
        wall = fit(model, logits_fn, data, cfg, device)
        sentences = [s for s, _ in test_text]
        if name == "ours":
            hyps = translate(model, vocab, sentences, args.beam)
        else:
            hyps = marian_translate(model, vocab, sentences, args.beam, cfg.train.max_len_b)
        s = score(hyps, [r for _, r in test_text])
        rows.append((name, wall, s))
    print(f"{datetime.date.today()} | {hardware(device)} | torch {torch.__version__} | transformers "
          f"{transformers.__version__} | {args.corpus}, preset {args.preset}, {steps} steps, beam {args.beam}, "
          f"{len(test_text)} test pairs, seed {args.seed}")  # fmt: skip
    print("\n| model | train min | BLEU | chrF | hyp / ref length |")
    print("|---|---|---|---|---|")
    for name, wall, s in rows:
        print(f"| {name} | {wall / 60:.1f} | {s.bleu:.2f} | {s.chrf:.2f} | {s.length_ratio:.3f} |")
    print(f"\n{rows[0][2].signature}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
