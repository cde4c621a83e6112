"""One ELECTRA pretraining step: this project vs the same model built from Hugging Face transformers.

Both sides do the same work per step: generator MLM at 15% of the tokens, Gumbel-max sampling,
replaced-token detection, loss = MLM + 50 x disc, shared embeddings, global-norm clipping and fused
AdamW, bf16 autocast on CUDA. The peer follows the usual transformers-based implementation:
boolean-mask masking (data-dependent shapes) and the generator's logits over every position.

Both run in the training engine that ``electra pretrain`` runs (``electra.train.engine.Trainer``: the
learning-rate schedule written into device tensors, ``train_step``, metrics accumulated on the device),
with the same AdamW builder; only data loading is left out (one batch, already on the device).

    python benchmarks/pretrain_step.py                   # Small and Base on the GPU, table at the end
    python benchmarks/pretrain_step.py --shape small --variants ours-step,peer-compile
    python benchmarks/pretrain_step.py --shape tiny --variants ours,peer   # the README's preset on CPU
    python benchmarks/pretrain_step.py --shape small --real-corpus corpus.txt   # + the real command's row
    python benchmarks/pretrain_step.py --smoke           # tiny shapes on CPU (CI)

Variants: ``ours`` (eager), ``ours-compile`` (torch.compile), ``ours-graphs`` (compile mode reduce-overhead:
forward and backward as CUDA graphs), ``ours-step`` (compiled, and the whole step, clipping and the optimiser
included, captured as one CUDA graph: what ``--train.compile true`` picks on one GPU), ``peer``, ``peer-compile``;
``+fused`` after an ``ours`` variant sets ``objective.fused_output``, ``+selective`` ``train.selective_checkpointing``
(e.g. ``ours-step+fused+selective``).
"""

from __future__ import annotations

import argparse
import datetime
import functools
import gc
import itertools
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from electra.models import Electra, ElectraConfig, EncoderConfig
from electra.objectives import ObjectiveConfig, ReplacedTokenDetection
from electra.recipes.pretrain.flops import pretraining_flops
from electra.recipes.pretrain.run import objective_forward
from electra.train.engine import Trainer
from electra.train.metrics import read_metrics
from electra.train.optim import build_adamw, param_groups
from electra.train.parallel import Parallel, checkpoint_activations

PEAK_TFLOPS = {"H100": 800.0, "H200": 790.0}  # measured bf16 dense matmul, see benchmarks/README.md


@dataclass
class Shape:
    name: str
    batch: int
    seq: int
    disc: EncoderConfig
    gen_mult: float


def shapes(smoke: bool) -> dict[str, Shape]:
    if smoke:
        tiny = EncoderConfig(vocab_size=512, hidden_size=64, num_layers=2, num_heads=2, intermediate_size=128,
                             embedding_size=32, max_position_embeddings=64)  # fmt: skip
        return {"smoke": Shape("smoke", 4, 64, tiny, 0.5)}
    tiny = EncoderConfig(vocab_size=8192, hidden_size=128, num_layers=2, num_heads=2, intermediate_size=512,
                         embedding_size=128, max_position_embeddings=64)  # fmt: skip  (the tiny preset)
    small = EncoderConfig(vocab_size=30522, hidden_size=256, num_layers=12, num_heads=4, intermediate_size=1024,
                          embedding_size=128)  # fmt: skip
    base = EncoderConfig(vocab_size=30522, hidden_size=768, num_layers=12, num_heads=12, intermediate_size=3072,
                         embedding_size=768)  # fmt: skip
    return {"tiny": Shape("tiny", 16, 64, tiny, 0.5), "small": Shape("small", 128, 128, small, 0.25),
            "base": Shape("base", 64, 512, base, 1 / 3)}  # fmt: skip


def model_flops(shape: Shape) -> float:
    """6 x tokens x matmul parameters (generator output layer at the 15% masked slots) + attention."""
    return pretraining_flops("electra", shape.disc, shape.gen_mult, shape.batch, shape.seq)


# --------------------------------------------------------------------------------------------- ours
def build_ours(shape: Shape, device: torch.device, fused_output: bool = False):
    torch.manual_seed(0)
    model = Electra(ElectraConfig(shape.disc, shape.gen_mult)).to(device)
    # The CLI pads the vocabulary to a multiple of 64; the benchmark keeps the paper's 30522.
    obj = ReplacedTokenDetection(model.generator, model.discriminator, [0, 101, 102, 103], 103,
                                 ObjectiveConfig(fused_output=fused_output))  # fmt: skip
    obj.to(device)
    return model, obj


# --------------------------------------------------------------------------------------------- peer
def build_peer(shape: Shape, device: torch.device):
    from transformers import ElectraConfig as HFConfig
    from transformers import ElectraForMaskedLM, ElectraForPreTraining

    cfg = ElectraConfig(shape.disc, shape.gen_mult)

    def hf(enc: EncoderConfig) -> HFConfig:
        return HFConfig(vocab_size=enc.vocab_size, embedding_size=enc.embedding_size, hidden_size=enc.hidden_size,
                        num_hidden_layers=enc.num_layers, num_attention_heads=enc.num_heads,
                        intermediate_size=enc.intermediate_size, max_position_embeddings=enc.max_position_embeddings,
                        layer_norm_eps=enc.layer_norm_eps, hidden_dropout_prob=enc.dropout,
                        attention_probs_dropout_prob=enc.attention_dropout, attn_implementation="sdpa")  # fmt: skip

    torch.manual_seed(0)
    disc = ElectraForPreTraining(hf(cfg.discriminator)).to(device)
    gen = ElectraForMaskedLM(hf(cfg.generator)).to(device)
    gen.electra.embeddings = disc.electra.embeddings  # shared embeddings, as in the paper
    gen.generator_lm_head.weight = disc.electra.embeddings.word_embeddings.weight
    return PeerObjective(gen, disc)


class PeerObjective(torch.nn.Module):
    """The peer's generator and discriminator, with its loss as ``forward``."""

    def __init__(self, gen: torch.nn.Module, disc: torch.nn.Module):
        super().__init__()
        self.gen, self.disc = gen, disc

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": peer_loss(self.gen, self.disc, input_ids, attention_mask)}


def peer_loss(gen, disc, input_ids, attention_mask):
    """The common transformers-based recipe: Bernoulli masking with boolean indexing, full-vocab logits."""
    special = (input_ids == 0) | (input_ids == 101) | (input_ids == 102)
    prob = torch.full(input_ids.shape, 0.15, device=input_ids.device).masked_fill(special, 0.0)
    masked = torch.bernoulli(prob).bool()
    labels = input_ids.masked_fill(~masked, -100)
    replace = masked & torch.bernoulli(torch.full(input_ids.shape, 0.85, device=input_ids.device)).bool()
    gen_input = input_ids.masked_fill(replace, 103)
    logits = gen(input_ids=gen_input, attention_mask=attention_mask).logits
    mlm = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100)
    with torch.no_grad():
        sel = logits[masked].float()
        u = torch.rand_like(sel)
        sampled = (sel - torch.log(-torch.log(u + 1e-9) + 1e-9)).argmax(-1)
        disc_input = input_ids.clone()
        disc_input[masked] = sampled
        disc_labels = (disc_input != input_ids).float()
    d_logits = disc(input_ids=disc_input, attention_mask=attention_mask).logits.float()
    active = attention_mask.bool()
    disc_loss = F.binary_cross_entropy_with_logits(d_logits[active], disc_labels[active])
    return mlm + 50 * disc_loss


# -------------------------------------------------------------------------------------------- timing
def step_batch(shape: Shape, device: torch.device) -> dict[str, torch.Tensor]:
    """One fixed batch as the step takes it: random ids between [CLS] and [SEP], each row a random length from
    half to all of the sequence (the rest padding), token types all 0."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(104, shape.disc.vocab_size, (shape.batch, shape.seq), generator=g)
    ids[:, 0], ids[:, -1] = 101, 102
    lengths = torch.randint(shape.seq // 2, shape.seq + 1, (shape.batch,), generator=g)
    mask = torch.arange(shape.seq)[None] < lengths[:, None]
    ids = ids.masked_fill(~mask, 0).to(device)
    return {"input_ids": ids, "attention_mask": mask.to(device), "token_type_ids": torch.zeros_like(ids)}


def without_dropout(shape: Shape, batch: int | None = None) -> Shape:
    """``shape`` with dropout off (so SDPA on CPU keeps no [L, L] probabilities, as the GPU's flash kernel)."""
    disc = replace(shape.disc, dropout=0.0, attention_dropout=0.0)
    return replace(shape, disc=disc, batch=shape.batch if batch is None else batch)


def build_trainer(name: str, shape: Shape, device: torch.device) -> Trainer:
    """The engine around this project's objective (``ours*``) or the peer's (``peer*``), compiled as named."""
    name, *options = name.split("+")
    fused = "fused" in options  # objective.fused_output: the generator's output layer and loss in chunks
    if name.startswith("ours"):
        model, root = build_ours(shape, device, fused)
        if "selective" in options:  # train.selective_checkpointing
            checkpoint_activations(model.parallel_blocks(), selective=True)
        forward = objective_forward
    else:
        model = root = build_peer(shape, device)
        forward = lambda module, b: module(b["input_ids"], b["attention_mask"])  # noqa: E731
    graphs = name == "ours-graphs"  # compiled, forward and backward replayed as CUDA graphs
    whole = name == "ours-step"  # compiled, the whole step captured as one CUDA graph
    mode = "graph" if whole else "reduce-overhead" if graphs else "default" if "compile" in name else None
    module = root if mode is None else torch.compile(root, mode="default" if whole else mode)
    parallel = Parallel(module, model, compile_mode=mode)
    optimizer = build_adamw(param_groups(model, 0.01), capturable=whole)
    return Trainer(model=model, parallel=parallel, forward=forward, optimizer=optimizer, schedule=lambda s: 1e-4,
                   total_steps=0, device=device)  # fmt: skip


def run_steps(trainer: Trainer, batches, steps: int) -> None:
    """``steps`` more steps of the engine's loop, waited for."""
    trainer.total_steps += steps
    trainer.fit(batches)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()


def run_variant(name: str, shape: Shape, device: torch.device, steps: int, warmup: int) -> dict:
    batch = step_batch(shape, device)
    batches = itertools.repeat((0, 0, batch))
    cuda = device.type == "cuda"
    if cuda:
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    trainer = build_trainer(name, shape, device)
    run_steps(trainer, batches, 1)
    first_loss = trainer.collect_metrics()["loss"]
    run_steps(trainer, batches, warmup - 1)
    times = []
    for _ in range(max(1, steps // 10)):
        t0 = time.perf_counter()
        run_steps(trainer, batches, 10)
        times.append((time.perf_counter() - t0) / 10)
    ms = statistics.median(times) * 1e3
    out = {"variant": name, "shape": shape.name, "ms": ms, "seq_s": shape.batch / ms * 1e3,
           "tok_s": int(batch["attention_mask"].sum()) / ms * 1e3, "loss": trainer.collect_metrics()["loss"],
           "first_loss": first_loss}  # fmt: skip
    if cuda:
        # Everything the caching allocator held at its peak, CUDA-graph pools included (max_memory_allocated
        # leaves those out), from the first step on.
        out["peak_gib"] = torch.cuda.max_memory_reserved() / 2**30
        out["gpu_ms"] = gpu_busy_ms(lambda: run_steps(trainer, batches, 1))
    return out


def real_command(shape: Shape, corpus: str, steps: int, device: torch.device, launch: str = "single",
                 timeout: float = 600) -> dict:  # fmt: skip
    """``electra pretrain`` itself, as a user runs it, on ``corpus`` at this shape for ``steps`` steps: one
    process (``single``), or under ``torchrun`` on every GPU (or 2 CPU processes) with DDP or FSDP. On CUDA
    ``--train.compile true`` (its ``auto`` mode); on CPU eager, as the README's command. ms/step is the median of
    the logged windows after the first fifth of the steps. A run that fails or takes over ``timeout`` seconds
    raises (its error output's last lines printed)."""
    preset = "tiny" if shape.name in ("tiny", "smoke") else shape.name
    compile_on = "true" if device.type == "cuda" else "false"
    procs = max(1, torch.cuda.device_count()) if device.type == "cuda" else 2
    with tempfile.TemporaryDirectory() as out:
        args = ["pretrain", "--preset", preset, "--data.corpus", corpus, "--data.max_seq_length", str(shape.seq),
                "--train.batch_size", str(shape.batch), "--train.steps", str(steps), "--train.log_every", "10",
                "--train.save_every", str(steps), "--train.compile", compile_on, "--train.device", device.type,
                "--train.fsdp", str(launch == "fsdp").lower(), "--train.tensorboard", "false", "-o", out]  # fmt: skip
        launcher = [sys.executable, "-m", "electra.cli.main"]
        if launch != "single":
            launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs),
                        "-m", "electra.cli.main"]  # fmt: skip
        try:
            subprocess.run([*launcher, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True, timeout=timeout)  # fmt: skip
        except subprocess.CalledProcessError as e:
            tail = [line for line in e.stderr.splitlines() if line.strip()][-15:]
            print("\n".join(tail), file=sys.stderr)
            raise RuntimeError(f"exit status {e.returncode}: {tail[-1] if tail else 'no output'}") from None
        rows = read_metrics(Path(out) / "metrics.jsonl")
    late = [r for r in rows if "step_time_s" in r and r["step"] > steps // 5]
    ms = statistics.median(r["step_time_s"] for r in late) * 1e3
    where = f"{procs} x {launch.upper()}" if launch != "single" else "1 process"
    return {"variant": f"electra pretrain, {where}", "shape": shape.name, "ms": ms, "seq_s": shape.batch / ms * 1e3,
            "tok_s": statistics.median(r["tokens_per_s"] for r in late), "loss": rows[-1]["loss"]}  # fmt: skip


def kept_for_backward(name: str, shape: Shape, device: torch.device, rows: tuple[int, int] = (1, 2)) -> dict:
    """What one forward of variant ``name`` (eager) keeps for backward, besides the parameters, under bf16
    autocast with dropout off (so SDPA on CPU keeps no [L, L] probabilities, as the GPU's flash and
    memory-efficient kernels keep none). Measured at ``rows[0]`` and ``rows[1]`` sequences, fitted as fixed +
    per sequence (activations grow with the batch, bf16 weight copies do not) and given at the shape's batch:
    a memory figure any device can measure, for shapes too large for it. Transients (e.g. the peer's logits in
    backward) and the optimiser's state are not in it, nor what checkpointing keeps (its own hooks hide it)."""
    if "selective" in name.split("+"):
        raise ValueError(f"{name}: checkpointing keeps what saved-tensor hooks do not see; measure its peak instead")
    kept = [saved_bytes(build_trainer(name, without_dropout(shape, n), device), without_dropout(shape, n))
            for n in rows]  # fmt: skip
    per_row = (kept[1] - kept[0]) / (rows[1] - rows[0])
    return {"variant": name, "shape": shape.name, "kept_gib": (kept[0] + per_row * (shape.batch - rows[0])) / 2**30,
            "per_seq_mib": per_row / 2**20}  # fmt: skip


def resident_step_peak(name: str, shape: Shape, rows: int) -> dict:
    """One eager forward and backward of variant ``name`` at ``rows`` sequences on CPU, in a process of its own
    (``--probe``): the peak resident memory it adds to the built model's, in GiB (bf16 autocast, dropout off,
    as :func:`kept_for_backward`). Unlike that figure it counts transients and what checkpointing keeps."""
    args = [sys.executable, __file__, "--probe", name, "--shape", shape.name, "--probe-rows", str(rows),
            *(["--smoke"] if shape.name == "smoke" else [])]  # fmt: skip
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return {"variant": name, "shape": shape.name, "rows": rows, "step_peak_gib": float(out)}


def probe(name: str, shape: Shape, rows: int) -> float:
    """The measurement :func:`resident_step_peak` runs in its own process (``ru_maxrss`` is a high-water
    mark): the peak resident GiB one step's forward and backward add to the process's."""
    quiet = without_dropout(shape, rows)
    trainer = build_trainer(name, quiet, torch.device("cpu"))
    batch = step_batch(quiet, trainer.device)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = trainer.forward(trainer.parallel.module, batch)["loss"]
    loss.backward()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 2**20  # KiB on Linux


def saved_bytes(trainer: Trainer, shape: Shape) -> int:
    """Bytes of the tensors one forward saves for backward (each storage once, parameters left out)."""
    batch = step_batch(shape, trainer.device)
    params = {p.untyped_storage().data_ptr() for p in trainer.parallel.module.parameters()}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autocast(trainer.device.type, dtype=torch.bfloat16):
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            trainer.forward(trainer.parallel.module, batch)
    return sum(saved.values())


def gpu_busy_ms(step, n: int = 5) -> float:
    """Sum of CUDA kernel time per step, from the profiler."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(n):
            step()
    total_us = sum(e.self_device_time_total for e in prof.key_averages() if e.device_type.name == "CUDA")
    return total_us / n / 1e3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", default="all", help="small, base or all")
    ap.add_argument("--variants", default="ours,ours-compile,ours-graphs,ours-step,peer,peer-compile")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--real-corpus", help="also time `electra pretrain` on this corpus (a file or catalogue name)")
    ap.add_argument("--real-steps", type=int, default=200)
    ap.add_argument("--real-launch", default="single", help="comma-separated: single, ddp, fsdp (under torchrun)")
    ap.add_argument("--real-timeout", type=float, default=600, help="seconds one real command may take")
    ap.add_argument("--device", default="auto", help="auto (CUDA when there is one), cuda or cpu")
    ap.add_argument("--kept", action="store_true",
                    help="also what one eager forward keeps for backward, fitted from 1 and 2 sequences")
    ap.add_argument("--kept-only", action="store_true", help="only that (no timing: for shapes too large here)")
    ap.add_argument("--resident", type=int, metavar="ROWS",
                    help="only one CPU step's peak resident memory at ROWS sequences, a process per variant")
    ap.add_argument("--probe", help=argparse.SUPPRESS)  # the process --resident starts
    ap.add_argument("--probe-rows", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--smoke", action="store_true", help="tiny shapes on CPU; checks both sides run and agree")
    args = ap.parse_args(argv)
    auto = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device("cpu" if args.smoke else auto if args.device == "auto" else args.device)
    table = shapes(args.smoke)
    default = ["small", "base"] if device.type == "cuda" else ["tiny"]
    names = list(table) if args.smoke else default if args.shape == "all" else args.shape.split(",")
    variants = ["ours", "peer"] if args.smoke else args.variants.split(",")
    steps, warmup = (10, 2) if args.smoke else (args.steps, args.warmup)
    if args.probe:
        print(probe(args.probe, table[names[0]], args.probe_rows))
        return 0
    if args.resident or args.smoke:
        print_against_peer([resident_step_peak(v, table[n], args.resident or 2) for n in names for v in variants],
                           "step_peak_gib", {"sequences": lambda r: str(r["rows"]),
                                             "one step's peak resident memory over the model's, GiB":
                                                 lambda r: f"{r['step_peak_gib']:.2f}"})  # fmt: skip
        if not args.smoke:
            return 0
    rows = []
    for n in names if not args.kept_only else []:
        runs = [(v, functools.partial(run_variant, v, table[n], device, steps, warmup)) for v in variants]
        for launch in args.real_launch.split(",") if args.real_corpus else []:
            real = functools.partial(real_command, table[n], args.real_corpus, args.real_steps, device, launch,
                                     args.real_timeout)  # fmt: skip
            runs.append((f"electra pretrain ({launch})", real))
        for name, run in runs:
            rows.append(measured(name, n, run, keep_going=not args.smoke))
            print({k: (round(x, 4) if isinstance(x, float) else x) for k, x in rows[-1].items()}, flush=True)
    if rows:
        print_table(rows, table, variants, device)
    if args.kept or args.kept_only or args.smoke:
        print_against_peer([kept_for_backward(v, table[n], device) for n in names for v in variants], "kept_gib",
                           {"kept for backward, GiB": lambda r: f"{r['kept_gib']:.2f}",
                            "per sequence, MiB": lambda r: f"{r['per_seq_mib']:.1f}"})  # fmt: skip
    if args.smoke:
        check_smoke(rows)
    return 1 if any("error" in r for r in rows) else 0


def print_against_peer(rows: list[dict], value: str, columns: dict[str, Callable[[dict], str]]) -> None:
    """A table of ``rows``: shape, variant, the ``columns`` (header: cell of a row), and ``value`` as a share of
    the peer's on the same shape."""
    print(f"\n| shape | variant | {' | '.join(columns)} | vs peer |")
    print("|---" * (len(columns) + 3) + "|")
    for r in rows:
        ref = next((x[value] for x in rows if x["shape"] == r["shape"] and x["variant"] == "peer"), None)
        ratio = f"{r[value] / ref:.0%}" if ref else "-"
        print(f"| {r['shape']} | {r['variant']} | {' | '.join(cell(r) for cell in columns.values())} | {ratio} |")


def measured(name: str, shape: str, run, keep_going: bool) -> dict:
    """``run()``'s row; with ``keep_going`` a failure becomes a row naming its error (traceback on stderr), so
    one variant that fails on a scarce GPU does not lose the others' figures."""
    try:
        return run()
    except Exception as e:
        if not keep_going:
            raise
        traceback.print_exc()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        first = str(e).strip().splitlines()[0][:120] if str(e).strip() else ""
        return {"variant": name, "shape": shape, "error": f"{type(e).__name__}: {first}"}


def print_table(rows: list[dict], table: dict[str, Shape], variants: list[str], device: torch.device) -> None:
    """The Markdown table of ``rows`` with its header line (date, GPU, versions); MFU against the GPU's peak."""
    import transformers

    gpu = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    peak = next((v for k, v in PEAK_TFLOPS.items() if k in gpu), None)

    print(f"\n{datetime.date.today()} | {gpu} | torch {torch.__version__} | transformers {transformers.__version__}")
    peer_name = "peer-compile" if "peer-compile" in variants else "peer"
    print(f"| shape | variant | ms/step | GPU-busy ms | real tokens/s | MFU | peak GiB | vs {peer_name} |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['shape']} | {r['variant']} | failed: {r['error'].replace('|', '/')} | | | | | |")
            continue
        r["mfu"] = model_flops(table[r["shape"]]) / (r["ms"] / 1e3) / (peak * 1e12) if peak else None
        ref = next((x["ms"] for x in rows if x["shape"] == r["shape"] and x["variant"] == peer_name
                    and "ms" in x), None)  # fmt: skip
        ratio = f"{ref / r['ms']:.2f}x" if ref else "-"
        mfu = f"{r['mfu'] * 100:.1f}%" if r.get("mfu") else "-"
        gpu_ms = f"{r['gpu_ms']:.1f}" if "gpu_ms" in r else "-"
        mem = f"{r['peak_gib']:.1f}" if "peak_gib" in r else "-"
        cells = [r["shape"], r["variant"], f"{r['ms']:.1f}", gpu_ms, f"{r['tok_s']:,.0f}", mfu, mem, ratio]
        print("| " + " | ".join(cells) + " |")


def check_smoke(rows: list[dict]) -> None:
    """Both sides ran to finite losses, on the same scale at initialisation (same sizes and objective)."""
    ours, peer = rows[0], rows[1]
    for r in rows:
        assert torch.isfinite(torch.tensor(r["loss"])), r
    assert abs(ours["first_loss"] - peer["first_loss"]) / peer["first_loss"] < 0.25, (ours, peer)


if __name__ == "__main__":
    sys.exit(main())
