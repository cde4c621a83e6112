"""The configuration mechanism shared by every command: dataclasses filled from YAML and overrides.

A configuration is a dataclass whose fields are plain values (``int``, ``float``, ``bool``, ``str``, lists
and optionals of them) or nested dataclasses (*sections*). Values arrive as mappings (a preset or user
YAML file, ``--section.key value`` overrides, command-line flags) and are applied in order, each checked
against the field's type. Unknown keys are errors that name the key and suggest the nearest valid one.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Iterable
from typing import Any

import yaml

from electra.core.errors import ElectraError


def suggest(word: str, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the option closest to ``word``, or an empty string."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def field_types(cls: type) -> dict[str, Any]:
    """The resolved annotation of every field of dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _is_section(annotation: Any) -> bool:
    return isinstance(annotation, type) and dataclasses.is_dataclass(annotation)


def coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check/convert ``value`` to the field's annotated type, or raise naming the key."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return coerce(value, inner[0], key)
    if origin is list:
        items = value if isinstance(value, list) else [value]
        return [coerce(v, args[0], key) for v in items]
    if annotation is typing.Any:
        return value
    if origin is dict:
        if not isinstance(value, dict):
            raise ElectraError(f"config value for {key} has the wrong type: {value!r} (expected a mapping)")
        return {str(k): coerce(v, args[1], f"{key}.{k}") for k, v in value.items()}
    if annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif annotation is float:
        number = _as_float(value)
        if number is not None:
            if not math.isfinite(number):
                raise ElectraError(f"config value for {key} is not a finite number: {value!r}")
            return number
    elif annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    name = getattr(annotation, "__name__", str(annotation))
    raise ElectraError(f"config value for {key} has the wrong type: {value!r} (expected {name})")


def _as_float(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):  # YAML 1.1 reads "2e-3" as a string
        try:
            return float(value)
        except ValueError:
            return None
    return None


def apply(cfg: Any, data: Any, source: str, prefix: str = "") -> set[str]:
    """Set the values of mapping ``data`` on dataclass ``cfg`` (sections recursively); returns the dotted
    keys set. ``source`` names where the values came from in errors (a file, "command line")."""
    types_ = field_types(type(cfg))
    all_sections = all(_is_section(t) for t in types_.values())
    if not isinstance(data, dict):
        if not prefix and all_sections:
            raise ElectraError(f"{source}: expected a mapping of sections ({', '.join(types_)})")
        raise ElectraError(f"{source}: {prefix.rstrip('.') or 'the configuration'} must be a mapping")
    done: set[str] = set()
    for key, value in data.items():
        full = f"{prefix}{key}"
        if key not in types_:
            kind = "section" if all_sections and not prefix else "key"
            names = list(types_) if kind == "section" else [f"{prefix}{k}" for k in types_]
            raise ElectraError(f"{source}: unknown config {kind} {full!r}{suggest(full, names)}")
        if _is_section(types_[key]):
            if value is None:
                continue
            if not isinstance(value, dict):
                raise ElectraError(f"{source}: section {full!r} must be a mapping")
            done |= apply(getattr(cfg, key), value, source, f"{full}.")
        else:
            setattr(cfg, key, coerce(value, types_[key], full))
            done.add(full)
    return done


def get_value(cfg: Any, key: str) -> Any:
    """The value at dotted ``key`` (``train.lr``) of a configuration."""
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


def check_ranges(cfg: Any, checks: Iterable[tuple[str, bool]], hints: dict[str, str] | None = None,
                 what: str = "config value") -> None:
    """Raise :class:`ElectraError` naming the first ``(dotted key, ok)`` pair that is not ok."""
    for key, ok in checks:
        if not ok:
            hint = (hints or {}).get(key, "")
            raise ElectraError(f"{what} out of range: {key} = {get_value(cfg, key)!r}{hint}")


def parse_overrides(args: list[str]) -> dict:
    """``["--train.steps", "100", "--data.corpus=a.txt"]`` -> ``{"train": {"steps": 100}, ...}``."""
    out: dict[str, dict] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or "." not in arg:
            raise ElectraError(f"unexpected argument {arg!r} (overrides look like --section.key value)")
        key = arg[2:]
        if "=" in key:
            key, raw = key.split("=", 1)
        else:
            if i + 1 >= len(args):
                raise ElectraError(f"override --{key} needs a value")
            raw = args[i + 1]
            i += 1
        section, _, name = key.partition(".")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        out.setdefault(section, {})[name] = value
        i += 1
    return out


def flat_dict(cfg: Any) -> dict[str, Any]:
    """``{"train.lr": 5e-4, ...}``: every plain value of a configuration under its dotted key."""
    out: dict[str, Any] = {}

    def walk(obj: Any, prefix: str) -> None:
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                walk(value, f"{prefix}{f.name}.")
            else:
                out[f"{prefix}{f.name}"] = value

    walk(cfg, "")
    return out
