"""Errors a user can hit. Each carries one line that says what is wrong and how to fix it.

The command line prints ``vigil: error: <message>`` for these and exits non-zero without a
traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


def first_line(exc: BaseException, limit: int | None = 200) -> str:
    """The first line of an error's message, cut at ``limit`` characters (its type's name when it
    has none): what a one-line error quotes of a library's longer one."""
    lines = str(exc).strip().splitlines()
    return lines[0][:limit] if lines else type(exc).__name__


class VigilError(Exception):
    """Base class for expected failures (bad input, missing files, unreachable services)."""

    exit_code = 2


class ConfigError(VigilError):
    """Invalid configuration file, value or environment override."""


class VideoError(VigilError):
    """Missing, empty, corrupt or unreadable video, frame folder or stream."""


class StreamError(VideoError):
    """A live stream could not be opened, or dropped and did not come back."""


class StoreError(VigilError):
    """The SQLite store is unusable (not a database, written by a newer version, ...)."""


class UnknownCameraError(VigilError):
    """A camera name that is neither configured nor fitted."""


class DataError(VigilError):
    """Malformed input data: ground truth, score files, annotations."""


class MissingDependencyError(VigilError):
    """An optional dependency is not installed; the message names the extra to install."""
