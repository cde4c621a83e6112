"""Writing a file or a directory so that it appears complete or not at all."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from electra.core.errors import ElectraError


@contextmanager
def atomic_directory(final: Path, prefix: str, failure: str) -> Iterator[Path]:
    """Yield a new temporary sibling of ``final`` to fill; when the block ends it replaces ``final``.

    If the block (or the rename) fails, the temporary directory is removed; an ``OSError`` (e.g. disk
    full) becomes an :class:`ElectraError` reading ``"<failure>: <reason>"``.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=final.parent))
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ElectraError(f"{failure}: {e.strerror or e}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def atomic_file(path: Path, newline: str | None = None) -> Iterator[IO[str]]:
    """Yield a text file to write; when the block ends it replaces ``path`` (nothing half-written).

    An ``OSError`` becomes an :class:`ElectraError` reading ``"could not write <path>: <reason>"``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as f:
            yield f
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise ElectraError(f"could not write {path}: {e.strerror or e}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through :func:`atomic_file`."""
    with atomic_file(path) as f:
        f.write(text)
