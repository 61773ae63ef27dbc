"""The one place that knows which optional extra provides which module."""

from __future__ import annotations

import importlib
from types import ModuleType

from vigil.core.errors import MissingDependencyError

# module -> extra that installs it
_EXTRAS = {
    "torch": "vjepa2",
    "transformers": "vjepa2",
    "llama_cpp": "llamacpp",
    "ultralytics": "detect",
    "rfdetr": "detect",
    "accelerate": "train",
    "peft": "train",
    "fastapi": "serve",
    "uvicorn": "serve",
    "paho.mqtt.client": "serve",
}


def require(module: str, purpose: str, extra: str | None = None) -> ModuleType:
    """Import an optional module or raise an error that says how to install it.

    Args:
        module: importable module name, e.g. ``"transformers"``.
        purpose: what needs it, for the message, e.g. ``"the vjepa2 encoder"``.
        extra: the extra to name when several provide the module (default: the module's own).
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = extra or _EXTRAS.get(module)
        fix = f"pip install 'vigil[{extra}]'" if extra else f"pip install {module}"
        raise MissingDependencyError(f"{purpose} needs {module!r}, which is not installed: {fix}") from exc
