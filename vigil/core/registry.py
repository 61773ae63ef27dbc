"""Named plugin registries: a class registers under a name, callers look it up by that name.

One :class:`Registry` per kind of plugin (detectors, encoders, frame scorers)::

    DETECTORS = Registry[Detector]("detector", builtins=_load_builtins)

    @DETECTORS.register("blobs")
    class BlobDetector(Detector): ...

    DETECTORS.get("blobs")     # the class; an unknown name raises, listing the known ones
    DETECTORS.names()          # sorted names

``builtins`` imports the modules that hold the built-in plugins (importing them registers
them); it runs before every lookup, so callers never see a half-filled registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Classes of one kind, by name.

    Args:
        kind: what the plugins are, as the error for an unknown name says it ("detector").
        error: the exception an unknown name raises.
        builtins: imports the built-in plugins' modules (``None``: they register themselves).
    """

    def __init__(self, kind: str, error: type[Exception] = ValueError,
                 builtins: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self.error = error
        self._builtins = builtins
        self._classes: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """Class decorator: register the class as ``name`` (and set its ``name`` attribute)."""

        def wrap(cls: type[T]) -> type[T]:
            cls.name = name  # type: ignore[attr-defined]
            self._classes[name] = cls
            return cls

        return wrap

    def _load(self) -> None:
        if self._builtins is not None:
            self._builtins()

    def names(self) -> list[str]:
        """The registered names, sorted."""
        self._load()
        return sorted(self._classes)

    def get(self, name: str) -> type[T]:
        """The class registered as ``name``.

        Raises:
            Exception: of the registry's ``error`` type, naming the known names.
        """
        self._load()
        if name not in self._classes:
            raise self.error(f"unknown {self.kind} {name!r}; choose one of: {', '.join(sorted(self._classes))}")
        return self._classes[name]

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._classes
