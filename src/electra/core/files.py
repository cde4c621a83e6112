"""Reading JSON, JSON-lines and YAML files with one-line errors that name the file (and line); fingerprints of
files for caches."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from electra.core.errors import ElectraError


def read_json(path: Path, what: str = "file") -> Any:
    """The parsed JSON of ``path``; ``what`` names the file in errors (e.g. "checkpoint config")."""
    if not path.is_file():
        raise ElectraError(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ElectraError(f"{what} {path} is not valid JSON: {e}") from None


def read_json_object(path: Path, what: str = "file") -> dict[str, Any]:
    """Like :func:`read_json`, and the value must be a JSON object."""
    data = read_json(path, what)
    if not isinstance(data, dict):
        raise ElectraError(f"{what} {path} is not a JSON object")
    return data


def read_yaml(path: Path, what: str = "config file") -> Any:
    """The parsed YAML of ``path`` (``{}`` for an empty file)."""
    if not path.is_file():
        raise ElectraError(f"{what} not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        reason = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ElectraError(f"{what} {path} is not valid YAML{where}: {reason}") from None
    return {} if data is None else data


def iter_jsonl(lines: Iterable[str], where: Path | str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line of a JSON-lines text; one-line errors name
    ``where`` and the line (a line that is not JSON, or not a JSON object)."""
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise ElectraError(f"{where}:{lineno}: invalid JSON ({e.msg})") from None
        if not isinstance(record, dict):
            raise ElectraError(f"{where}:{lineno}: expected a JSON object per line")
        yield lineno, record


def files_fingerprint(files: Iterable[Path], *extra: Any) -> str:
    """16 hex digits identifying ``files`` by path, size and modification time (not read), and the settings
    ``extra``: the key of a cache entry made from them."""
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    if extra:
        h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]
