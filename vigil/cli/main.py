"""The ``vigil`` command line: the entry point, error printing and dispatch.

Each command group lives in :mod:`vigil.cli.commands` (its options and a handler that parses,
calls a service of :mod:`vigil.app` and prints). Every command imports its machinery lazily so
``vigil --help`` stays instant. Results go to stdout (JSON with ``--json``), progress and logs to
stderr. Expected failures print one line, ``vigil: error: ...``, and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vigil import __version__
from vigil.cli.commands import data, evaluate, fit, models, run, train
from vigil.cli.parser import Formatter, Handler, settings
from vigil.core.errors import ConfigError, VigilError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``vigil`` command."""
    parser = argparse.ArgumentParser(
        prog="vigil",
        description="Vigil: explained alerts from camera footage, questions about footage, and "
        "HIVAU-style instruction data.",
        epilog="example:\n  vigil data synth scene --seed 0\n\nRun 'vigil COMMAND --help' for a command's options.",
        formatter_class=Formatter,
    )
    parser.add_argument("--version", action="version", version=f"vigil {__version__}")
    parser.add_argument("--config", metavar="FILE", help="settings file (default: $VIGIL_CONFIG or ./vigil.yaml)")
    parser.add_argument("--data-dir", metavar="DIR", help="where the store, profiles and clips live (default: $VIGIL_DATA_DIR or ./vigil-data)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    # in the order the help lists them
    models.register(sub)
    fit.register(sub)
    models.register_bench(sub)
    run.register(sub)
    train.register(sub)
    data.register(sub)
    evaluate.register(sub)
    return parser


#: options that only make sense above zero, wherever they appear (dest -> flag)
_POSITIVE = {"max_seconds": "--max-seconds", "clip_seconds": "--clip-seconds", "fps": "--fps", "width": "--width",
             "duration": "--duration", "repeat": "--repeat", "frames": "--frames"}


def _check_positive(args: argparse.Namespace) -> None:
    """One line for a zero, negative or not-a-number value of an option that must be above zero."""
    import math

    for dest, flag in _POSITIVE.items():
        value = getattr(args, dest, None)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{flag} {value:g}: must be a number above 0")


# --------------------------------------------------------------------------- entry point
def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from vigil.core.log import init_logging

    init_logging(args.verbose)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    try:
        _check_positive(args)
        if getattr(args, "camera", None) is not None:  # every command's --camera: a folder of the data dir
            from vigil.core.datadir import validate_camera_name

            validate_camera_name(args.camera)
        return handler(args)
    except VigilError as exc:
        print(f"vigil: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("vigil: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        from vigil.core.datadir import disk_full_error, is_disk_full

        if not is_disk_full(exc):
            raise
        # a full disk, whichever writer met it first: one line naming the folder (the store rolled back)
        error = disk_full_error(exc, lambda: settings(args).data_dir)
        print(f"vigil: error: {error}", file=sys.stderr)
        return error.exit_code
