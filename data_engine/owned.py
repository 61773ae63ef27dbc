"""A folder Vigil made for itself (``vigil demo --out DIR``), and what in it Vigil wrote.

A marker file in the folder lists the entries (files and folders at its top level) that Vigil
wrote there. Only a new or empty folder is claimed; later runs may overwrite or remove what the
marker lists and nothing else, so whatever a user keeps beside it is never touched.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from vigil.core.errors import DataError
from vigil.core.files import write_text_atomic

MARKER = ".vigil-owned.json"


class OwnedFolder:
    """A folder claimed by one Vigil command (``by``), with the entries it wrote listed in a marker."""

    def __init__(self, root: Path, by: str, entries: set[str]) -> None:
        self.root, self.by, self.entries = root, by, entries

    @classmethod
    def claim(cls, root: str | Path, by: str) -> OwnedFolder:
        """The folder ``root`` for ``by``: made if new, claimed if empty, reopened if ``by`` made it.

        Raises:
            DataError: ``root`` is a file, holds something without a marker, or was made by
                another command.
        """
        root = Path(root)
        marker = root / MARKER
        if root.exists() and not root.is_dir():
            raise DataError(f"{root} exists and is not a folder")
        if marker.is_file():
            try:
                meta = json.loads(marker.read_text(encoding="utf-8"))
                made_by, entries = meta["made_by"], {str(e) for e in meta["entries"]}
            except (OSError, ValueError, KeyError, TypeError):
                raise DataError(f"{marker}: unreadable; remove {root} or give another folder") from None
            if made_by != by:
                raise DataError(f"{root} was made by {made_by}, not {by}; give another folder")
            return cls(root, by, entries)
        if root.is_dir() and any(root.iterdir()):
            raise DataError(f"{root} is not empty and was not made by {by}; give a new or empty folder")
        root.mkdir(parents=True, exist_ok=True)
        folder = cls(root, by, set())
        folder._save()
        return folder

    def add(self, *names: str) -> None:
        """Record top-level entries as written by Vigil (before writing them, so an interrupted
        run still owns what it left)."""
        new = set(names) - self.entries
        if new:
            self.entries |= new
            self._save()

    def owns(self, name: str) -> bool:
        return name in self.entries

    def remove(self, name: str) -> None:
        """Delete the entry ``name`` if Vigil wrote it.

        Raises:
            DataError: ``name`` is there but Vigil did not write it.
        """
        path = self.root / name
        if not (path.exists() or path.is_symlink()):
            return
        if name not in self.entries:
            raise DataError(f"{path} was not made by {self.by}; move it away first")
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()

    def _save(self) -> None:
        write_text_atomic(self.root / MARKER, json.dumps({"made_by": self.by, "entries": sorted(self.entries)},
                                                         indent=1) + "\n")


DEMO = "vigil demo"
SERVE_BENCH = "vigil bench serve"


def demo_folder(out: str | Path, seed: int, by: str = DEMO) -> tuple[OwnedFolder, bool]:
    """The folder of a command that renders its own synthetic scene (``vigil demo``, ``vigil
    bench serve``), and whether its scene must be rendered anew.

    A scene of this seed and generator version is reused; otherwise the command's own earlier
    scene is removed (only what the marker lists) and its entries are recorded for rendering.

    Raises:
        DataError: see :meth:`OwnedFolder.claim`.
    """
    from data_engine.synthetic import DATASET_ENTRIES, GENERATOR_VERSION

    folder = OwnedFolder.claim(out, by)
    meta: object = {}
    if folder.owns("scene.json"):
        try:
            meta = json.loads((folder.root / "scene.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}  # an interrupted render: render again
    fresh = not (isinstance(meta, dict) and meta.get("seed") == seed
                 and meta.get("generator_version") == GENERATOR_VERSION)
    if fresh:
        for name in DATASET_ENTRIES:
            folder.remove(name)
        folder.add(*DATASET_ENTRIES)
    return folder, fresh
