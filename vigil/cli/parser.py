"""What every command module shares: the help layout, adding a command, the model options,
the settings from the global options, and printing."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from vigil.app.runtime import ModelOptions, Overrides

Handler = Callable[[argparse.Namespace], int]
STARTED = time.perf_counter()  # when the command line was loaded (for whole-command timings)


class Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=100)


def add(sub: Any, name: str, handler: Handler, help_: str, example: str, description: str | None = None) -> argparse.ArgumentParser:
    """Add the command ``name`` (run by ``handler``) to the subparsers ``sub``."""
    parser = sub.add_parser(
        name,
        help=help_,
        description=description or help_,
        epilog=f"example:\n  {example}",
        formatter_class=Formatter,
    )
    parser.set_defaults(handler=handler)
    return parser


def llm_args(p: argparse.ArgumentParser) -> None:
    """The model options (``--llm`` ... ``--vlm-model``)."""
    g = p.add_argument_group("models (default: the rule policy, no model)")
    g.add_argument("--llm", choices=["auto", "rules", "openai", "llamacpp"], default="auto",
                   help="agents' backend: auto = openai when an LLM URL is set, else rules")
    g.add_argument("--llm-url", metavar="URL", help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 ($VIGIL_LLM_URL)")
    g.add_argument("--llm-model", metavar="NAME", help="model name on that endpoint ($VIGIL_LLM_MODEL)")
    g.add_argument("--llm-gguf", metavar="PATH", help="local GGUF model for --llm llamacpp")
    g.add_argument("--tool-mode", choices=["auto", "tools", "json"], default="auto",
                   help="tool calls via the tools API, JSON-schema output, or auto (default)")
    g.add_argument("--vlm-url", metavar="URL", help="vision-language model endpoint for describe ($VIGIL_VLM_URL)")
    g.add_argument("--vlm-model", metavar="NAME", help="VLM model name ($VIGIL_VLM_MODEL)")


def add_group(sub: Any, name: str, help_: str, description: str, example: str | None = None,
              title: str = "commands", metavar: str = "COMMAND") -> Any:
    """A command group (``vigil data ...``) whose bare name prints its help; returns its subparsers."""
    epilog = {"epilog": f"example:\n  {example}"} if example else {}
    group = sub.add_parser(name, help=help_, description=description, formatter_class=Formatter, **epilog)
    group.set_defaults(handler=lambda a: need_subcommand(group))
    return group.add_subparsers(title=title, metavar=metavar)


def need_subcommand(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def overrides(args: argparse.Namespace, **extra: Any) -> Overrides:
    """The settings the global options and the model options give."""
    return Overrides(config=args.config, data_dir=args.data_dir, llm_url=getattr(args, "llm_url", None),
                     llm_model=getattr(args, "llm_model", None), vlm_url=getattr(args, "vlm_url", None),
                     vlm_model=getattr(args, "vlm_model", None), extra=extra)


def settings(args: argparse.Namespace, **extra: Any) -> Any:
    """The loaded settings (settings file plus the command line's overrides)."""
    return overrides(args, **extra).settings()


def models(args: argparse.Namespace) -> ModelOptions:
    """The agents' backend the model options choose."""
    return ModelOptions(llm=args.llm, llm_gguf=args.llm_gguf, tool_mode=args.tool_mode)


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=None if isinstance(obj, list) else 2, default=str))


def say(message: str) -> None:
    """``vigil: message`` on stderr."""
    print(f"vigil: {message}", file=sys.stderr)


def warn(message: str) -> None:
    """``vigil: warning: message`` on stderr."""
    print(f"vigil: warning: {message}", file=sys.stderr)


def error(message: str) -> None:
    """``vigil: error: message`` on stderr (a failure the command goes on after)."""
    print(f"vigil: error: {message}", file=sys.stderr)
