"""torchrun / DDP setup: one place that knows about ranks."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.tensor import DTensor

from electra.core.errors import ElectraError

_FULL_ON_CPU = StateDictOptions(full_state_dict=True, cpu_offload=True)


@dataclass
class DistInfo:
    """This process's place in the job: global rank, number of ranks, rank on this machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group when launched by torchrun (NCCL on CUDA, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def rank_device(device: torch.device, info: DistInfo) -> torch.device:
    """This rank's device: under torchrun on CUDA the GPU of its local rank (made current), else ``device``."""
    if info.enabled and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    return device


def barrier(info: DistInfo) -> None:
    """Wait for every rank (a no-op for a single process)."""
    if info.enabled:
        dist.barrier()


def all_reduce_mean(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Average a tensor over ranks (a no-op for a single process)."""
    if info.enabled:
        values = values.clone()
        dist.all_reduce(values)
        values /= info.world_size
    return values


def broadcast_object(obj: Any, info: DistInfo, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` (any picklable value) on every rank; other ranks' ``obj`` is ignored."""
    if not info.enabled:
        return obj
    box = [obj if info.rank == src else None]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_object(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank (``[obj]`` for a single process)."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def apply_fsdp(root: nn.Module, blocks: Iterable[nn.Module]) -> None:
    """Shard parameters, gradients and optimiser state over the ranks with FSDP2 (``fully_shard``).

    Each of ``blocks`` (the encoder layers) becomes its own unit, all-gathered just before it runs and
    freed after; the remaining parameters (embeddings shared by generator and discriminator, heads)
    belong to ``root``'s unit. Parameters stay float32 (autocast does the bf16 compute), so the
    numerics are those of DDP. Build the optimiser after this call: the parameters become DTensors.
    """
    from torch.distributed.fsdp import fully_shard

    for block in blocks:
        fully_shard(block)
    fully_shard(root)


def reshard(model: nn.Module) -> None:
    """Return FSDP units to their sharded parameters after a forward without backward (evaluation): the
    root unit keeps its parameters gathered after forward, expecting a backward pass that never comes,
    and the optimiser and state-dict helpers need the sharded ones. A no-op without FSDP."""
    from torch.distributed.fsdp import FSDPModule

    for module in model.modules():
        if isinstance(module, FSDPModule):
            module.reshard()


def local_value(x: torch.Tensor) -> torch.Tensor:
    """A plain tensor for ``x`` (a DTensor, e.g. the gradient norm under FSDP, is gathered)."""
    return x.full_tensor() if isinstance(x, DTensor) else x


def full_model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The unsharded weights of a (possibly FSDP-sharded) model on CPU; empty on ranks > 0 under FSDP.

    A collective under FSDP: every rank must call it.
    """
    return get_model_state_dict(model, options=_FULL_ON_CPU)


def optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The optimiser's state keyed by parameter name, unsharded and on CPU, so that any world size and
    either DDP or FSDP can load it. A collective under FSDP: every rank must call it."""
    return get_optimizer_state_dict(model, optimizer, options=_FULL_ON_CPU)


def load_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Load :func:`optimizer_state`'s output (every rank passes the whole of it; FSDP keeps its shard),
    or a plain ``optimizer.state_dict()`` keyed by parameter index (checkpoints before FSDP support).

    Names of older layouts are upgraded first by the modules that define an ``upgrade_legacy_state(per_param,
    groups, prefix)`` method (the attention's fused projections)."""
    if any(isinstance(p, int) for g in state["param_groups"] for p in g["params"]):
        try:
            optimizer.load_state_dict(state)
        except ValueError as e:
            raise ElectraError(f"the checkpoint's optimiser state (keyed by parameter index, from before 0.1's "
                               f"FSDP support) does not fit this model: {e}") from None  # fmt: skip
        return
    # Only the per-parameter state is taken: hyper-parameters stay this run's (and older ones had other keys).
    current = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    if len(current) != len(state["param_groups"]):
        raise ElectraError(f"the checkpoint's optimiser state has {len(state['param_groups'])} parameter groups, "
                           f"this run {len(current)}")  # fmt: skip
    groups = [{**hyper, "params": list(g["params"])} for hyper, g in zip(current, state["param_groups"], strict=True)]
    state = {"state": dict(state["state"]), "param_groups": groups}
    for prefix, module in model.named_modules():
        upgrade = getattr(module, "upgrade_legacy_state", None)
        if upgrade is not None:
            upgrade(state["state"], state["param_groups"], f"{prefix}." if prefix else "")
    set_optimizer_state_dict(model, optimizer, state, options=StateDictOptions(full_state_dict=True))


def shutdown(info: DistInfo) -> None:
    """Leave the process group; call it once nothing refers to the DDP / FSDP wrappers any more.

    A DDP reducer freed *after* the group is destroyed holds the last reference to it, and its destructor
    then joins gloo's worker thread while holding the GIL, which that thread may need to free a finished
    collective's tensors: a hang at exit (seen under load on CPU). So wrappers still in reference cycles
    are collected first, while the group is alive and its destructor does not run."""
    if info.enabled and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()
