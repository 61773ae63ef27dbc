"""Logging set-up. Modules log through ``logging.getLogger(__name__)``; only the CLI prints."""

from __future__ import annotations

import logging
import sys

_FORMAT = "%(levelname)s %(name)s: %(message)s"


def init_logging(verbosity: int = 0) -> None:
    """Send log records to stderr.

    Args:
        verbosity: 0 shows warnings, 1 info, 2 or more debug.
    """
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_vigil", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler._vigil = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
