"""Reading and writing the project's small data files: JSON Lines and atomic JSON/text.

One reader for every JSONL file (instructions, predictions, caption references) so a broken line
is always named the same way (``file:line: what is wrong``), and one atomic writer so a file a
person or a later run reads is either the old one or the new one, never half written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from vigil.core.errors import DataError


def iter_jsonl(path: str | Path, *, label: str = "", skip_broken: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, object)`` for each non-blank line of a JSON Lines file.

    Args:
        path: the file.
        label: how a message names the file (e.g. ``"--instructions"``); the path follows it.
        skip_broken: skip lines that are not a JSON object (a torn last line of an interrupted run)
            instead of raising.

    Raises:
        DataError: the file is missing, or (unless ``skip_broken``) a line is not UTF-8 or not a
            JSON object; the message names the file and the line.
    """
    path = Path(path)
    name = f"{label} {path}" if label else str(path)
    if not path.is_file():
        raise DataError(f"{name}: file not found")
    with path.open("rb") as fh:  # decoded line by line, so a bad byte is named by its line
        for n, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
                if not line.strip():
                    continue
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise DataError(f"{name}:{n}: expected a JSON object")
            except UnicodeDecodeError:
                if skip_broken:
                    continue
                raise DataError(f"{name}:{n}: not UTF-8 text") from None
            except json.JSONDecodeError as exc:
                if skip_broken:
                    continue
                raise DataError(f"{name}:{n}: not valid JSON ({exc.msg})") from None
            except DataError:
                if skip_broken:
                    continue
                raise
            yield n, row


def write_text_atomic(path: str | Path, text: str, *, newline: str | None = None) -> Path:
    """Write ``text`` (UTF-8) to a temporary file beside ``path``, then rename it into place.

    ``newline`` is as for :func:`open` (``""``: the text's line ends written as they are, as a
    CSV writer's ``\\r\\n`` must be).
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8", newline=newline)
    tmp.replace(path)
    return path


def write_json_atomic(path: str | Path, obj: Any, *, indent: int | None = 1) -> Path:
    """``obj`` as JSON (non-ASCII kept, a final newline), written atomically."""
    return write_text_atomic(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows as JSON Lines atomically; returns how many rows."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(path)
    return n
