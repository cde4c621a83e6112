"""Which scaled-dot-product-attention kernel a padding mask leaves, and what each costs (issue 15).

The encoder hands SDPA a boolean keep-mask [B, 1, 1, L] (``electra.nn.padding_to_attn_mask``). Flash attention
takes no mask, so with one SDPA falls back to another kernel. This times forward + backward of one attention
call at ELECTRA-Small's and Base's shapes (bf16, a quarter of the keys padded in half the rows) for every
backend alone (flash, memory-efficient, cuDNN, math) and for SDPA's own choice, with no mask, the boolean mask
and the same mask as an additive float tensor, and prints which ran and their times.

    python benchmarks/sdpa_kernels.py          # on a GPU
    python benchmarks/sdpa_kernels.py --smoke  # CPU, small shapes: the script runs
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

BACKENDS = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
            "cudnn": SDPBackend.CUDNN_ATTENTION, "math": SDPBackend.MATH}  # fmt: skip


def inputs(batch: int, heads: int, length: int, dim: int, device: torch.device, dtype: torch.dtype):
    q, k, v = (torch.randn(batch, heads, length, dim, device=device, dtype=dtype, requires_grad=True)
               for _ in range(3))  # fmt: skip
    keep = torch.ones(batch, length, dtype=torch.bool, device=device)
    keep[: batch // 2, length * 3 // 4 :] = False
    boolean = keep[:, None, None, :]
    additive = torch.zeros(boolean.shape, device=device, dtype=dtype).masked_fill(~boolean, float("-inf"))
    return (q, k, v), {"none": None, "bool": boolean, "additive": additive}


def time_call(qkv, mask, backend, reps: int) -> float | None:
    """ms of forward + backward, or None when the backend refuses these inputs."""
    q, k, v = qkv
    context = sdpa_kernel([BACKENDS[backend]]) if backend != "auto" else sdpa_kernel(list(BACKENDS.values()))

    def once():
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out.sum().backward()

    try:
        with context:
            once()
            if q.is_cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(reps):
                once()
            if q.is_cuda:
                torch.cuda.synchronize()
    except RuntimeError:
        return None
    return (time.perf_counter() - start) / reps * 1e3


def chosen_kernel(qkv, mask) -> str:
    """The CUDA kernel SDPA's own choice ran (from the profiler), or '-' on CPU."""
    if not qkv[0].is_cuda:
        return "-"
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        F.scaled_dot_product_attention(*qkv, attn_mask=mask)
        torch.cuda.synchronize()
    names = [e.key for e in prof.key_averages() if e.device_type.name == "CUDA"]
    hit = [n for n in names if any(w in n.lower() for w in ("flash", "fmha", "efficient", "cudnn", "attention"))]
    return (hit or names or ["?"])[0][:60]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args(argv)
    cuda = torch.cuda.is_available() and not args.smoke
    device, dtype = (torch.device("cuda"), torch.bfloat16) if cuda else (torch.device("cpu"), torch.float32)
    shapes = {"small": (128, 4, 128, 64), "base": (64, 12, 512, 64)} if cuda else {"smoke": (4, 2, 32, 16)}
    rows = []
    for name, shape in shapes.items():
        qkv, masks = inputs(*shape, device, dtype)
        for mask_name, mask in masks.items():
            times = {b: time_call(qkv, mask, b, args.reps if cuda else 2) for b in ["auto", *BACKENDS]}
            rows.append((name, mask_name, chosen_kernel(qkv, mask), times))
    print(f"\n{torch.cuda.get_device_name() if cuda else 'CPU'} | torch {torch.__version__} | forward + backward ms")
    print("| shape | mask | SDPA's kernel | auto | " + " | ".join(BACKENDS) + " |")
    print("|---|---|---|---|" + "---|" * len(BACKENDS))
    for name, mask_name, kernel, times in rows:
        cells = [f"{t:.3f}" if t is not None else "refused" for t in times.values()]
        print(f"| {name} | {mask_name} | {kernel} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
