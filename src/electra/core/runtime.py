"""Where and how computation runs: device choice, mixed precision, random-number state, the hardware."""

from __future__ import annotations

import contextlib
import os
import platform
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from electra.core.errors import ElectraError

PRECISIONS = ("auto", "bf16", "fp32")


def resolve_device(name: str, key: str = "device") -> torch.device:
    """``auto`` picks CUDA when available, else CPU; ``key`` names the setting in errors."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ElectraError(f"{key} = {name!r} but CUDA is not available")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ElectraError(f"unknown {key} {name!r} (expected auto, cpu, cuda or cuda:N)") from None


def uses_bf16(device: torch.device, precision: str) -> bool:
    """bf16 compute for ``precision`` ``bf16``, or ``auto`` on CUDA."""
    return precision == "bf16" or (precision == "auto" and device.type == "cuda")


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on the device (see :func:`uses_bf16`); float32 otherwise."""
    if uses_bf16(device, precision):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def hardware(device: torch.device) -> str:
    """A short description of the machine, for reports."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def memory_bytes(device: torch.device) -> int:
    """The memory a run on ``device`` can use at most: the GPU's, or the machine's RAM (or its cgroup limit,
    when lower)."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            total = min(total, int(limit))
    except OSError:
        pass
    return total


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """torch's generator states (CPU, and every CUDA device when present): what drives dropout, masking
    and sampling; data order has its own seeds."""
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def derived_seed(*parts: int) -> int:
    """A 63-bit seed drawn from ``parts`` (e.g. run seed, rank, step): distinct inputs, independent seeds."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1, np.uint64)[0] >> 1)
