"""The native checkpoint directory: safetensors weights, a JSON description, tokenizer files, trainer state.

Layout of a checkpoint directory (``<run>/checkpoint-<step>/`` during training)::

    config.json          {"format": "electra", "format_version": 2, "model_class": ..., "model_config": ...,
                          "special_ids": ..., ...}: enough to rebuild the model without the training config
    model.safetensors    weights (shared tensors stored once)
    tokenizer.json, vocab.txt
    train_config.json    the configuration of the run that wrote it (for resume), when there was one
    trainer_state.pt     optimiser / RNG / data position; tensors and plain types only,
                         loaded with ``torch.load(weights_only=True)``

This module knows the files, not what is in them: it writes a directory atomically (a crash or a full disk
never leaves a half-written ``checkpoint-*`` behind), lists and resolves checkpoints, and loads weights
strictly. Checkpoints written before ``format_version`` 2 (the training configuration in config.json) are
read by :mod:`electra.models.pretrained`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_model
from torch import nn

from electra.core.atomic import atomic_directory
from electra.core.errors import ElectraError
from electra.core.files import read_json_object

FORMAT = "electra"
FORMAT_VERSION = 2
CONFIG, WEIGHTS = "config.json", "model.safetensors"
TRAIN_CONFIG, TRAINER_STATE = "train_config.json", "trainer_state.pt"
_NAME = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_name(step: int) -> str:
    """``checkpoint-0001000``: the directory name of the checkpoint written at ``step``."""
    return f"checkpoint-{step:07d}"


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    """Complete checkpoints in a run directory, oldest first."""
    if not run_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in run_dir.iterdir() if (m := _NAME.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest checkpoint directory in ``run_dir``, or None."""
    dirs = checkpoint_dirs(run_dir)
    return dirs[-1] if dirs else None


def resolve_checkpoint(path: Path, pretrained: bool = False) -> Path:
    """A checkpoint directory itself, or the newest ``checkpoint-*`` inside a run directory.

    The output directory of a multi-seed fine-tuning run (``seed-*`` sub-directories) is refused, naming a
    seed's run directory; with ``pretrained`` (the caller needs a pretrained checkpoint) the error says
    which commands take fine-tuned checkpoints."""
    path = Path(path)
    if not path.exists():
        raise ElectraError(f"checkpoint not found: {path}")
    if (path / CONFIG).is_file():
        return path
    latest = latest_checkpoint(path)
    if latest is not None:
        return latest
    seeds = sorted(p.name for p in path.glob("seed-*") if p.is_dir())
    if seeds and pretrained:
        raise ElectraError(
            f"{path} holds fine-tuned checkpoints (one run per seed, from `electra finetune`), not a pretrained "
            f"one: use `electra evaluate` or `electra predict` with one of them, e.g. -m {path / seeds[0]}"
        )
    if seeds:
        raise ElectraError(f"{path} holds one fine-tuning run per seed; pass one of them, e.g. {path / seeds[0]}")
    raise ElectraError(f"no checkpoint in {path} (expected config.json or checkpoint-* directories)")


def read_config(path: Path) -> dict[str, Any]:
    """config.json of a checkpoint directory, with one-line errors."""
    file = path / CONFIG
    if not file.is_file():
        raise ElectraError(f"not a checkpoint: {path} has no {CONFIG}")
    meta = read_json_object(file, "checkpoint config")
    if meta.get("format") != FORMAT:
        hint = ""
        if "model_type" in meta:
            hint = "; it is a Hugging Face directory: convert it with `electra import` or electra.interop.load_hf"
        raise ElectraError(f"{file} is not an electra checkpoint (format {meta.get('format')!r}){hint}")
    return meta


def write_checkpoint(
    final: Path,
    weights: nn.Module,
    config: dict[str, Any],
    files: dict[str, str] | None = None,
    train_config: dict[str, Any] | None = None,
    trainer_state: dict[str, Any] | None = None,
) -> Path:
    """Write checkpoint directory ``final`` atomically: ``weights``' state (shared tensors once), ``config``
    as config.json (``format`` and ``format_version`` added), text ``files`` (name -> content), and the
    optional training configuration and trainer state. An OSError (e.g. disk full) leaves nothing behind and
    becomes an :class:`ElectraError`."""
    with atomic_directory(final, f".tmp-{final.name}-", f"could not save checkpoint {final}") as tmp:
        save_model(weights, str(tmp / WEIGHTS))
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **config}
        (tmp / CONFIG).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        for name, text in (files or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
        if train_config is not None:
            (tmp / TRAIN_CONFIG).write_text(json.dumps(train_config, indent=2) + "\n", encoding="utf-8")
        if trainer_state is not None:
            torch.save(trainer_state, tmp / TRAINER_STATE)
    return final


def prune_checkpoints(run_dir: Path, keep: int, protect: Iterable[Path] = ()) -> None:
    """Delete all but the newest ``keep`` checkpoints of ``run_dir`` (never those in ``protect``). Each is
    renamed away first, so an interrupted deletion never leaves a partial checkpoint under a valid name."""
    kept = {p.resolve() for p in protect}
    for old in checkpoint_dirs(run_dir)[:-keep]:
        if old.resolve() not in kept:
            doomed = old.with_name(f".deleting-{old.name}")
            os.replace(old, doomed)
            shutil.rmtree(doomed, ignore_errors=True)


def remove_stale(run_dir: Path) -> list[Path]:
    """Remove what interrupted writes and deletions left in a run directory (``.tmp-checkpoint-*``,
    ``.deleting-*``); call it holding the run's lock. Returns what was removed."""
    if not run_dir.is_dir():
        return []
    stale = [p for p in run_dir.iterdir() if p.is_dir() and p.name.startswith((".tmp-checkpoint-", ".deleting-"))]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return stale


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of ``model.safetensors`` in checkpoint ``path``, on CPU."""
    file = path / WEIGHTS
    if not file.is_file():
        raise ElectraError(f"checkpoint {path} has no {WEIGHTS}")
    try:
        return load_file(str(file), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ElectraError(f"{file} is corrupt or truncated ({reason})") from None


def load_weights(module: nn.Module, path: Path) -> None:
    """Load checkpoint ``path``'s weights into ``module``, strictly.

    Tied parameters are stored once; a name missing from the file is fine when it shares its tensor with one
    that is there. The modules' state-dict hooks apply (older checkpoints' names are upgraded there)."""
    file = path / WEIGHTS
    tensors = read_weights(path)
    try:
        missing, unexpected = module.load_state_dict(tensors, strict=False)
    except RuntimeError as e:
        raise ElectraError(f"checkpoint {file} does not fit the model: {_first_problem(str(e))}") from None
    missing = [name for name in missing if not _tied_to_loaded(module, name, tensors)]
    if missing or unexpected:
        what = f"missing {sorted(missing)[:3]}" if missing else f"unexpected {sorted(unexpected)[:3]}"
        raise ElectraError(f"checkpoint {file} does not fit the model: {what}")


def _first_problem(message: str) -> str:
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    return lines[1] if len(lines) > 1 else lines[0]


def _tied_to_loaded(module: nn.Module, name: str, loaded: dict[str, torch.Tensor]) -> bool:
    """Whether parameter ``name`` of ``module`` is the same tensor as a parameter that was in the file."""
    state = module.state_dict(keep_vars=True)
    target = state[name]
    return any(other is target or other.data_ptr() == target.data_ptr()
               for key, other in state.items() if key != name and key in loaded)


def load_trainer_state(path: Path) -> dict[str, Any]:
    """trainer_state.pt of a checkpoint, loaded without unpickling arbitrary objects."""
    file = path / TRAINER_STATE
    if not file.is_file():
        raise ElectraError(f"checkpoint {path} has no {TRAINER_STATE}; cannot resume from it")
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any unpickling refusal is a bad file for the user
        raise ElectraError(f"cannot read {file}: it is corrupt, or holds objects other than tensors and plain "
                           "values (it is never unpickled)") from None  # fmt: skip


def read_train_config(path: Path) -> dict[str, Any] | None:
    """train_config.json of a checkpoint, or None when it has none."""
    file = path / TRAIN_CONFIG
    return read_json_object(file, "training config") if file.is_file() else None
