"""Names read from data files as paths inside the folder they belong to.

Annotation files, instruction rows and FG-CLIP entries name videos; such a file may come from
anywhere, so a name in it must not lead outside its folder (``--videos``, ``--out``): no ``..``,
no absolute path or drive letter, no backslash, no NUL. The check is on the name itself; the
folder's own symbolic links were put there by the user and are followed as usual.
"""

from __future__ import annotations

import re
from pathlib import Path

from vigil.core.errors import DataError

_DRIVE = re.compile(r"^[A-Za-z]:")


def name_problem(name: object, *, subdirs: bool = True) -> str | None:
    """What keeps ``name`` from naming a file inside a folder, or ``None`` when it can.

    Args:
        subdirs: whether ``/`` may separate sub-folders (``False``: a plain file name).
    """
    if not isinstance(name, str) or not name:
        return "is not a file name"
    if "\x00" in name:
        return "holds a NUL character"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid text (a lone surrogate)"
    if "\\" in name:
        return "holds a backslash"
    if name.startswith("/"):
        return "is an absolute path"
    if _DRIVE.match(name):
        return "starts with a drive letter"
    parts = name.split("/")
    if ".." in parts:
        return "has a '..' part"
    if not subdirs and len(parts) > 1:
        return "holds '/' (a plain file name is expected)"
    if any(p in ("", ".") for p in parts):
        return "has an empty or '.' part"
    return None


def inside(root: str | Path, name: object, *, subdirs: bool = True, what: str = "name") -> Path:
    """``root / name`` for a ``name`` taken from a data file, checked by :func:`name_problem`.

    Raises:
        DataError: one line naming ``what`` and the name, when it would lead outside ``root``.
    """
    why = name_problem(name, subdirs=subdirs)
    if why:
        raise DataError(f"{what} {name!r} {why}; it must name a file inside {root}")
    return Path(root) / str(name)
