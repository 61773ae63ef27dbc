"""The data dir's layout: which names Vigil keeps for itself, where each camera's files go.

Layout::

    <data_dir>/vigil.db                     the store (SQLite, WAL)
    <data_dir>/checkpoints.db               the agents' checkpoints
    <data_dir>/chroma/                      the pattern memory (ChromaDB)
    <data_dir>/models/                      the model cache (unless ``models_dir`` says otherwise)
    <data_dir>/ask-keyframes/<event_id>/    keyframes sampled again for answers
    <data_dir>/<camera>/profile/            the camera's fitted normality profile
    <data_dir>/<camera>/<event_id>/         keyframe_XX.jpg and clip.mp4 of one event

Cameras share the top level with Vigil's own files, so a camera may not be named after any of
them (:data:`RESERVED_NAMES`); names are compared ignoring case, as a case-insensitive file
system would.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from vigil.core.diskfull import DiskFullError, disk_full_error, disk_full_message, is_disk_full
from vigil.core.errors import ConfigError, StoreError
from vigil.core.sqlite_store import Store

# the full-disk helpers were first defined here; callers still import them from this module
__all__ = ["ASK_KEYFRAMES_NAME", "CAMERA_NAME", "CHECKPOINTS_NAME", "MEMORY_NAME", "MIN_FREE_BYTES", "MODELS_NAME",
           "RESERVED_NAMES", "STORE_NAME", "DataDir", "DiskFullError", "camera_name_problem", "disk_full_error",
           "disk_full_message", "is_disk_full", "validate_camera_name"]

STORE_NAME = "vigil.db"
CHECKPOINTS_NAME = "checkpoints.db"
MEMORY_NAME = "chroma"
MODELS_NAME = "models"
ASK_KEYFRAMES_NAME = "ask-keyframes"

#: What each of Vigil's own top-level names holds (said when a camera asks for one).
_OWN: dict[str, str] = {
    STORE_NAME: "the store",
    CHECKPOINTS_NAME: "the agents' checkpoints",
    MEMORY_NAME: "the pattern memory",
    MODELS_NAME: "the model cache",
    ASK_KEYFRAMES_NAME: "the keyframes of answers",
}
# SQLite keeps its journal and WAL beside each database
_SIDECARS = ("-wal", "-shm", "-journal")
_RESERVED: dict[str, str] = {
    **{name.casefold(): what for name, what in _OWN.items()},
    **{(db + s).casefold(): _OWN[db] for db in (STORE_NAME, CHECKPOINTS_NAME) for s in _SIDECARS},
}
#: Names a camera cannot take: Vigil's own files and folders at the top of the data dir.
RESERVED_NAMES: frozenset[str] = frozenset(_RESERVED)

#: Free space a command that writes needs to start (a keyframe, a clip, a page of the store).
MIN_FREE_BYTES = 1 << 20

CAMERA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def camera_name_problem(name: object) -> str | None:
    """What is wrong with ``name`` as a camera name (it becomes a folder of the data dir), or ``None``."""
    if not isinstance(name, str) or not CAMERA_NAME.match(name):
        return f"camera name {name!r} must be 1-64 letters, digits, '_', '-' or '.'"
    what = _RESERVED.get(name.casefold())
    if what is not None:
        return f"camera name {name!r} is reserved: the data dir keeps {what} under that name; choose another name"
    return None


def validate_camera_name(name: str) -> str:
    """Check that a camera name is safe to use as a folder of the data dir; return it.

    Raises:
        ConfigError: not 1-64 letters, digits, '_', '-' or '.', or one of :data:`RESERVED_NAMES`.
    """
    problem = camera_name_problem(name)
    if problem:
        raise ConfigError(problem)
    return name


class DataDir:
    """Paths inside a data dir; creates folders on demand.

    Raises:
        StoreError: the path exists and is not a folder.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"data dir {self.root} is a file, not a folder; point --data-dir (or VIGIL_DATA_DIR) at a folder")

    def check_writable(self) -> None:
        """Raise :class:`StoreError` with one line unless files can be created in the data dir.

        Commands that write call this before their work, so a read-only data dir fails at once, and
        a full one (less than :data:`MIN_FREE_BYTES` free) with :class:`DiskFullError`.
        """
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=".vigil-write-check-", dir=self.root)
            os.close(fd)
            os.unlink(name)
        except OSError as exc:
            if is_disk_full(exc):
                raise DiskFullError(disk_full_message(self.root)) from None
            reason = exc.strerror or type(exc).__name__
            raise StoreError(f"data dir {self.root} is not writable ({reason}); choose another with --data-dir "
                             "or VIGIL_DATA_DIR") from None
        # a disk already full: said now, not as whichever database first fails to grow
        if shutil.disk_usage(self.root).free < MIN_FREE_BYTES:
            raise DiskFullError(disk_full_message(self.root))

    @property
    def store_path(self) -> Path:
        """The SQLite file."""
        return self.root / STORE_NAME

    @property
    def checkpoints_path(self) -> Path:
        """The agents' checkpoint database."""
        return self.root / CHECKPOINTS_NAME

    @property
    def memory_dir(self) -> Path:
        """The local pattern memory (ChromaDB)."""
        return self.root / MEMORY_NAME

    @property
    def models_dir(self) -> Path:
        """The default model cache."""
        return self.root / MODELS_NAME

    @property
    def ask_keyframes_dir(self) -> Path:
        """Keyframes sampled again for answers."""
        return self.root / ASK_KEYFRAMES_NAME

    def camera_dir(self, camera_id: str) -> Path:
        """Folder of one camera."""
        return self.root / validate_camera_name(camera_id)

    def profile_dir(self, camera_id: str) -> Path:
        """Where the camera's fitted profile lives."""
        return self.camera_dir(camera_id) / "profile"

    def fitted_cameras(self) -> list[str]:
        """Cameras that have a saved profile."""
        if not self.root.is_dir():
            return []
        names = (p.parent.parent.name for p in self.root.glob("*/profile/profile.json"))
        return sorted(n for n in names if camera_name_problem(n) is None)

    def event_dir(self, camera_id: str, event_id: str, *, create: bool = False) -> Path:
        """Keyframes and clip of one event."""
        path = self.camera_dir(camera_id) / event_id
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return path

    def open_store(self) -> Store:
        """Open (creating if needed) the store of this data dir."""
        self.check_writable()
        return Store(self.store_path)
