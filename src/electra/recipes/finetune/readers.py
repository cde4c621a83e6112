"""Readers for the files users bring: CSV / TSV / JSONL / JSON tables, Hugging Face datasets, CoNLL column
files and SQuAD JSON. Every problem is an :class:`ElectraError` naming the file (and line or key)."""

from __future__ import annotations

import csv
import dataclasses
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from electra.core.errors import ElectraError
from electra.core.files import iter_jsonl, read_json
from electra.recipes.finetune import schemes
from electra.recipes.finetune.spec import QAExample, TaskSpec, TextExample, TokenExample

TEXT_CANDIDATES = ("text", "sentence", "sentence1", "question1", "premise", "question")
PAIR_PARTNERS = {
    "sentence1": "sentence2",
    "question1": "question2",
    "premise": "hypothesis",
    "question": "sentence",
}
HF_PREFIX = "hf:"


@dataclass
class ReadResult:
    """Examples read from one source, plus what was learnt about the file (columns, scheme, version)."""

    examples: list[Any]
    spec: TaskSpec  # with auto values resolved (columns, tag scheme, SQuAD version)
    labelled: bool


def _is_hf_dir(path: Path) -> bool:
    return path.is_dir() and any(
        (path / n).is_file() for n in ("dataset_info.json", "dataset_dict.json", "state.json")
    )


def detect_format(source: str | Path, spec: TaskSpec) -> str:
    """The table reader for ``source``: the spec's format, else guessed from the name."""
    if spec.format != "auto":
        return spec.format
    text = str(source)
    if text.startswith(HF_PREFIX) or _is_hf_dir(Path(text)):
        return "hf"
    suffix = Path(text).suffix.lower()
    formats = {
        ".csv": "csv",
        ".tsv": "tsv",
        ".tab": "tsv",
        ".jsonl": "jsonl",
        ".ndjson": "jsonl",
        ".json": "json",
    }
    if suffix in formats:
        return formats[suffix]
    raise ElectraError(
        f"cannot tell the format of {source} from its name; pass --format (csv, tsv, jsonl, json, hf)"
    )


def _check_file(path: Path) -> None:
    if not path.exists():
        raise ElectraError(f"data file not found: {path}")
    if path.is_dir():
        raise ElectraError(f"{path} is a directory, not a data file (Hugging Face datasets need `datasets`)")
    if path.stat().st_size == 0:
        raise ElectraError(f"data file {path} is empty")


# ---------------------------------------------------------------------------------------------- tables


def iter_table_rows(path: Path, fmt: str, header: bool = True) -> Iterator[tuple[dict[str, Any], str]]:
    """``(row, "file:line")`` for each record of a CSV / TSV / JSONL / JSON file."""
    _check_file(path)
    if fmt in ("csv", "tsv"):
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
        with path.open(encoding="utf-8-sig", newline="") as f:
            if fmt == "tsv":
                reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            else:
                reader = csv.reader(f)
            names: list[str] | None = None
            try:
                for values in reader:
                    if not values or all(not v.strip() for v in values):
                        continue
                    if names is None:
                        if header:
                            names = [v.strip() for v in values]
                            continue
                        names = [str(i) for i in range(len(values))]
                    row: dict[str, Any] = {
                        n: (values[i] if i < len(values) else None) for i, n in enumerate(names)
                    }
                    yield row, f"{path}:{reader.line_num}"
            except csv.Error as e:
                raise ElectraError(f"{path}:{reader.line_num}: malformed {fmt.upper()}: {e}") from None
            except UnicodeDecodeError as e:
                raise ElectraError(f"{path} is not UTF-8 text ({e.reason})") from None
    elif fmt == "jsonl":
        with path.open(encoding="utf-8") as f:
            try:
                for lineno, row in iter_jsonl(f, path):
                    yield row, f"{path}:{lineno}"
            except UnicodeDecodeError as e:
                raise ElectraError(f"{path} is not UTF-8 text ({e.reason})") from None
    elif fmt == "json":
        data = _load_json(path)
        records = data.get("data") if isinstance(data, dict) else data
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise ElectraError(f'{path}: expected a JSON list of objects (or {{"data": [...]}})')
        for i, row in enumerate(records):
            yield row, f"{path}: record {i}"
    else:
        raise ElectraError(f"{path}: format {fmt!r} is not a table format")


def _load_json(path: Path) -> Any:
    _check_file(path)
    return read_json(path, "data file")


def iter_hf_rows(source: str, split: str | None) -> Iterator[tuple[dict[str, Any], str]]:
    """Rows of a Hugging Face dataset saved with ``save_to_disk`` (or ``hf:NAME[:CONFIG]`` from the hub).

    Integer labels of a ``ClassLabel`` column come back as their names.
    """
    try:
        import datasets
    except ImportError:
        raise ElectraError(
            f"reading {source} needs the Hugging Face `datasets` package (pip install datasets)"
        ) from None
    try:
        if source.startswith(HF_PREFIX):
            name, _, config = source[len(HF_PREFIX) :].partition(":")
            ds = datasets.load_dataset(name, config or None)
        else:
            ds = datasets.load_from_disk(source)
    except Exception as e:  # noqa: BLE001 - datasets raises many kinds; report them as one line
        raise ElectraError(
            f"cannot load Hugging Face dataset {source}: {str(e).splitlines()[0] if str(e) else e}"
        ) from None
    if isinstance(ds, datasets.DatasetDict):
        if split is None:
            raise ElectraError(
                f"{source} holds splits {', '.join(ds)}; choose one with --split (or NAME@SPLIT)"
            )
        if split not in ds:
            raise ElectraError(f"{source} has no split {split!r} (it has {', '.join(ds)})")
        ds = ds[split]
    names = {k: f.names for k, f in ds.features.items() if hasattr(f, "names")}
    where = f"{source}[{split}]" if split else source
    for i, row in enumerate(ds):
        row = dict(row)
        for k, labels in names.items():
            if isinstance(row.get(k), int) and 0 <= row[k] < len(labels):
                row[k] = labels[row[k]]
        yield row, f"{where} row {i}"


def resolve_columns(spec: TaskSpec, columns: list[str], source: str) -> TaskSpec:
    """Fill in automatic text / pair columns from the available ``columns``; check the named ones exist."""
    text, pair = spec.text_column, spec.text_pair_column
    if text is None:
        text = next((c for c in TEXT_CANDIDATES if c in columns), None)
        if text is None:
            raise ElectraError(
                f"{source}: no text column found (looked for {', '.join(TEXT_CANDIDATES)}); columns are "
                f"{', '.join(columns)}; name it with --text-column"
            )
    elif text not in columns:
        raise ElectraError(f"{source}: missing text column {text!r}; columns are {', '.join(columns)}")
    if pair is None:
        partner = PAIR_PARTNERS.get(text)
        pair = partner if partner in columns else "none"
    elif pair != "none" and pair not in columns:
        raise ElectraError(f"{source}: missing text-pair column {pair!r}; columns are {', '.join(columns)}")
    return dataclasses.replace(spec, text_column=text, text_pair_column=pair)


def split_hf_source(source: str, split: str | None) -> tuple[str, str | None]:
    """``"DIR@validation"`` -> ``("DIR", "validation")``; otherwise ``(source, split)``."""
    base, at, name = source.rpartition("@")
    if at and name and (base.startswith(HF_PREFIX) or Path(base).is_dir()):
        return base, name
    return source, split


def read_text_examples(
    source: str | Path,
    spec: TaskSpec,
    require_labels: bool = True,
    default_split: str | None = None,
    numeric_labels: bool = False,
) -> ReadResult:
    """Classification (or with ``numeric_labels``, regression) examples from a table or a Hugging Face
    dataset.

    For a Hugging Face dataset with several splits the split is ``DIR@SPLIT``, else ``spec.split``,
    else ``default_split`` (the trainer passes train / validation / test).
    """
    if str(source).rpartition("@")[0] and split_hf_source(str(source), None)[1]:
        fmt = "hf"
    else:
        fmt = detect_format(source, spec)
    if fmt == "hf":
        name, split = split_hf_source(str(source), spec.split or default_split)
        rows = iter_hf_rows(name, split)
    else:
        rows = iter_table_rows(Path(source), fmt, spec.header)
    examples: list[TextExample] = []
    labelled = True
    for row, where in rows:
        if not examples:
            spec = resolve_columns(spec, [str(c) for c in row], str(source))
            labelled = spec.label_column in row
            if require_labels and not labelled:
                raise ElectraError(
                    f"{source}: missing label column {spec.label_column!r}; columns are "
                    f"{', '.join(map(str, row))}; name it with --label-column"
                )
        text = _text_value(row, spec.text_column, where)
        pair = None if spec.text_pair_column == "none" else _text_value(row, spec.text_pair_column, where)
        label = _label_value(row, spec, where, numeric_labels) if labelled else None
        examples.append(TextExample(text, pair, label, where, row))
    if not examples:
        raise ElectraError(f"data file {source} has no examples")
    return ReadResult(examples, spec, labelled)


def _text_value(row: dict[str, Any], column: str | None, where: str) -> str:
    value = row.get(column) if column is not None else None
    if value is None:
        raise ElectraError(f"{where}: no value in column {column!r}")
    if not isinstance(value, str):
        value = str(value)
    return value


def _label_value(row: dict[str, Any], spec: TaskSpec, where: str, numeric: bool) -> str | float:
    value = row.get(spec.label_column)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ElectraError(f"{where}: empty label in column {spec.label_column!r}")
    if numeric:
        try:
            if isinstance(value, bool):
                raise ValueError
            out = float(value)
        except (TypeError, ValueError):
            raise ElectraError(f"{where}: regression label {value!r} is not a number") from None
        if out != out or out in (float("inf"), float("-inf")):
            raise ElectraError(f"{where}: regression label {value!r} is not a finite number")
        return out
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (list, dict)):
        raise ElectraError(f"{where}: label {value!r} is not a single value")
    return str(value).strip()


# ---------------------------------------------------------------------------------------------- CoNLL


def read_conll(path: str | Path, spec: TaskSpec, require_labels: bool = True) -> ReadResult:
    """Sentences of a CoNLL column file, tags converted to IOB2 (scheme detected when ``auto``)."""
    path = Path(path)
    _check_file(path)
    sentences: list[tuple[list[str], list[str], str]] = []
    tokens: list[str] = []
    tags: list[str] = []
    start = 0
    labelled: bool | None = None

    def flush() -> None:
        nonlocal tokens, tags
        if tokens:
            sentences.append((tokens, tags, f"{path}:{start}"))
        tokens, tags = [], []

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise ElectraError(f"{path} is not UTF-8 text ({e.reason})") from None
    for lineno, line in enumerate(lines, 1):
        cols = line.split()
        if not cols or cols[0] == "-DOCSTART-":
            flush()
            continue
        if not tokens:
            start = lineno
        n = len(cols)
        tok_i = spec.token_column if spec.token_column >= 0 else n + spec.token_column
        tag_i = spec.tag_column if spec.tag_column >= 0 else n + spec.tag_column
        if not 0 <= tok_i < n:
            raise ElectraError(f"{path}:{lineno}: has {n} columns; no token column {spec.token_column}")
        has_tag = n > 1 and 0 <= tag_i < n and tag_i != tok_i
        if labelled is None:
            labelled = has_tag
            if require_labels and not has_tag:
                raise ElectraError(
                    f"{path}:{lineno}: has {n} column(s); expected a token and a tag column "
                    f"(--token-column {spec.token_column}, --tag-column {spec.tag_column})"
                )
        elif labelled and not has_tag:
            raise ElectraError(f"{path}:{lineno}: has {n} column(s) but earlier lines have a tag column")
        tokens.append(cols[tok_i])
        if labelled:
            tag = cols[tag_i]
            try:
                schemes.split_tag(tag)
            except ValueError:
                raise ElectraError(
                    f"{path}:{lineno}: tag {tag!r} is not 'O' or PREFIX-TYPE (PREFIX one of B, I, E, S)"
                ) from None
            tags.append(tag)
    flush()
    if not sentences:
        raise ElectraError(f"data file {path} has no sentences")
    scheme = spec.tag_scheme
    if labelled:
        if scheme == "auto":
            scheme = schemes.detect_scheme(t for _, t, _ in sentences)
        elif scheme not in schemes.SCHEMES:
            raise ElectraError(f"unknown tag scheme {scheme!r}; expected auto, {', '.join(schemes.SCHEMES)}")
    examples = [
        TokenExample(toks, schemes.to_iob2(tg, scheme) if labelled else None, where)
        for toks, tg, where in sentences
    ]
    return ReadResult(examples, dataclasses.replace(spec, tag_scheme=scheme), bool(labelled))


# ---------------------------------------------------------------------------------------------- SQuAD


def read_squad(path: str | Path, spec: TaskSpec, require_labels: bool = True) -> ReadResult:
    """Questions of a SQuAD v1.1 / v2.0 JSON file; every answer offset is checked against its context."""
    path = Path(path)
    data = _load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ElectraError(f"{path}: not SQuAD JSON (expected an object with a 'data' list)")
    version = spec.squad_version
    if version == "auto":
        says_v2 = str(data.get("version", "")).lstrip("v").startswith("2")
        uses_impossible = any(
            "is_impossible" in qa
            for art in data["data"]
            for par in art.get("paragraphs", [])
            for qa in par.get("qas", [])
        )
        version = "2" if says_v2 or uses_impossible else "1"
    if version not in ("1", "2"):
        raise ElectraError(f"unknown SQuAD version {spec.squad_version!r}; expected 1, 2 or auto")
    examples: list[QAExample] = []
    seen: set[str] = set()
    labelled = True
    for a, article in enumerate(data["data"]):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise ElectraError(f"{path}: data[{a}] has no 'paragraphs' list")
        for p, par in enumerate(paragraphs):
            where = f"{path}: data[{a}].paragraphs[{p}]"
            context = par.get("context")
            if not isinstance(context, str) or not isinstance(par.get("qas"), list):
                raise ElectraError(f"{where} lacks 'context' or 'qas'")
            for qa in par["qas"]:
                qid, question = qa.get("id"), qa.get("question")
                if qid is None or not isinstance(question, str):
                    raise ElectraError(f"{where}: a question lacks 'id' or 'question'")
                qid = str(qid)
                if qid in seen:
                    raise ElectraError(f"{path}: question id {qid!r} appears twice")
                seen.add(qid)
                impossible = bool(qa.get("is_impossible", False))
                if impossible and version == "1":
                    raise ElectraError(f"{path}: question {qid} is_impossible but the file is SQuAD v1.1")
                raw_answers = qa.get("answers")
                if raw_answers is None:
                    labelled = False
                    raw_answers = []
                answers = []
                for ans in raw_answers:
                    if not isinstance(ans, dict) or "text" not in ans or "answer_start" not in ans:
                        raise ElectraError(
                            f"{path}: question {qid}: an answer lacks 'text' or 'answer_start'"
                        )
                    text, begin = str(ans["text"]), ans["answer_start"]
                    if not isinstance(begin, int) or context[begin : begin + len(text)] != text:
                        found = context[begin : begin + len(text)] if isinstance(begin, int) else begin
                        raise ElectraError(
                            f"{path}: question {qid}: answer {text!r} does not match the context at offset "
                            f"{begin} (the context has {found!r} there)"
                        )
                    if not text.strip():
                        raise ElectraError(f"{path}: question {qid}: empty answer text")
                    answers.append((text, begin))
                if require_labels and not answers and not impossible:
                    raise ElectraError(
                        f"{path}: question {qid} has no answers"
                        + ("" if version == "2" else " (SQuAD v1.1 questions all need one)")
                    )
                examples.append(
                    QAExample(
                        qid,
                        question,
                        context,
                        answers,
                        impossible,
                        str(article.get("title", "")),
                        f"{path}: question {qid}",
                    )
                )
    if not examples:
        raise ElectraError(f"data file {path} has no questions")
    return ReadResult(examples, dataclasses.replace(spec, squad_version=version), labelled)
