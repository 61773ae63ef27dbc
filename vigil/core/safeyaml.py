"""Reading YAML from files a user supplies, bounded in size and in what aliases expand to.

``yaml.safe_load`` runs no code, but an alias (``*name``) repeats a whole anchored value: nine
lines of nested aliases (a "billion laughs") stand for a billion values, and everything that
walks the result afterwards (validation, error messages) runs for minutes in gigabytes. The
loader here counts, before anything is built, how many values the document stands for with its
aliases expanded, and refuses one past :data:`MAX_VALUES` or whose alias contains itself.
Files are read up to a size cap first.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

#: Values (scalars, lists, mappings) a document may stand for once its aliases are expanded. A
#: 1 MiB file holds at most about 500,000 without aliases, and sharing a section with
#: ``<<: *defaults`` adds tens; a "billion laughs" stands for a billion.
MAX_VALUES = 1_000_000

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it: much faster


class AliasBombError(yaml.YAMLError):
    """A YAML document whose aliases expand past :data:`MAX_VALUES` values, or into themselves."""


class TooLargeError(ValueError):
    """A file over the size cap."""


class BoundedSafeLoader(_Base):  # type: ignore[misc,valid-type]
    """``yaml.SafeLoader`` (libyaml's when available) that refuses expanding aliases.

    Raises:
        AliasBombError: from :meth:`get_single_node`, before anything is constructed.
    """

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None:
            check_expansion(node)
        return node


def _collections(node: yaml.Node) -> list[yaml.Node]:
    """The lists and mappings directly inside ``node``."""
    if isinstance(node, yaml.SequenceNode):
        return [c for c in node.value if not isinstance(c, yaml.ScalarNode)]
    if isinstance(node, yaml.MappingNode):
        return [c for pair in node.value for c in pair if not isinstance(c, yaml.ScalarNode)]
    return []


def _width(node: yaml.Node) -> int:
    """How many values ``node`` holds directly (a mapping: its keys and values)."""
    if isinstance(node, yaml.SequenceNode):
        return len(node.value)
    if isinstance(node, yaml.MappingNode):
        return 2 * len(node.value)
    return 0


def check_expansion(root: yaml.Node, limit: int = MAX_VALUES) -> None:
    """Raise :class:`AliasBombError` if ``root`` stands for more than ``limit`` values with its
    aliases expanded, or an alias contains itself.

    The composed document is a graph in which an alias is a second edge to its anchored node;
    each node's expanded size is counted once (depth first, iteratively), so the check takes
    time linear in the file however far the aliases would expand.
    """
    size: dict[int, int] = {}  # expanded size of each list and mapping
    on_path: set[int] = set()  # the lists and mappings being counted (an alias back to one loops)
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        inner = _collections(node)
        if done:
            on_path.discard(key)
            # a scalar counts 1; a list or mapping its own expanded size (saturating past the limit)
            size[key] = min(1 + _width(node) - len(inner) + sum(size[id(c)] for c in inner), limit + 1)
            continue
        if key in size:
            continue
        on_path.add(key)
        stack.append((node, True))
        for child in inner:
            if id(child) in on_path:
                raise AliasBombError(f"an alias contains itself (line {child.start_mark.line + 1}), so it never ends")
            if id(child) not in size:
                stack.append((child, False))
    if size.get(id(root), 1) > limit:
        raise AliasBombError(f"with its aliases (*name) expanded it stands for more than {limit:,} values; "
                             "write the repeated settings out")


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` with alias expansion bounded (:class:`AliasBombError`, a ``YAMLError``)."""
    return yaml.load(text, Loader=BoundedSafeLoader)  # noqa: S506 - a SafeLoader subclass


def read_text_capped(path: str | os.PathLike[str], max_bytes: int) -> str:
    """A UTF-8 text file, refused (:class:`TooLargeError`) past ``max_bytes`` without reading the rest.

    Raises:
        OSError, UnicodeDecodeError: as ``Path.read_text``.
    """
    with Path(path).open("rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        size = f"{max_bytes >> 20} MiB" if max_bytes % (1 << 20) == 0 else f"{max_bytes // 1024} KiB"
        raise TooLargeError(f"larger than {size}")
    return data.decode("utf-8")
