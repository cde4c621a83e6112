"""An exclusive lock on a run directory, so that two runs never write into the same one.

The lock is ``<directory>/.electra.lock``, held with ``fcntl.flock`` for as long as the run lasts: the
operating system releases it when the process ends, however it ends, so a lock left by a crashed or killed
run is stale by construction and the next run takes it over. The file records the holder's process id and
host for the error message of a run that finds the directory busy, and is removed when the run ends (a
run that locked a file since unlinked tries again on the new one, so removing it is safe).
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from electra.core.errors import ElectraError

LOCK_NAME = ".electra.lock"


@contextmanager
def run_lock(directory: Path, enabled: bool = True) -> Iterator[None]:
    """Hold the exclusive lock of ``directory`` (created if needed) for the block; a one-line error naming
    the directory and the process holding it when another run has it. ``enabled=False`` (ranks > 0 of a
    distributed run, which share rank 0's lock) does nothing. A run that fails having written nothing
    leaves no directory behind."""
    if not enabled:
        yield
        return
    directory = Path(directory)
    created = not directory.exists()
    fd = _acquire(directory)
    try:
        yield
    finally:
        (directory / LOCK_NAME).unlink(missing_ok=True)  # while still holding it
        os.close(fd)  # releases the lock
        if created and directory.is_dir() and not any(directory.iterdir()):  # a run that wrote nothing
            directory.rmdir()


def _acquire(directory: Path) -> int:
    """Open and lock ``directory``'s lock file; the open descriptor."""
    lock = directory / LOCK_NAME
    while True:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise ElectraError(f"cannot use {directory} as a run directory: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise ElectraError(f"{directory} is in use by another run ({holder}); wait for it to finish or choose "
                               "another output directory") from None  # fmt: skip
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not a file its previous holder unlinked after we opened it
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"process {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
            return fd
        os.close(fd)
