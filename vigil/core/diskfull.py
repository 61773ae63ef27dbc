"""A full disk: how it is recognised, whatever layer reports it, and the one line that says so.

The store, the pattern memory and every command that writes files share these, so a full disk
reads the same wherever it happens: :class:`DiskFullError` (exit status 1) with
:func:`disk_full_message`.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from vigil.core.errors import StoreError


class DiskFullError(StoreError):
    """The disk under the data dir (or another output folder) has no space left.

    Exit status 1: nothing is wrong with the input; the host needs space.
    """

    exit_code = 1


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then what it was raised from or while handling, and so on."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from or while handling) is a full disk:
    ``ENOSPC``/``EDQUOT`` from the OS, ``SQLITE_FULL`` from SQLite, or a library's wrapped
    report of either."""
    for current in _chain(exc):
        if isinstance(current, DiskFullError):
            return True
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(current, sqlite3.Error) and getattr(current, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return True
        text = str(current)
        if "database or disk is full" in text or "No space left on device" in text:
            return True
    return False


def disk_full_message(folder: str | os.PathLike[str]) -> str:
    """The one line said when the disk under ``folder`` is full."""
    return (f"no space left on the disk holding {folder}: everything stored before is kept, intact (a write "
            "that did not fit was rolled back); free some space and run the command again, it goes on from "
            "what is stored")


def _filename_of(exc: BaseException) -> str | None:
    return next((str(e.filename) for e in _chain(exc) if isinstance(e, OSError) and e.filename), None)


def disk_full_error(exc: BaseException, data_dir: str | os.PathLike[str] | Callable[[], Any] | None) -> DiskFullError:
    """The :class:`DiskFullError` for a full-disk ``exc``, naming the folder that could not be
    written: the data dir (or a callable giving it; ``None`` if it cannot), unless the failed file
    lies outside it."""
    if isinstance(exc, DiskFullError):
        return exc
    if callable(data_dir):
        try:
            data_dir = data_dir()
        except Exception:  # only naming a folder in an error message: never a second error
            data_dir = None
    folder: Path | None = Path(data_dir).expanduser().absolute() if data_dir is not None else None
    name = _filename_of(exc)
    if name is not None:
        parent = Path(name).expanduser().absolute().parent
        if folder is None or not parent.is_relative_to(folder):
            folder = parent
    return DiskFullError(disk_full_message(folder if folder is not None else "the data dir"))
