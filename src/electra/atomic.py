"""Writing a directory so that it appears complete or not at all."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from electra.errors import ElectraError


@contextmanager
def atomic_directory(final: Path, prefix: str, failure: str) -> Iterator[Path]:
    """Yield a new temporary sibling of ``final`` to fill; when the block ends it replaces ``final``.

    If the block (or the rename) fails, the temporary directory is removed; an ``OSError`` (e.g. disk
    full) becomes an :class:`ElectraError` reading ``"<failure>: <reason>"``.
    """
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
