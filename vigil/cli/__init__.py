"""The ``vigil`` command line: argument parsing and printing only; the work is in :mod:`vigil.app`."""

from vigil.cli.main import main

__all__ = ["main"]
