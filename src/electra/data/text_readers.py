"""Turn the markup of the catalogue's sources into plain-text documents: pure functions, no I/O.

Each reader takes the bytes (or text) of a source file and yields documents, each on one line, which
:func:`electra.data.catalogue.fetch` writes separated by blank lines. The sources are dictionaries
(GCIDE, WordNet, FOLDOC, Littré), reStructuredText (the Python and Linux documentation), POD (Perl's
documentation), DocBook HTML (the Debian Administrator's Handbook) and Bible verses.

Dictionary entries (GCIDE, FOLDOC, Littré) and WordNet glosses are short (a few to a few dozen words), so
consecutive entries are grouped into documents of about :data:`MIN_DOCUMENT_WORDS` words
(:func:`group_entries`): the packer (:mod:`electra.data.prepare`) never puts two documents into one
example, so a corpus of ten-word documents would give ten-word examples padded to the sequence length,
wasting most of every batch.
"""

from __future__ import annotations

import gzip
import html
import re
import struct
import unicodedata
from collections.abc import Iterable, Iterator
from html.parser import HTMLParser

MIN_DOCUMENT_WORDS = 250


def one_line(text: str) -> str:
    """``text`` with every run of white space (line breaks included) squeezed to one space."""
    return " ".join(text.split())


def group_entries(entries: Iterable[str], min_words: int = MIN_DOCUMENT_WORDS) -> Iterator[str]:
    """Join consecutive non-empty ``entries`` with spaces into documents of at least ``min_words`` words
    (the last one may be shorter); an entry is never split, so a long entry is a document by itself."""
    group: list[str] = []
    words = 0
    for entry in entries:
        entry = one_line(entry)
        if not entry:
            continue
        group.append(entry)
        words += len(entry.split())
        if words >= min_words:
            yield " ".join(group)
            group, words = [], 0
    if group:
        yield " ".join(group)


# ---------------------------------------------------------------------------------------------- GCIDE

# GCIDE's character codes: a diacritic before or after a letter ("[a^]" a-breve, "['e]" e-acute, "[=o]"
# o-macron), or a name ("[ae]", "[eth]", "[root]"). Codes not known here are dropped with the other
# bracketed groups.
_GCIDE_MARKS = {"^": "\u0306", "=": "\u0304", ".": "\u0307", "'": "\u0301", "`": "\u0300", '"': "\u0308",
                "~": "\u0303", ",": "\u0327", "*": "\u030a", "-": ""}  # fmt: skip
_GCIDE_NAMED = {
    "ae": "æ", "AE": "Æ", "oe": "œ", "OE": "Œ", "=ae": "ǣ", "=oo": "o͞o", "oo^": "o͝o", "imac": "ī",
    "aum": "ä", "add": "a", "asl": "a", "als": "a", "udd": "u", "eth": "ð", "th": "þ", "thorn": "þ",
    "ng": "ŋ", "yogh": "ȝ", "root": "√", "cuberoot": "∛", "deg": "°", "sect": "§", "para": "¶", "nbsp": " ",
    "rarr": "→", "min": "′", "sec": "″", "bprime": "″", "hand": "☞", "flat": "♭", "sharp": "♯",
    "middot": "·", "pounds": "£", "dsdot": "ḍ", "zdot": "ż", "lsdot": "ḷ", "mdot": "ṁ", "ldqo": "“",
    "rdqo": "”", "male": "♂", "female": "♀", "ccaron": "č", "cacute": "ć", "digamma": "ϝ",
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "Delta": "Δ", "epsilon": "ε", "eta": "η",
    "theta": "θ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν", "pi": "π", "rho": "ρ",
    "sigma": "σ", "tau": "τ", "phi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω",
}  # fmt: skip
_GCIDE_CODE = re.compile(r"\[([^\[\]\s]{1,8})\]")
_GCIDE_HEADWORD = re.compile(r"^\S.*?\\[^\\]+\\")  # a headword line: "Abacist \Ab"a*cist\ ..."
_GCIDE_PRONUNCIATION = re.compile(r"\\[^\\]*\\(,?\s*\(([^()]*)\))?")  # \Ab"a*cist\ ([a^]b"[.a]*s[i^]st)
_GCIDE_PARENS = re.compile(r"\(([^()]*)\)")
_GCIDE_SYLLABLES = re.compile(r"\w[\"*`]\w")  # "Ab*a"sic": accent and syllable marks between letters
_GCIDE_JUNK = re.compile(r"\S*\.html?\">|(?<!\S)>(?!\S)|[\[\]{}]")  # stray HTML and unbalanced brackets
_GCIDE_BRACKETS = re.compile(r"\[[^\[\]]*\]")  # source tags, usage labels, etymologies, sense numbers
_GCIDE_BRACES = re.compile(r"\{([^{}]*)\}")  # cross-references and sub-headwords
_GCIDE_MARKS_IN_WORD = re.compile(r"(?<=\w)[*\"`]")  # syllable and accent marks inside {Gre*ga"ri*ous}
_GCIDE_LETTER_MARKS = re.compile(r"(?<=[^\W\d_])[*\"](?=[^\W\d_])")


def _gcide_char(match: re.Match) -> str:
    code = match.group(1)
    if code in _GCIDE_NAMED:
        return _GCIDE_NAMED[code]
    if len(code) == 2:
        first, second = code
        if second.isalpha() and first in _GCIDE_MARKS:  # "['e]", "[=a]", "[^o]" (circumflex)
            mark = "\u0302" if first == "^" else _GCIDE_MARKS[first]
            return unicodedata.normalize("NFC", second + mark)
        if first.islower() and second == "^":  # "[a^]", "[e^]" (breve)
            return unicodedata.normalize("NFC", first + _GCIDE_MARKS[second])
    return match.group(0)  # not a character code: a tag such as "[R.]", removed later


def _gcide_phonetic(text: str) -> bool:
    """Whether the text of a parenthesized group is a phonetic spelling: marks between letters once the
    character codes are read as letters (``ȧ*b[=a]"s[i^]k``), or codes in lower-case text (``bl[^u]rt``;
    not ``A["e]ronautics``, a domain label)."""
    with_letters = _GCIDE_CODE.sub("x", text)
    label = text[:1].isupper() or text.startswith("{")  # "(A["e]ronautics)", "({Leucotho["e]} ...)"
    return bool(_GCIDE_SYLLABLES.search(with_letters)) or (with_letters != text and not label)


def _gcide_without_pronunciation(match: re.Match) -> str:
    """Nothing for a ``\\pro*nun"ci*a*tion\\`` and the phonetic spelling after it; a label stays."""
    parens = match.group(1)
    return parens if parens and not _gcide_phonetic(match.group(2)) else ""


def _gcide_unless_phonetic(match: re.Match) -> str:
    """A parenthesized group, or nothing when it is a phonetic spelling (:func:`_gcide_phonetic`)."""
    return "" if _gcide_phonetic(match.group(1)) else match.group(0)


def gcide_entry_to_text(entry: str) -> str:
    """One GCIDE entry -> headword and definitions in plain text: the ``\\pro*nun"ci*a*tion\\`` parts
    (and a phonetic spelling in parentheses after them) dropped, character codes made Unicode, bracketed
    groups (source tags such as ``[1913 Webster]``, usage labels, etymologies) dropped, ``{braces}`` kept
    as their content, ``--`` made a dash."""
    text = one_line(entry)
    text = _GCIDE_PRONUNCIATION.sub(_gcide_without_pronunciation, text)
    text = _GCIDE_PARENS.sub(_gcide_unless_phonetic, text)  # "{Ab*a"sic} (ȧ*b[=a]"s[i^]k), a." -> "Abasic, a."
    text = _GCIDE_CODE.sub(_gcide_char, text)
    previous = None
    while previous != text:  # nested brackets, innermost first
        previous, text = text, _GCIDE_BRACKETS.sub("", text)
    text = _GCIDE_BRACES.sub(lambda m: _GCIDE_MARKS_IN_WORD.sub("", m.group(1)), text)
    text = _GCIDE_JUNK.sub("", text)
    text = _GCIDE_LETTER_MARKS.sub("", text)  # unbraced sub-headwords: "Af*flict"ing*ly, adv."
    text = re.sub(r"\s*--+>?\s*", " — ", text)
    text = re.sub(r"\s+([,.;:])", r"\1", text)
    return one_line(text).strip(" —")


def gcide_entries(text: str) -> Iterator[str]:
    """The entries of a GCIDE dictd file, in order, as plain text (:func:`gcide_entry_to_text`).

    An entry starts at a line that begins in column 0 (unless it ends a ``\\pronunciation\\`` that the
    headword line before it left open) and runs to the next one. The ``00-database-*`` header entries (their text has
    column-0 lines too) run up to the first headword line with its ``\\pronunciation\\``, and are skipped.
    """
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if _GCIDE_HEADWORD.match(line)), len(lines))
    current: list[str] = []
    for line in lines[start:]:
        if line[:1].strip() and current and not (len(current) == 1 and current[0].count("\\") % 2):
            yield from _nonempty(gcide_entry_to_text("\n".join(current)))
            current = []
        current.append(line)
    if current:
        yield from _nonempty(gcide_entry_to_text("\n".join(current)))


def _nonempty(text: str) -> Iterator[str]:
    if text:
        yield text


def gcide_documents(dict_dz: bytes) -> Iterator[str]:
    """``gcide.dict.dz`` (dictzip, i.e. gzip) -> documents of consecutive entries (:func:`group_entries`).

    The file is ASCII but for a handful of Windows-1252 bytes, decoded as such."""
    text = gzip.decompress(dict_dz).decode("cp1252", errors="replace")
    return group_entries(gcide_entries(text))


# --------------------------------------------------------------------------------------------- FOLDOC

_FOLDOC_DATE = re.compile(r"^\(\d{4}-\d{2}-\d{2}\)$")  # each entry's last-edited date
_FOLDOC_CATEGORY = re.compile(r"^<[^<>]+>\s*")  # "<programming>" opening a definition
_FOLDOC_LINK = re.compile(r"\{([^{}]*)\}")  # cross-references {stack}, links {label (url)}
_URL = re.compile(r"\(\s*(?:https?|ftp)://[^\s)]*\s*\)|\b(?:https?|ftp)://[^\s)]+")  # "(http://...)" or bare


def foldoc_entry_to_text(headwords: list[str], body: list[str]) -> str:
    """One FOLDOC entry -> ``"headword: definition"``: category tags, dates, URLs and the braces of
    cross-references dropped (their words kept)."""
    lines = [ln.strip() for ln in body if not _FOLDOC_DATE.match(ln.strip())]
    text = _FOLDOC_CATEGORY.sub("", one_line(" ".join(lines)))
    text = _URL.sub("", _FOLDOC_LINK.sub(lambda m: m.group(1), text))
    text = one_line(_URL.sub("", text)).replace(" .", ".").replace(" ,", ",").replace(" )", ")")
    return f"{headwords[0]}: {text}" if text else ""


def foldoc_entries(text: str) -> Iterator[str]:
    """The entries of a dictd ``foldoc.dict`` text: headword lines at column 0 (a synonym may follow the
    headword), the definition indented; the ``00-database-*`` header entries are skipped."""
    headwords: list[str] = []
    body: list[str] = []
    for line in text.splitlines():
        if line[:1].strip():  # column 0: a headword, starting a new entry once a body was read
            if body:
                if not headwords[0].startswith("00-database"):
                    yield foldoc_entry_to_text(headwords, body)
                headwords, body = [], []
            headwords.append(line.strip())
        elif line.strip() and headwords:
            body.append(line)
    if body and not headwords[0].startswith("00-database"):
        yield foldoc_entry_to_text(headwords, body)


def foldoc_documents(dict_dz: bytes) -> Iterator[str]:
    """``foldoc.dict.dz`` (dictzip) -> documents of consecutive entries (:func:`group_entries`)."""
    return group_entries(foldoc_entries(gzip.decompress(dict_dz).decode("utf-8", errors="replace")))


# ------------------------------------------------------------------------------------------------ POD

_POD_ESCAPES = {"lt": "<", "gt": ">", "verbar": "|", "sol": "/", "quot": '"', "amp": "&", "apos": "'"}
_POD_SIMPLE = re.compile(r"([A-Z])<([^<>]*)>")
_POD_LEFTOVER = re.compile(r"\b[BCEFILSXZ]<(?=\S)")


def _pod_code(letter: str, inner: str) -> str:
    if letter == "E":
        if inner in _POD_ESCAPES:
            return _POD_ESCAPES[inner]
        number = inner.lower()
        try:
            return chr(int(number[1:], 16) if number.startswith("0x") else int(number, 0 if number[:1] == "0" else 10))
        except (ValueError, OverflowError):
            return html.unescape(f"&{inner};")
    if letter in "XZ":  # index entries, null codes
        return ""
    if letter == "L":  # L<text|target>, L<target>, L<"section">, L<page/"section">
        text = inner.split("|", 1)[0] if "|" in inner else inner
        return text if "://" in text else text.replace('"', "").replace("/", " ").strip()
    return inner


def pod_inline(text: str) -> str:
    """POD formatting codes (``B<>``, ``C<< >>``, ``L<text|target>``, ``E<gt>``, ...) -> their text."""
    for n in (4, 3, 2):  # C<< ... >>: n angle brackets and white space around the content
        text = re.sub(rf"([A-Z]){'<' * n}\s+(.+?)\s+{'>' * n}", lambda m: _pod_code(m.group(1), m.group(2)), text,
                      flags=re.S)  # fmt: skip
    while True:
        replaced = _POD_SIMPLE.sub(lambda m: _pod_code(m.group(1), m.group(2)), text)
        if replaced == text:  # what is left are codes around unbalanced brackets, C<print <<EOF;>: drop the code
            return _POD_LEFTOVER.sub("", replaced)
        text = replaced


def pod_to_text(text: str) -> str:
    """A POD file (Perl's documentation) -> one document: headings and ``=item`` labels as sentences,
    ordinary paragraphs with their formatting codes resolved; verbatim (indented, code) paragraphs,
    ``=begin`` ... ``=end`` and ``=for`` blocks and the other commands dropped."""
    out: list[str] = []
    skipping = False
    for paragraph in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        if not paragraph.strip():
            continue
        if paragraph.startswith("="):
            command, _, rest = paragraph[1:].partition(" ")
            command = command.split("\n", 1)[0]
            if command == "begin":
                skipping = True
            elif command == "end":
                skipping = False
            elif not skipping and (command.startswith("head") or command == "item") and rest.strip():
                label = pod_inline(one_line(rest)).strip(" *")
                if label and not label.isdigit():
                    out.append(label if label[-1] in ".:?!" else label + ".")
            continue
        if skipping or paragraph[:1] in (" ", "\t"):
            continue
        out.append(pod_inline(one_line(paragraph)))
    return one_line(" ".join(out))


# -------------------------------------------------------------------------------------------- WordNet

_WORDNET_MARKER = re.compile(r"\((?:a|p|ip)\)$")  # adjective position markers: "galore(ip)"


def wordnet_gloss(line: str) -> str | None:
    """One line of a WordNet ``data.*`` file -> ``"lemma, lemma: gloss"`` (None for the licence header,
    whose lines start with two spaces). The lemmas are the words after the hexadecimal word count, with
    ``_`` as spaces and adjective markers dropped; the gloss is what follows ``" | "``."""
    if line.startswith("  ") or not line.strip():
        return None
    fields = line.split(" ")
    count = int(fields[3], 16)
    lemmas: list[str] = []
    for word in fields[4 : 4 + 2 * count : 2]:
        word = _WORDNET_MARKER.sub("", word).replace("_", " ")
        if word not in lemmas:
            lemmas.append(word)
    gloss = line.split(" | ", 1)[1].strip() if " | " in line else ""
    return f"{', '.join(lemmas)}: {gloss}" if gloss else ", ".join(lemmas)


def wordnet_documents(files: Iterable[bytes]) -> Iterator[str]:
    """The ``data.*`` files, in the order given -> documents of consecutive glosses (:func:`group_entries`)."""

    def glosses() -> Iterator[str]:
        for data in files:
            for line in data.decode("utf-8", errors="replace").splitlines():
                gloss = wordnet_gloss(line)
                if gloss:
                    yield gloss

    return group_entries(glosses())


# ------------------------------------------------------------------------------------ reStructuredText

_ADORNMENT = re.compile(r"^([=\-`:'\"~^_*+#<>.])\1{2,}$")  # section under/overlines, transitions
_SIMPLE_TABLE_BORDER = re.compile(r"^=+( +=+)+$")
_GRID_TABLE_BORDER = re.compile(r"^\+[-=+]+\+$")
_DIAGRAM = re.compile(r"[+|]-{3,}|-{3,}[+|]|\|\s+\|")  # a line of an ASCII-art box (outside any table)
_SYMBOLS = frozenset("|+=<>{}[]\\#~^$@")
_EXPLICIT = re.compile(r"^\.\.(\s|$)")
_DIRECTIVE = re.compile(r"^\.\.\s+([\w.+-]+(?::[\w.+-]+)*)::(?:\s+(.*))?$")
_OPTION = re.compile(r"^:[\w -]+:(\s|$)")
_BULLET = re.compile(r"^(?:[-*+•‣⁃]|\d+[.)]|#\.|\(\d+\))\s+")
_FIELD = re.compile(r"^:([\w][\w .()-]*):(\s+|$)")
_INLINE = re.compile(
    r"``(?P<lit>.+?)``"
    r"|(?::(?P<role>[\w.+-]+(?::[\w.+-]+)*):)?`(?P<interp>[^`]+?)`(?::[\w.+-]+:)?(?:__?)?"
    r"|\*\*(?P<strong>[^*]+?)\*\*"
    r"|(?<![\w*])\*(?P<em>[^*\s](?:[^*]*?[^*\s])?)\*(?![\w*])"
    r"|\|(?P<sub>[^|\s](?:[^|]*?[^|\s])?)\|(?:__?)?"
    r"|\s*\[[#*\w.-]*\]_"
    r"|\\(?P<esc>.)"
)

# Directives whose body is prose (kept) and whose argument is prose too (note, warning, ...), a title
# (topic, rubric, ...) or a signature / condition (function, class, only, ...; dropped). Any other
# directive (code-block, literalinclude, toctree, table, csv-table, math, raw, kernel-doc, ...) is dropped
# with its body, so that no code or table leaks into the text.
_ADMONITIONS = {"note", "warning", "tip", "important", "caution", "attention", "danger", "error", "hint",
                "seealso", "impl-detail", "centered", "epigraph", "highlights", "pull-quote", "compound",
                "container", "hlist"}  # fmt: skip
_TITLED = {"topic", "sidebar", "rubric", "admonition"}
_VERSIONS = {"versionadded": "New in version {}.", "versionchanged": "Changed in version {}.",
             "deprecated": "Deprecated since version {}.",
             "deprecated-removed": "Deprecated since version {}."}  # fmt: skip
_NUMBERED_ROLES = {"pep": "PEP {}", "rfc": "RFC {}", "issue": "bpo-{}", "gh": "gh-{}", "cve": "CVE-{}"}
_SIGNATURES = {"function", "method", "class", "attribute", "data", "exception", "decorator", "decoratormethod",
               "classmethod", "staticmethod", "abstractmethod", "coroutinefunction", "coroutinemethod",
               "describe", "object", "envvar", "option", "cmdoption", "opcode", "pdbcommand", "2to3fixer",
               "glossary", "only", "property", "type", "macro", "member", "var", "struct", "union",
               "enum", "enumerator"}  # fmt: skip


def _inline_piece(m: re.Match) -> str:
    if m.group("lit") is not None:
        return m.group("lit")
    if m.group("interp") is not None:
        text = m.group("interp")
        if "<" in text and text.rstrip().endswith(">"):  # `text <target>` -> text; `<target>` -> target
            label = text[: text.rindex("<")].strip()
            text = label or text[text.rindex("<") + 1 : -1]
        text = re.sub(r"\\(.)", r"\1", text)  # backslash escapes, e.g. :mimetype:`text/\*`
        if m.group("role") and text[:1] in "~!":
            text = text[1:].rsplit(".", 1)[-1] if text[0] == "~" else text[1:]
        return _NUMBERED_ROLES.get(m.group("role") or "", "{}").format(text)
    for name in ("strong", "em", "sub"):
        if m.group(name) is not None:
            return m.group(name)
    esc = m.group("esc")
    return "" if esc is None or esc.isspace() else esc


def rst_inline(text: str) -> str:
    """Inline reStructuredText markup -> its text: ````x```` -> x, ``*x*``/``**x**`` -> x,
    ``:ref:`text <target>``` -> text, ``:func:`~a.b``` -> b, ```text <url>`_`` -> text, ``|sub|`` -> sub,
    footnote references dropped, backslash escapes resolved."""
    return one_line(_INLINE.sub(_inline_piece, text))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _looks_like_code(text: str) -> bool:
    """Whether a paragraph is code or a diagram rather than prose: over a fifth of its visible characters
    are symbols such as ``| + = < > { } [ ] # $``."""
    visible = [c for c in text if not c.isspace()]
    return sum(c in _SYMBOLS for c in visible) > 0.2 * len(visible)


def _version_note(name: str, argument: str) -> list[str]:
    """``.. versionchanged:: 3.2 Added x.`` -> ``["Changed in version 3.2.", "Added x."]`` (a removal
    version after the first, as in ``deprecated-removed``, is dropped)."""
    versions = re.match(r"(?:\d[\w.]*\s*)*", argument)
    first = versions.group(0).split()[:1]
    note = _VERSIONS[name].format(first[0]) if first else _VERSIONS[name].replace(" {}", "")
    return [note, argument[versions.end() :]]


def _directive_kind(name: str) -> str:
    base = name.rsplit(":", 1)[-1]
    if base in _VERSIONS:
        return "version"
    if base in _ADMONITIONS:
        return "admonition"
    if base in _TITLED:
        return "titled"
    if base in _SIGNATURES or (":" in name and base not in {"code", "code-block"}):
        return "signature"
    return "drop"


class _RstReader:
    """Line-by-line reader behind :func:`rst_to_text`; ``paragraphs`` collects the text."""

    def __init__(self, text: str) -> None:
        self.lines = text.expandtabs(8).replace("\r\n", "\n").split("\n")
        self.paragraphs: list[str] = []
        self.para: list[str] = []  # the lines of the paragraph being read
        self.para_indent = 0  # the column of its text (after a bullet)
        self.literal_indent: int | None = None  # skipping a literal block indented deeper than this

    def run(self) -> list[str]:
        i = 0
        while i < len(self.lines):
            i = self.step(i)
        self.flush()
        return self.paragraphs

    def step(self, i: int) -> int:
        line = self.lines[i]
        stripped, indent = line.strip(), _indent(line)
        if self.literal_indent is not None:
            if not stripped or indent > self.literal_indent:
                return i + 1
            self.literal_indent = None
        if not stripped or stripped == "|":  # a blank line, or an empty line of a line block
            self.flush()
            return i + 1
        if _EXPLICIT.match(stripped):
            self.flush()
            return self.explicit(i, stripped, indent)
        if _GRID_TABLE_BORDER.match(stripped):
            self.flush()
            return self.skip_to_blank(i)
        if _SIMPLE_TABLE_BORDER.match(stripped):
            self.flush()
            return self.skip_simple_table(i)
        if _ADORNMENT.match(stripped):
            self.adornment()
            return i + 1
        if (stripped.startswith("|") and stripped.endswith("|") and len(stripped) > 1) or _DIAGRAM.search(stripped):
            self.flush()  # a table row, or a line of a diagram
            return i + 1
        if stripped.startswith(">>>") and not self.para:  # a doctest block
            return self.skip_to_blank(i)
        self.add_line(stripped, indent)
        return i + 1

    def add_line(self, stripped: str, indent: int) -> None:
        if stripped.startswith("| "):  # a line block
            stripped = stripped[2:]
        if self.para and indent != self.para_indent:
            self.flush()
            if self.literal_indent is not None and indent > self.literal_indent:  # code right after "::"
                return
        if not self.para:
            bullet = _BULLET.match(stripped)
            if bullet:
                stripped = stripped[bullet.end() :]
                indent += bullet.end()
            stripped = _FIELD.sub(r"\1: ", stripped)
            self.para_indent = indent
        self.para.append(stripped)

    def adornment(self) -> None:
        """A section underline makes the paragraph read so far (one line) a heading; a transition or any
        other line of one repeated punctuation character is dropped."""
        if len(self.para) == 1:
            title = rst_inline(self.para[0]).rstrip(":")
            self.para = []
            if title:
                self.paragraphs.append(title if title[-1] in ".!?" else title + ".")
        else:
            self.flush()

    def flush(self) -> None:
        if not self.para:
            return
        text = " ".join(self.para)
        self.para = []
        if text.endswith("::"):  # "Example::" -> "Example:" and the indented block after it is code
            self.literal_indent = self.para_indent
            text = text[:-2].rstrip() if text[:-2].endswith((" ", "\t")) or text == "::" else text[:-1]
        text = rst_inline(text)
        if text and not _looks_like_code(text):
            self.paragraphs.append(text)

    def body_end(self, i: int, indent: int) -> int:
        """The index after the block that starts at line ``i``: its lines are blank or indented deeper."""
        j = i + 1
        while j < len(self.lines) and (not self.lines[j].strip() or _indent(self.lines[j]) > indent):
            j += 1
        return j

    def skip_to_blank(self, i: int) -> int:
        while i < len(self.lines) and self.lines[i].strip():
            i += 1
        return i

    def skip_simple_table(self, i: int) -> int:
        """Skip a simple table: from its top border to the same border followed by a blank line or the end
        (a header separator is followed by a row; a nested table has other borders), else to a blank line."""
        border = self.lines[i].rstrip()
        for j in range(i + 1, len(self.lines)):
            if self.lines[j].rstrip() == border and (j + 1 == len(self.lines) or not self.lines[j + 1].strip()):
                return j + 1
        return self.skip_to_blank(i)

    def explicit(self, i: int, stripped: str, indent: int) -> int:
        """An explicit markup block (``..``): a directive whose body is prose keeps it; any other directive,
        comment, target, footnote or substitution definition is skipped with its indented body."""
        directive = _DIRECTIVE.match(stripped)
        kind = _directive_kind(directive.group(1)) if directive else "drop"
        if kind == "drop":
            return self.body_end(i, indent)
        argument = (directive.group(2) or "").strip()
        j = i + 1
        header: list[str] = []  # argument continuation and option lines, up to the first blank line
        while j < len(self.lines) and self.lines[j].strip() and _indent(self.lines[j]) > indent:
            if _EXPLICIT.match(self.lines[j].strip()):  # a nested directive right under this one
                break
            header.append(self.lines[j].strip())
            j += 1
        if kind == "signature":
            return j
        prose = [argument] + [h for h in header if not _OPTION.match(h)]
        if kind == "version":
            prose = _version_note(directive.group(1).rsplit(":", 1)[-1], argument) + prose[1:]
        text = rst_inline(" ".join(prose))
        if text:
            self.paragraphs.append(text + "." if kind == "titled" and text[-1] not in ".!?:" else text)
        return j


def rst_to_text(text: str) -> str:
    """A reStructuredText file -> one line of prose, paragraphs joined with spaces.

    Headings are kept as sentences ending in ``.``; section underlines and transitions, tables (grid and
    simple), comments, targets, substitution definitions, doctest blocks, literal blocks (the indented
    block after a paragraph ending in ``::``, whose ``::`` becomes ``:``) and directives are dropped, except
    the bodies of directives that hold prose (notes, warnings, version notes, descriptions of functions and
    classes; code blocks inside them still go). Inline markup is reduced to its text (:func:`rst_inline`).
    """
    return " ".join(_RstReader(text).run())


# ------------------------------------------------------------------------------ DocBook / Handbook HTML


class _ParaText(HTMLParser):
    """Collects the text of each ``<div class="para">`` (nested divs included, ``<pre>`` blocks not)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self.current: list[str] = []
        self.depth = 0  # divs open inside the current para div (0: not in a para)
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "pre":
            self.pre += 1
        if tag != "div":
            return
        if self.depth:
            self.depth += 1
            self.current.append(" ")
        elif "para" in (dict(attrs).get("class") or "").split():
            self.depth = 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag != "div" or not self.depth:
            return
        self.depth -= 1
        self.current.append(" ")
        if not self.depth:
            text = one_line("".join(self.current))
            if text:
                self.paragraphs.append(text)
            self.current = []

    def handle_data(self, data: str) -> None:
        if self.depth and not self.pre:
            self.current.append(data)


def html_paragraphs(page: str) -> list[str]:
    """The text of each ``<div class="para">`` of an HTML page, entities unescaped, white space squeezed."""
    parser = _ParaText()
    parser.feed(page)
    parser.close()
    return parser.paragraphs


def html_page_to_text(page: str) -> str:
    """An HTML page of the Debian Administrator's Handbook -> its paragraphs on one line."""
    return " ".join(html_paragraphs(page))


# ------------------------------------------------------------------------------------ StarDict (Littré)


def stardict_ifo(text: str) -> dict[str, str]:
    """The ``key=value`` lines of a StarDict ``.ifo`` file (its first line is a magic string)."""
    return dict(line.split("=", 1) for line in text.splitlines()[1:] if "=" in line)


def stardict_index(idx: bytes, offset_bits: int = 32) -> list[tuple[str, int, int]]:
    """A StarDict ``.idx`` file -> ``(headword, offset, size)`` for each record: a UTF-8 headword, a NUL,
    then the offset (32 or 64 bits, per the ``.ifo``'s ``idxoffsetbits``) and size (32 bits), big-endian."""
    fmt = ">QI" if offset_bits == 64 else ">II"
    width = struct.calcsize(fmt)
    records = []
    pos = 0
    while pos < len(idx):
        end = idx.index(b"\0", pos)
        offset, size = struct.unpack_from(fmt, idx, end + 1)
        records.append((idx[pos:end].decode("utf-8"), offset, size))
        pos = end + 1 + width
    return records


def pango_to_text(markup: str) -> str:
    """StarDict's light HTML (Pango markup: ``<i>``, ``<b>``, ``<small>``, ``<big>``, ``<span ...>``) ->
    plain text on one line; a ``<big>`` heading becomes a sentence."""
    markup = re.sub(r"<big>(.*?)</big>", lambda m: m.group(1).strip() + ".", markup, flags=re.S)
    text = one_line(html.unescape(re.sub(r"<[^<>]*>", "", markup)))
    text = re.sub(r",(\s*,)+", ",", text.replace(" ,", ",").replace(" .", "."))
    return re.sub(r"(?<!\.)\.\.(?!\.)", ".", text)


def _headword(words: list[str]) -> str:
    """The headword to print for a definition the index lists under several spellings: the longest
    (``DÉCHAÎNÉ, ÉE`` over ``DÉCHAÎNÉ``), accented before plain, with a homograph number (``.1``) dropped."""
    words = [re.sub(r"\.\d+$", "", w) for w in words]
    return max(words, key=lambda w: (len(w), sum(not c.isascii() for c in w)))


def stardict_entries(ifo: str, idx: bytes, dictionary: bytes) -> Iterator[str]:
    """The entries of a StarDict dictionary (``dictionary`` uncompressed) in the order of the ``.dict``
    file, each ``"HEADWORD text"``; spellings sharing one definition give one entry."""
    bits = int(stardict_ifo(ifo).get("idxoffsetbits", "32"))
    spellings: dict[tuple[int, int], list[str]] = {}
    for word, offset, size in stardict_index(idx, bits):
        spellings.setdefault((offset, size), []).append(word)
    for (offset, size), words in sorted(spellings.items()):
        text = pango_to_text(dictionary[offset : offset + size].decode("utf-8", errors="replace"))
        yield f"{_headword(words)} {text}".strip()


def stardict_documents(ifo: bytes, idx: bytes, dict_dz: bytes) -> Iterator[str]:
    """``.ifo``, ``.idx`` and ``.dict.dz`` (dictzip, i.e. gzip) -> documents of consecutive entries
    (:func:`group_entries`)."""
    return group_entries(stardict_entries(ifo.decode("utf-8"), idx, gzip.decompress(dict_dz)))


# -------------------------------------------------------------------------------------------------- Bible


def bible_verse(text: str) -> str:
    """One verse, cleaned: a backtick (the World English Bible's apostrophe) -> ``'``, editorial
    ``[brackets]`` -> their words, Louis Segond's Hebrew verse numbers in psalm titles (``(9:1)``) dropped."""
    text = text.replace("`", "'")
    text = re.sub(r"\[([^\[\]]*)\]", r"\1", text)
    text = re.sub(r"\(\d+:\d+\)\s*", "", text)
    return one_line(text)


def bible_chapters(verses: Iterable[tuple[int, int, str]]) -> Iterator[str]:
    """``(book, chapter, text)`` rows in reading order -> one document per chapter, its non-empty verses
    (:func:`bible_verse`) joined with spaces."""
    key: tuple[int, int] | None = None
    chapter: list[str] = []
    for book, number, text in verses:
        if (book, number) != key:
            if chapter:
                yield " ".join(chapter)
            key, chapter = (book, number), []
        verse = bible_verse(text or "")
        if verse:
            chapter.append(verse)
    if chapter:
        yield " ".join(chapter)
