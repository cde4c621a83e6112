"""Checkpoint directories: safetensors weights, JSON config, tokenizer, trainer state.

Layout of ``<output_dir>/checkpoint-<step>/``::

    model.safetensors    weights (shared tensors stored once)
    config.json          {"format": "electra", "step": ..., "config": <PretrainConfig>, ...}
    tokenizer.json, vocab.txt
    trainer_state.pt     optimiser / RNG / data position; tensors and plain types only,
                         loaded with ``torch.load(weights_only=True)``

A checkpoint is written into a temporary sibling directory and renamed into place, so a crash or
a full disk never leaves a half-written ``checkpoint-*`` behind.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model
from torch import nn

from electra.atomic import atomic_directory
from electra.errors import ElectraError

FORMAT = "electra"
FINETUNED = "finetuned"  # config.json "kind" of a checkpoint written by ``electra finetune``
_NAME = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_dirs(output_dir: Path) -> list[Path]:
    """Complete checkpoints in ``output_dir``, oldest first."""
    if not output_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in output_dir.iterdir() if (m := _NAME.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The newest checkpoint directory in ``output_dir``, or None."""
    dirs = checkpoint_dirs(output_dir)
    return dirs[-1] if dirs else None


def save_checkpoint(
    output_dir: Path,
    step: int,
    model: nn.Module,
    meta: dict[str, Any],
    tokenizer_files: dict[str, str] | None = None,
    trainer_state: dict[str, Any] | None = None,
    keep: int | None = None,
) -> Path:
    """Write ``checkpoint-<step>`` atomically and keep only the newest ``keep`` checkpoints.

    ``meta`` goes into config.json (with ``format`` and ``step`` added); ``tokenizer_files`` maps
    file names to their text. On any OSError (e.g. disk full) the temporary directory is removed and
    an :class:`ElectraError` is raised.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    final = output_dir / f"checkpoint-{step:07d}"
    with atomic_directory(final, f".tmp-checkpoint-{step}-", f"could not save checkpoint {final}") as tmp:
        save_model(model, str(tmp / "model.safetensors"))
        (tmp / "config.json").write_text(json.dumps({"format": FORMAT, "step": step, **meta}, indent=2))
        for name, text in (tokenizer_files or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
        if trainer_state is not None:
            torch.save(trainer_state, tmp / "trainer_state.pt")
    if keep:
        for old in checkpoint_dirs(output_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def read_meta(path: Path) -> dict[str, Any]:
    """config.json of a checkpoint directory, with one-line errors."""
    cfg = path / "config.json"
    if not cfg.is_file():
        raise ElectraError(f"not a checkpoint: {path} has no config.json")
    try:
        meta = json.loads(cfg.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ElectraError(f"checkpoint config {cfg} is not valid JSON: {e}") from None
    if meta.get("format") != FORMAT:
        raise ElectraError(f"{cfg} is not an electra checkpoint (format {meta.get('format')!r})")
    return meta


def load_weights(model: nn.Module, path: Path) -> None:
    """Load ``model.safetensors`` from checkpoint ``path`` into ``model``, strictly."""
    file = path / "model.safetensors"
    if not file.is_file():
        raise ElectraError(f"checkpoint {path} has no model.safetensors")
    try:
        missing, unexpected = load_model(model, str(file), strict=False)
    except (SafetensorError, RuntimeError) as e:
        raise ElectraError(f"checkpoint {file} does not fit the model: {str(e).splitlines()[0]}") from None
    if missing or unexpected:
        what = f"missing {sorted(missing)[:3]}" if missing else f"unexpected {sorted(unexpected)[:3]}"
        raise ElectraError(f"checkpoint {file} does not fit the model: {what}")


def load_trainer_state(path: Path) -> dict[str, Any]:
    """trainer_state.pt of a checkpoint, loaded without unpickling arbitrary objects."""
    file = path / "trainer_state.pt"
    if not file.is_file():
        raise ElectraError(f"checkpoint {path} has no trainer_state.pt; cannot resume from it")
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling refusal is a bad file for the user
        raise ElectraError(f"cannot read {file}: {str(e).splitlines()[0]}") from None
