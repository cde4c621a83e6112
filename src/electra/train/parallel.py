"""Compile, DDP and FSDP, applied from outside the model in one place.

:func:`parallelize` takes the module a training step calls (an objective around a model) and the repeated
blocks the model names (:meth:`~electra.models.PretrainedModel.parallel_blocks`), and returns what the step
calls plus how to control gradient synchronisation during gradient accumulation.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.utils.checkpoint
from torch import nn
from torch.utils.checkpoint import CheckpointPolicy, create_selective_checkpoint_contexts

from electra.core.errors import ElectraError
from electra.train import distributed as D

# torch.compile's modes, plus ``graph`` (compiled, and the whole step captured as one CUDA graph) and ``auto``.
COMPILE_MODES = ("auto", "default", "reduce-overhead", "max-autotune", "graph")


@dataclass
class Parallel:
    """What a training step calls (``module``), the module owning the parameters (``model``), the mode:
    ``single`` (one process), ``ddp`` (replicated, gradients all-reduced) or ``fsdp`` (sharded), and the
    resolved compile mode (None: eager; ``graph``: the whole step is also captured, see ``step_graph``)."""

    module: nn.Module
    model: nn.Module
    mode: str = "single"
    compile_mode: str | None = None

    @property
    def cudagraphs(self) -> bool:
        """Compiled with mode ``reduce-overhead``: each step must mark its beginning."""
        return self.compile_mode == "reduce-overhead"

    @property
    def step_graph(self) -> bool:
        """The whole step captured as one CUDA graph (see :mod:`electra.train.step_graph`)."""
        return self.compile_mode == "graph"

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


def resolve_compile_mode(mode: str, device: torch.device, dist: D.DistInfo, recompute: bool = False,
                         key: str = "train.compile_mode") -> str:  # fmt: skip
    """The mode ``auto`` stands for here: ``graph`` for one process on CUDA (forward, backward, clipping and the
    optimiser replayed as one CUDA graph: the fastest correct mode where launches bound the step), else
    ``default``. ``graph`` needs CUDA, a single process (DDP's and FSDP's communication hooks cannot be
    captured) and no activation checkpointing (``recompute``: it saves and restores the RNG state from the
    host): elsewhere it is an error naming ``key``."""
    if mode not in COMPILE_MODES:
        raise ElectraError(f"{key} must be one of {', '.join(COMPILE_MODES)}, not {mode!r}")
    capturable = device.type == "cuda" and not dist.enabled and not recompute
    if mode == "auto":
        return "graph" if capturable else "default"
    if mode == "graph" and not capturable:
        where = ("under torchrun" if dist.enabled else "with activation checkpointing" if recompute
                 else f"on {device.type}")  # fmt: skip
        raise ElectraError(f"{key} graph captures one process's step on CUDA; {where} use default or reduce-overhead")
    return mode


def checkpoint_activations(blocks: Sequence[nn.Module], selective: bool = False) -> None:
    """Make each block recompute its activations in backward instead of keeping them
    (``torch.utils.checkpoint``, non-reentrant; dropout draws the same numbers again). ``selective``: keep
    what is costly to recompute (the outputs of matrix products and attention kernels) and what is random
    (dropout's masks), recompute the rest (LayerNorm, GELU, residual sums, casts): torch's selective
    checkpointing with the op policy of torchtitan. The modules and their parameter names stay as they are,
    so checkpoints do not change."""
    recompute = _selectively_recomputed if selective else _recomputed
    for block in blocks:
        block.forward = functools.partial(recompute, type(block).forward.__get__(block))


def _recomputed(forward: Callable[..., torch.Tensor], *args: object, **kwargs: object) -> torch.Tensor:
    return torch.utils.checkpoint.checkpoint(forward, *args, use_reentrant=False, **kwargs)


_aten = torch.ops.aten
# The linear layers' products and the fused attention kernels. Not bmm: SDPA's math path (CPU with dropout)
# changes its products' outputs in place, which a kept tensor must not be; that path recomputes them.
KEPT_OPS = {_aten.mm.default, _aten.addmm.default, _aten._scaled_dot_product_flash_attention.default,
            _aten._scaled_dot_product_efficient_attention.default, _aten._scaled_dot_product_cudnn_attention.default,
            _aten._scaled_dot_product_flash_attention_for_cpu.default}  # fmt: skip


def _any_on_cuda(args: Sequence[object]) -> bool:
    return any(isinstance(a, torch.Tensor) and a.is_cuda for a in args)


def _keep_costly_and_random(ctx: object, op: object, *args: object, **kwargs: object) -> CheckpointPolicy:
    tags = getattr(op, "tags", ())
    if op in KEPT_OPS:
        return CheckpointPolicy.MUST_SAVE
    if torch.Tag.nondeterministic_seeded not in tags:
        return CheckpointPolicy.PREFER_RECOMPUTE
    # Not `torch.Tag.inplace`: torch 2.11 (the GPU image's) has no such tag; the schema says it in every version.
    if not op._schema.is_mutable:  # CUDA's dropout (native_dropout): its output and mask are kept
        return CheckpointPolicy.MUST_SAVE
    # In place (CPU's dropout draws its mask with bernoulli_, then scales it in place: a kept tensor must not
    # change): recomputed from the RNG state checkpointing restores, which it does except on CUDA.
    if _any_on_cuda(args):
        raise RuntimeError(f"selective checkpointing cannot recompute the in-place random op {op} on CUDA")
    return CheckpointPolicy.PREFER_RECOMPUTE


def _selectively_recomputed(forward: Callable[..., torch.Tensor], *args: object, **kwargs: object) -> torch.Tensor:
    # On CUDA nothing random is recomputed (its outputs are kept), so no RNG state is saved or restored: no
    # host work, and the step can still be captured as one CUDA graph. Elsewhere the state is restored.
    on_cuda = _any_on_cuda(args)
    context = functools.partial(create_selective_checkpoint_contexts, _keep_costly_and_random)
    return torch.utils.checkpoint.checkpoint(forward, *args, use_reentrant=False, preserve_rng_state=not on_cuda,
                                             context_fn=context, **kwargs)  # fmt: skip


def parallelize(
    root: nn.Module,
    model: nn.Module,
    blocks: Sequence[nn.Module],
    dist: D.DistInfo,
    device: torch.device,
    fsdp: bool = False,
    compile: bool = False,
    compile_mode: str = "default",
    recompute: str | None = None,
) -> Parallel:
    """Wrap ``root`` (the module a step calls, holding ``model``) for this process: FSDP2 units per block
    and the root (under torchrun with ``fsdp``), then ``torch.compile``, then DDP (under torchrun without
    ``fsdp``). Build the optimiser afterwards: FSDP turns the parameters into DTensors; and with
    ``compile_mode`` ``graph`` (or ``auto`` resolving to it) make it capturable (``Parallel.step_graph``).
    ``recompute``: activation checkpointing of every block (:func:`checkpoint_activations`), ``full`` or
    ``selective``; None: none."""
    if recompute not in (None, "full", "selective"):
        raise ValueError(f"recompute must be None, full or selective, not {recompute!r}")
    if compile:
        compile_mode = resolve_compile_mode(compile_mode, device, dist, recompute == "full")
    if recompute:  # inside the FSDP units, as torch's FSDP2 recipes do
        checkpoint_activations(blocks, selective=recompute == "selective")
    mode = "single"
    if dist.enabled and fsdp:
        D.apply_fsdp(root, blocks)
        mode = "fsdp"
    module: nn.Module = root
    if compile:
        module = torch.compile(module, mode="default" if compile_mode == "graph" else compile_mode)
    if dist.enabled and not fsdp:
        ids = [device.index] if device.type == "cuda" else None
        module = nn.parallel.DistributedDataParallel(module, device_ids=ids)
        mode = "ddp"
    return Parallel(module, model, mode, compile_mode if compile else None)
