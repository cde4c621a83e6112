"""Writing a file or a directory so that it appears complete or not at all."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from safetensors import SafetensorError

from electra.core.errors import ElectraError

# What a failed write raises: the OS's errors, torch.save's RuntimeError ("file write failed") and
# safetensors' own error (it wraps the OS error).
WRITE_ERRORS = (OSError, RuntimeError, SafetensorError)


def write_failure(e: BaseException) -> str:
    """A short reason for a failed write: the OS's words ("No space left on device", "File too large"), else
    the library's message's first line."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    text = str(e)
    for known in ("No space left on device", "File too large", "Read-only file system", "Permission denied"):
        if known.lower() in text.lower() or known.replace(" ", "").lower() in text.replace(" ", "").lower():
            return known
    if "StorageFull" in text:
        return "No space left on device"
    if isinstance(e, OSError) and "requested and" in text and "written" in text:  # numpy's short write
        return f"disk full or file too large ({text})"
    return (text.splitlines() or [type(e).__name__])[0][:200]


def check_writable(path: Path, what: str, directory: bool) -> None:
    """Raise a one-line :class:`ElectraError` (``"cannot write <what> <path>: <reason>"``) unless ``path`` can
    be written as a directory (``directory=True``) or a file: it must not exist as the other kind, and its
    nearest existing ancestor must be a directory in which a file can be created (tried, then removed).
    Commands call it before any long work, so that a bad output path fails in a second, not after an hour."""
    path = Path(path)

    def fail(reason: str) -> None:
        raise ElectraError(f"cannot write {what} {path}: {reason}")

    if path.exists() and path.is_dir() != directory:
        fail("it is a directory" if path.is_dir() else "it is a file, not a directory")
    ancestor = path if directory else path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        fail(f"{ancestor} is a file, not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".electra-probe-", dir=ancestor)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        fail(f"files cannot be created in {ancestor}" if e.errno == errno.ENOENT else write_failure(e))


@contextmanager
def atomic_directory(final: Path, prefix: str, failure: str) -> Iterator[Path]:
    """Yield a new temporary sibling of ``final`` to fill; when the block ends it replaces ``final``.

    If the block (or the rename) fails, the temporary directory is removed; a failed write (e.g. disk full,
    file too large: :data:`WRITE_ERRORS`) becomes an :class:`ElectraError` reading ``"<failure>: <reason>"``.
    The directory gets the user's usual permissions (``mkdtemp`` would make it private).
    """
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=final.parent))
        os.chmod(tmp, 0o777 & ~_umask())
    except OSError as e:
        raise ElectraError(f"{failure}: {write_failure(e)}") from None
    try:
        yield tmp
        _usual_permissions(tmp)
        _replace_directory(tmp, final)
    except WRITE_ERRORS as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ElectraError(f"{failure}: {write_failure(e)}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _usual_permissions(directory: Path) -> None:
    """Give what is under ``directory`` the modes the user's umask gives new files (safetensors, like
    ``mkstemp``, writes its files readable by their owner only)."""
    umask = _umask()
    for root, dirs, files in os.walk(directory):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o777 & ~umask)
        for name in files:
            os.chmod(os.path.join(root, name), 0o666 & ~umask)


def _replace_directory(new: Path, final: Path) -> None:
    """Put directory ``new`` in place of ``final``; an existing ``final`` is renamed away first (to
    ``.deleting-<name>``) and deleted after, so ``final`` is never a mix of the two: it is the old one, the
    new one, or (between two renames) absent."""
    old = final.with_name(f".deleting-{final.name}")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_file(path: Path, newline: str | None = None, binary: bool = False) -> Iterator[IO]:
    """Yield a text file (a binary one with ``binary``) to write; when the block ends it replaces ``path``
    (nothing half-written).

    A failed write becomes an :class:`ElectraError` reading ``"could not write <path>: <reason>"``.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.chmod(tmp, 0o666 & ~_umask())
    except OSError as e:
        raise ElectraError(f"could not write {path}: {write_failure(e)}") from None
    try:
        opened = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline=newline)
        with opened as f:
            yield f
        os.replace(tmp, path)
    except WRITE_ERRORS as e:
        Path(tmp).unlink(missing_ok=True)
        raise ElectraError(f"could not write {path}: {write_failure(e)}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through :func:`atomic_file`."""
    with atomic_file(path) as f:
        f.write(text)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_file`."""
    with atomic_file(path, binary=True) as f:
        f.write(data)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
