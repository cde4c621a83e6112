"""Reading JSON and YAML files with one-line errors that name the file."""

from __future__ import annotations

import json
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
        raise ElectraError(f"{what} {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    return {} if data is None else data
