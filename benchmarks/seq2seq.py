"""Translation throughput of this project's encoder-decoder against ``transformers``' ``MarianMTModel`` of the
same size, side by side in one process: training tokens/s (forward, backward and an Adam step on the same
label-smoothed loss) and beam-search tokens/s (same beam, length penalty and forced output length, so both
do the same work). Prints a Markdown table (date, hardware, versions) and the ratios.

    python benchmarks/seq2seq.py                  # the tiny preset's shape on this machine
    python benchmarks/seq2seq.py --shape small     # fairseq's transformer_iwslt_de_en shape
    python benchmarks/seq2seq.py --smoke           # seconds: both sides run (CI)
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import time
from dataclasses import dataclass

import torch
import transformers
from transformers import MarianConfig, MarianMTModel

from electra.core.runtime import hardware, resolve_device
from electra.generation.seq2seq import beam_search
from electra.models import Seq2SeqConfig, TransformerSeq2Seq
from electra.objectives.translation import label_smoothed_nll

PAD, BOS, EOS = 0, 2, 3


@dataclass
class Shape:
    name: str
    preset: str
    vocab: int
    batch: int
    src_len: int
    tgt_len: int
    beam: int


SHAPES = {
    "smoke": Shape("smoke", "tiny", 500, 4, 12, 10, 2),
    "tiny": Shape("tiny", "tiny", 4000, 64, 32, 32, 4),
    "small": Shape("small", "small", 10000, 64, 32, 32, 5),
}


def build_ours(shape: Shape) -> TransformerSeq2Seq:
    torch.manual_seed(0)
    return TransformerSeq2Seq(Seq2SeqConfig.preset(shape.preset, shape.vocab, dropout=0.0, max_positions=256))


def build_peer(ours: TransformerSeq2Seq, dropout: float = 0.0) -> MarianMTModel:
    """Marian with our shape: post-LN, GELU, sinusoidal positions, sqrt(d)-scaled tied embeddings; ``dropout``
    on embeddings and sub-layer outputs, as ours."""
    c = ours.config
    cfg = MarianConfig(vocab_size=c.vocab_size, d_model=c.hidden_size, encoder_layers=c.encoder_layers,
                       decoder_layers=c.decoder_layers, encoder_attention_heads=c.num_heads,
                       decoder_attention_heads=c.num_heads, encoder_ffn_dim=c.intermediate_size,
                       decoder_ffn_dim=c.intermediate_size, activation_function="gelu", dropout=dropout,
                       attention_dropout=0.0, activation_dropout=0.0, max_position_embeddings=c.max_positions,
                       scale_embedding=True, pad_token_id=PAD, eos_token_id=EOS, decoder_start_token_id=BOS,
                       forced_eos_token_id=None, share_encoder_decoder_embeddings=True)  # fmt: skip
    torch.manual_seed(0)
    return MarianMTModel(cfg)


def batch(shape: Shape, device: torch.device) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    src = torch.randint(4, shape.vocab, (shape.batch, shape.src_len), generator=g)
    tgt = torch.randint(4, shape.vocab, (shape.batch, shape.tgt_len + 1), generator=g)
    tgt[:, 0] = BOS
    out = {"src": src, "mask": torch.ones_like(src, dtype=torch.bool), "tgt_in": tgt[:, :-1], "tgt_out": tgt[:, 1:]}
    return {k: v.to(device) for k, v in out.items()}


def ours_logits(model, b):
    return model(b["src"], b["mask"], b["tgt_in"])


def peer_logits(model, b):
    return model(input_ids=b["src"], attention_mask=b["mask"].long(), decoder_input_ids=b["tgt_in"]).logits


def time_training(model, logits_fn, b, steps: int, device: torch.device) -> float:
    """Median seconds per training step (forward, backward, Adam) after two warm-up steps."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98))
    model.train()
    times = []
    for i in range(steps + 2):
        start = time.perf_counter()
        loss, _ = label_smoothed_nll(logits_fn(model, b), b["tgt_out"], 0.1, PAD)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


@torch.no_grad()
def time_beam(shape: Shape, ours, peer, b, repeats: int, device: torch.device) -> tuple[float, float]:
    """Seconds per batch of beam search, each side producing exactly ``tgt_len`` tokens per sentence."""
    ours.eval()
    peer.eval()
    n = shape.tgt_len

    def run_ours():
        beam_search(ours, b["src"], b["mask"], BOS, EOS, shape.beam, 1.0, 0.0, n + 1, min_len=n + 1)

    def run_peer():
        peer.generate(input_ids=b["src"], attention_mask=b["mask"].long(), num_beams=shape.beam,
                      length_penalty=1.0, min_new_tokens=n + 1, max_new_tokens=n + 1, early_stopping=True,
                      do_sample=False)  # fmt: skip

    out = []
    for fn in (run_ours, run_peer):
        fn()  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        out.append(statistics.median(times))
    return out[0], out[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    p.add_argument("--smoke", action="store_true", help="tiny shapes, few steps: both sides run")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    shape = SHAPES["smoke" if args.smoke else args.shape]
    steps, repeats = (2, 1) if args.smoke else (args.steps, 3)
    device = resolve_device(args.device)
    ours = build_ours(shape).to(device)
    peer = build_peer(ours).to(device)
    # trainable parameters (Marian keeps its sinusoidal tables as frozen parameters)
    n_ours, n_peer = (sum(x.numel() for x in m.parameters() if x.requires_grad) for m in (ours, peer))
    b = batch(shape, device)
    train_tokens = shape.batch * shape.tgt_len
    beam_tokens = shape.batch * (shape.tgt_len + 1)
    t_ours, t_peer = (time_training(m, f, b, steps, device) for m, f in ((ours, ours_logits), (peer, peer_logits)))
    g_ours, g_peer = time_beam(shape, ours, peer, b, repeats, device)
    print(f"{datetime.date.today()} | {hardware(device)} | torch {torch.__version__} | transformers "
          f"{transformers.__version__} | shape {shape.name}: batch {shape.batch}, source {shape.src_len}, target "
          f"{shape.tgt_len}, beam {shape.beam}, vocabulary {shape.vocab}")  # fmt: skip
    print("\n| shape | model | parameters | train tokens/s | beam-search tokens/s |")
    print("|---|---|---|---|---|")
    print(f"| {shape.name} | ours | {n_ours / 1e6:.2f}M | {train_tokens / t_ours:,.0f} | {beam_tokens / g_ours:,.0f} |")
    print(f"| {shape.name} | peer | {n_peer / 1e6:.2f}M | {train_tokens / t_peer:,.0f} | {beam_tokens / g_peer:,.0f} |")
    print(f"\nours / peer: training {t_peer / t_ours:.2f}x, beam search {g_peer / g_ours:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
