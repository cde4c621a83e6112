"""Export to Hugging Face ``transformers``: directories that ``from_pretrained`` loads offline.

``ElectraForPreTraining`` for a :class:`~electra.models.Discriminator`, ``ElectraForMaskedLM`` for a
:class:`~electra.models.MaskedLM` (ELECTRA's generator, or a model trained with the MLM objective). Each
holds ``config.json``, ``model.safetensors`` and, when a tokenizer is given, ``tokenizer.json``,
``vocab.txt``, ``tokenizer_config.json`` and ``special_tokens_map.json``. The embedding table is written with
the model's (possibly padded) vocabulary size unless ``trim_vocab`` is set; ``transformers`` accepts a
tokenizer smaller than the table.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from tokenizers import Tokenizer
from torch import nn

from electra.core.atomic import atomic_directory, check_writable
from electra.core.errors import ElectraError
from electra.data.tokenizer import special_token_ids
from electra.interop.adapters import ElectraAdapter
from electra.interop.hf_config import DISCRIMINATOR_ARCH, GENERATOR_ARCH, check_post_ln, to_hf_config
from electra.interop.hf_files import as_tokenizer, write_hf_dir, write_hf_tokenizer
from electra.models import Discriminator, Electra, MaskedLM, load_checkpoint
from electra.models.electra import standalone

_TOKEN_TYPES = "encoder.embeddings.token_type_embeddings.weight"


def adapter_for(model: Discriminator | MaskedLM) -> ElectraAdapter:
    """The ELECTRA adapter of one of our networks (its head from its class)."""
    head = "discriminator" if isinstance(model, Discriminator) else "generator"
    return ElectraAdapter(model.config.num_layers, model.encoder.projection is not None, head)


def hf_state_dict(model: Discriminator | MaskedLM, vocab_size: int | None = None) -> dict[str, torch.Tensor]:
    """``model``'s weights under ``ElectraForPreTraining`` / ``ElectraForMaskedLM`` names.

    ``vocab_size`` (at most the model's) keeps only the first rows of the word embeddings and of the
    generator's output bias. The tied ``generator_lm_head.weight`` is left out, as ``transformers`` does. A
    model without token types gets a single all-zero token-type row, which adds nothing, exactly like ours.
    """
    if not isinstance(model, (Discriminator, MaskedLM)):
        raise TypeError(f"expected a Discriminator or MaskedLM, got {type(model).__name__}")
    state = dict(model.state_dict())
    if _TOKEN_TYPES not in state:
        state[_TOKEN_TYPES] = torch.zeros(1, model.config.embedding_size)
    return adapter_for(model).to_hf(state, vocab_size)


def _write_one(model: Discriminator | MaskedLM, directory: Path, tok: Tokenizer | None, pad_token_id: int | None,
               trim_vocab: bool) -> Path:  # fmt: skip
    arch = DISCRIMINATOR_ARCH if isinstance(model, Discriminator) else GENERATOR_ARCH
    check_post_ln(model.config, arch)
    rows = model.config.vocab_size
    if tok is not None:
        n = tok.get_vocab_size(with_added_tokens=True)
        if n > rows:
            raise ElectraError(f"the tokenizer has {n} tokens but the model's embedding table only {rows} rows")
        if trim_vocab:
            rows = n
    elif trim_vocab:
        raise ElectraError("trim_vocab needs the tokenizer (to know the vocabulary size)")
    with atomic_directory(directory, f".tmp-{directory.name}-", f"could not write {directory}") as tmp:
        write_hf_dir(tmp, to_hf_config(model.config, arch, rows, pad_token_id), hf_state_dict(model, rows))
        if tok is not None:
            write_hf_tokenizer(tmp, tok, model.config.max_position_embeddings)
    return directory


def save_hf(
    model: nn.Module,
    directory: str | Path,
    tokenizer: Tokenizer | str | Path | None = None,
    trim_vocab: bool = False,
) -> dict[str, Path]:
    """Write ``model`` as ``transformers`` checkpoint directories; returns them keyed by role.

    An :class:`Electra` goes to ``directory/discriminator`` (``ElectraForPreTraining``) and
    ``directory/generator`` (``ElectraForMaskedLM``); a :class:`Discriminator` or :class:`MaskedLM`
    goes to ``directory`` itself. ``tokenizer`` (a ``tokenizers.Tokenizer`` or a path) adds the tokenizer
    files and sets ``pad_token_id``; ``trim_vocab`` cuts the (padded) embedding table to its size.
    """
    directory = Path(directory)
    tok = as_tokenizer(tokenizer)
    pad = special_token_ids(tok)["pad"] if tok is not None else None
    if isinstance(model, Electra):
        check_post_ln(model.config.discriminator, "the ELECTRA model")
        parts = {"discriminator": (standalone(model.discriminator), directory / "discriminator"),
                 "generator": (model.generator, directory / "generator")}  # fmt: skip
    elif isinstance(model, Discriminator):
        parts = {"discriminator": (model, directory)}
    elif isinstance(model, MaskedLM):
        parts = {"generator": (model, directory)}
    else:
        raise ElectraError(f"cannot export a {type(model).__name__}: expected Electra, Discriminator or MaskedLM")
    written: dict[str, Path] = {}
    try:
        for role, (part, target) in parts.items():
            written[role] = _write_one(part, target, tok, pad, trim_vocab)
    except BaseException:
        for done in written.values():  # all or nothing: no half an export
            shutil.rmtree(done, ignore_errors=True)
        raise
    return written


def export_hf(checkpoint: str | Path, out_dir: str | Path, trim_vocab: bool = False,
              overwrite: bool = False) -> dict[str, Path]:  # fmt: skip
    """Export a checkpoint (or the newest one of a run directory) to ``out_dir/{discriminator,generator}``.

    An ELECTRA checkpoint gives both directories. A checkpoint trained with the MLM objective has no
    discriminator: its masked LM is written as a generator-style ``ElectraForMaskedLM`` to
    ``out_dir/generator`` only. Returns the directories written, keyed by role. An existing export is
    replaced only with ``overwrite``; a failed export leaves none of it behind.
    """
    check_writable(Path(out_dir), "export", directory=True)
    pre = load_checkpoint(Path(checkpoint), pretrained=True)
    if pre.meta.get("image_tokens"):
        raise ElectraError(f"checkpoint {pre.path} is an image model (2-D pixel positions): transformers' ELECTRA "
                           "has no such positions, so it cannot be exported")  # fmt: skip
    if pre.tokenizer is None:
        raise ElectraError(f"checkpoint {pre.path} has no tokenizer.json")
    model = pre.model
    if not isinstance(model, (Electra, Discriminator, MaskedLM)):
        raise ElectraError(f"cannot export {pre.path}: it holds a {type(model).__name__}")
    rows = model.generator.config.vocab_size if isinstance(model, Electra) else model.config.vocab_size
    if pre.tokenizer.get_vocab_size(with_added_tokens=True) > rows:
        raise ElectraError(f"checkpoint {pre.path}: its tokenizer is larger than the model's vocabulary")
    out_dir = Path(out_dir)
    existing = [out_dir / r for r in ("discriminator", "generator") if (out_dir / r).exists()]
    if existing and not overwrite:
        raise ElectraError(f"{existing[0]} already exists; choose another output directory or pass --overwrite")
    target = out_dir / "generator" if isinstance(model, MaskedLM) else out_dir
    return save_hf(model, target, pre.tokenizer, trim_vocab)
