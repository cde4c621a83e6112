"""Read the text corpora users bring: plain text, JSON lines, gzip of either; files or directories.

Everything streams: a file is never read into memory whole, so corpora larger than RAM work.
"""

from __future__ import annotations

import codecs
import gzip
import io
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from electra.core.errors import ElectraError
from electra.core.files import iter_jsonl
from electra.data import catalogue

_SNIFF_BYTES = 8192
_CHECK_CHUNK = 1 << 20
_JSON_SUFFIXES = {".jsonl", ".json"}
# A document (a line, a block of lines, a JSON record's text) longer than this many characters is read and
# passed on in pieces of at most this size, so that memory stays bounded whatever the input's line lengths.
MAX_DOCUMENT_CHARS = 1 << 18


@dataclass
class SkipReport:
    """Files that :func:`iter_documents` skipped, with the reason, out of ``total_files`` looked at."""

    skipped: list[tuple[Path, str]] = field(default_factory=list)
    total_files: int = 0

    def summary(self) -> str:
        """One line such as ``skipped 2 of 7 files (not UTF-8 text): a.bin, b.dat``."""
        if not self.skipped:
            return f"skipped 0 of {self.total_files} files"
        by_reason: dict[str, list[str]] = {}
        for path, reason in self.skipped:
            by_reason.setdefault(reason, []).append(Path(path).name)

        def names(items: list[str]) -> str:
            shown = ", ".join(items[:5])
            return shown + (f" and {len(items) - 5} more" if len(items) > 5 else "")

        head = f"skipped {len(self.skipped)} of {self.total_files} files"
        if len(by_reason) == 1:
            reason, items = next(iter(by_reason.items()))
            return f"{head} ({reason}): {names(items)}"
        return head + ": " + "; ".join(f"{reason}: {names(items)}" for reason, items in by_reason.items())


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def find_input_files(paths: Iterable[Path]) -> list[Path]:
    """Expand files and directories into a list of corpus files.

    Directories are searched recursively in sorted order, skipping hidden files and hidden directories.
    Any extension is read as plain text except ``.jsonl``/``.json`` (JSON lines); a ``.gz`` suffix means
    gzip of either.
    """
    found: list[Path] = []
    seen: set[Path] = set()
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise ElectraError(f"corpus path not found: {p}")
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and not _is_hidden(f, p))
            if not files:
                raise ElectraError(f"corpus directory holds no (non-hidden) files: {p}")
        else:
            files = [p]
        for f in files:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                found.append(f)
    if not found:
        raise ElectraError("no corpus files given")
    return found


def _is_gzip(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


def _is_jsonl(path: Path) -> bool:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return Path(name).suffix in _JSON_SUFFIXES


def _open_binary(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")


def _check_text(path: Path) -> str | None:
    """Return why ``path`` is not UTF-8 text (None when it is), reading it in bounded chunks."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        with _open_binary(path) as f:
            head = f.read(_SNIFF_BYTES)
            if b"\x00" in head:
                return "binary"
            chunk = head
            while chunk:
                decoder.decode(chunk)
                chunk = f.read(_CHECK_CHUNK)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "not UTF-8 text"
    except (gzip.BadGzipFile, EOFError, zlib.error):
        return "not valid gzip"
    return None


def _open_text(path: Path) -> io.TextIOWrapper:
    # utf-8-sig drops a byte-order mark if present; newline=None folds \r\n into \n.
    return io.TextIOWrapper(_open_binary(path), encoding="utf-8-sig", errors="strict", newline=None)


def _plain_documents(path: Path, doc_per_line: bool) -> Iterator[str]:
    with _open_text(path) as f:
        if doc_per_line:
            for piece, _ in _bounded_lines(f):
                if piece.strip():
                    yield piece.strip()
            return
        block: list[str] = []
        size = 0
        for piece, _ in _bounded_lines(f):
            piece = piece.strip()
            if block and (not piece or size + len(piece) > MAX_DOCUMENT_CHARS):  # a blank line, or a full block
                yield "\n".join(block)
                block, size = [], 0
            if piece:
                block.append(piece)
                size += len(piece) + 1
        if block:
            yield "\n".join(block)


def _bounded_lines(f: io.TextIOBase) -> Iterator[tuple[str, bool]]:
    """The lines of ``f`` as ``(text, ends_line)``, a line longer than :data:`MAX_DOCUMENT_CHARS` in pieces
    of at most that size cut at a space where there is one: reading a file of one enormous line takes
    bounded memory."""
    carry = ""
    while True:
        chunk = f.readline(MAX_DOCUMENT_CHARS - len(carry))
        if not chunk:
            if carry:
                yield carry, True
            return
        text = carry + chunk
        if text.endswith("\n"):
            yield text[:-1], True
            carry = ""
            continue
        if len(text) < MAX_DOCUMENT_CHARS:  # the file's last line, without a newline
            carry = text
            continue
        cut = text.rfind(" ", MAX_DOCUMENT_CHARS // 2)
        cut = cut + 1 if cut > 0 else len(text)
        yield text[:cut], False
        carry = text[cut:]


def split_long(text: str) -> Iterator[str]:
    """``text`` in pieces of at most :data:`MAX_DOCUMENT_CHARS`, cut at whitespace where there is some."""
    while len(text) > MAX_DOCUMENT_CHARS:
        cut = max(text.rfind(" ", MAX_DOCUMENT_CHARS // 2, MAX_DOCUMENT_CHARS),
                  text.rfind("\n", MAX_DOCUMENT_CHARS // 2, MAX_DOCUMENT_CHARS))  # fmt: skip
        cut = cut + 1 if cut > 0 else MAX_DOCUMENT_CHARS
        yield text[:cut].strip()
        text = text[cut:]
    if text.strip():
        yield text.strip()


def _jsonl_documents(path: Path, text_field: str) -> Iterator[str]:
    with _open_text(path) as f:
        for lineno, record in iter_jsonl(f, path):
            if text_field not in record:
                raise ElectraError(f"{path}:{lineno}: missing field '{text_field}'")
            text = record[text_field]
            if text is None:
                continue
            if not isinstance(text, str):
                raise ElectraError(f"{path}:{lineno}: field '{text_field}' is not a string")
            yield from split_long(text)


def iter_documents(
    files: Iterable[Path],
    doc_per_line: bool = False,
    text_field: str = "text",
    report: SkipReport | None = None,
) -> Iterator[str]:
    """Stream the documents of ``files`` (as listed by :func:`find_input_files`).

    Plain text: one document per block of lines separated by blank lines (the lines joined with ``\\n``),
    or one per non-blank line when ``doc_per_line``. JSON lines: one document per line, from ``text_field``.
    Binary, non-UTF-8 and broken gzip files are skipped and recorded in ``report``. Raises ElectraError
    when no text at all comes out.
    """
    report = report if report is not None else SkipReport()
    files = [Path(f) for f in files]
    report.total_files += len(files)
    yielded = 0
    for path in files:
        reason = _check_text(path)
        if reason is not None:
            report.skipped.append((path, reason))
            continue
        docs = _jsonl_documents(path, text_field) if _is_jsonl(path) else _plain_documents(path, doc_per_line)
        try:
            for doc in docs:
                yielded += 1
                yield doc
        except UnicodeDecodeError:  # pragma: no cover - the file changed since _check_text read it
            report.skipped.append((path, "not UTF-8 text"))
    if yielded == 0:
        if files and len(report.skipped) >= len(files):
            raise ElectraError(f"corpus is empty: {report.summary()}")
        names = ", ".join(str(f) for f in files[:3]) + (" ..." if len(files) > 3 else "")
        raise ElectraError(f"corpus is empty: no text in {names}")


# A sentence ends at . ! or ? (optionally followed by closing quotes/brackets), then whitespace, then
# something that starts a sentence: an upper-case letter, a digit or an opening quote.
_SENTENCE_END = re.compile(r"[.!?]+[\"'\u201d\u2019\u00bb)\]]*\s+")
_OPENERS = set("\"'\u201c\u2018\u00ab\u00bf\u00a1(")


def split_sentences(document: str) -> list[str]:
    """Split a document into sentences: at line breaks, then after ``.``/``!``/``?`` + whitespace when the
    next character is an upper-case letter, a digit or a quote. Empty pieces are dropped."""
    sentences: list[str] = []
    for line in document.split("\n"):
        line = line.strip()
        if not line:
            continue
        start = 0
        for m in _SENTENCE_END.finditer(line):
            end = m.end()
            if end >= len(line):
                break
            nxt = line[end]
            if nxt.isupper() or nxt.isdigit() or nxt in _OPENERS:
                piece = line[start:end].strip()
                if piece:
                    sentences.append(piece)
                start = end
        piece = line[start:].strip()
        if piece:
            sentences.append(piece)
    return sentences


def resolve_corpus(entries: Iterable[str]) -> list[Path]:
    """The text files of corpus entries: catalogue names (e.g. ``wiki-en``, or a mix such as ``en-mix``)
    become their cached files (fetched once, a mix's components in order), everything else a file or
    directory path (no entries, no files)."""
    entries = list(entries)
    if not entries:
        return []
    paths = [p for e in entries for p in (catalogue.resolve(e) if catalogue.is_known(e) else [Path(e)])]
    return find_input_files(paths)
