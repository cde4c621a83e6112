"""Compile, DDP and FSDP, applied from outside the model in one place.

:func:`parallelize` takes the module a training step calls (an objective around a model) and the repeated
blocks the model names (:meth:`~electra.models.PretrainedModel.parallel_blocks`), and returns what the step
calls plus how to control gradient synchronisation during gradient accumulation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from electra.train import distributed as D


@dataclass
class Parallel:
    """What a training step calls (``module``), the module owning the parameters (``model``), and the mode:
    ``single`` (one process), ``ddp`` (replicated, gradients all-reduced) or ``fsdp`` (sharded)."""

    module: nn.Module
    model: nn.Module
    mode: str = "single"
    cudagraphs: bool = False  # compiled with mode="reduce-overhead": each step must mark its beginning

    @contextlib.contextmanager
    def gradient_sync(self, enabled: bool) -> Iterator[None]:
        """Within the block, gradients are synchronised across ranks (``enabled``) or only accumulated
        locally (DDP's ``no_sync``; FSDP's reduce-scatter switched off)."""
        if self.mode == "ddp" and not enabled:
            with self.module.no_sync():
                yield
            return
        if self.mode == "fsdp":
            self.model_root.set_requires_gradient_sync(enabled)
        yield

    @property
    def model_root(self) -> nn.Module:
        """The outermost unwrapped module (the FSDP root under FSDP)."""
        module = self.module
        return getattr(module, "_orig_mod", module)


def parallelize(
    root: nn.Module,
    model: nn.Module,
    blocks: Sequence[nn.Module],
    dist: D.DistInfo,
    device: torch.device,
    fsdp: bool = False,
    compile: bool = False,
    compile_mode: str = "default",
) -> Parallel:
    """Wrap ``root`` (the module a step calls, holding ``model``) for this process: FSDP2 units per block
    and the root (under torchrun with ``fsdp``), then ``torch.compile``, then DDP (under torchrun without
    ``fsdp``). Build the optimiser afterwards: FSDP turns the parameters into DTensors."""
    mode = "single"
    if dist.enabled and fsdp:
        D.apply_fsdp(root, blocks)
        mode = "fsdp"
    module: nn.Module = root
    if compile:
        module = torch.compile(module, mode=compile_mode)
    if dist.enabled and not fsdp:
        ids = [device.index] if device.type == "cuda" else None
        module = nn.parallel.DistributedDataParallel(module, device_ids=ids)
        mode = "ddp"
    return Parallel(module, model, mode, cudagraphs=compile and compile_mode == "reduce-overhead")
