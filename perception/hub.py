"""Model folders: where the models Vigil loads with ``from_pretrained`` come from, where trained ones go.

transformers, asked for a hub id the local cache does not hold, retries the hub for every file
with exponential back-off: without a network that took minutes before it failed. So every
``from_pretrained`` here goes through :func:`resolve_model` first:

1. a path that exists is used as it is (a folder written by ``save_pretrained`` or ``hf download``);
2. a hub id whose files are in the local Hugging Face cache becomes that cached snapshot's folder,
   so loading it never touches the network;
3. otherwise the hub is asked once, with a short timeout and no retries, whether the model is
   there; only then does ``from_pretrained`` download it. Offline (``HF_HUB_OFFLINE``), unreachable
   or unknown to the hub: one line that says to pass a local folder.

:func:`out_folder` checks (and makes) the folder a training run or a merge writes to, before any
work, so a file given as ``--out`` is one line rather than a traceback after the training.
"""

from __future__ import annotations

import os
from pathlib import Path

from vigil.core.errors import ConfigError, first_line
from vigil.core.imports import require

#: the file every transformers model folder has; its cached copy locates the cached snapshot
CONFIG_FILE = "config.json"


def resolve_model(model: str | Path, flag: str = "--model") -> str:
    """A local folder for ``model``, or a hub id the hub has just confirmed it holds.

    Args:
        model: a local folder or a hub id (``org/name``).
        flag: how the user gave it, for the error message (``--model``, ``--encoder-model``).

    Raises:
        ConfigError: not a folder, not in the local cache, and the hub is offline, unreachable or
            does not know it.
    """
    if Path(model).exists():
        return str(model)
    hub = require("huggingface_hub", "loading a model by its hub id")
    from huggingface_hub.errors import (
        HFValidationError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )
    from huggingface_hub.utils import validate_repo_id

    repo = str(model)
    try:
        validate_repo_id(repo)
    except HFValidationError:
        raise ConfigError(f"{flag} {repo}: no such folder (and not a model-hub id)") from None
    cached = hub.try_to_load_from_cache(repo, CONFIG_FILE)
    if isinstance(cached, str):
        return str(Path(cached).parent)
    fix = f"pass a local folder instead: download it where there is network (hf download {repo} --local-dir DIR), then {flag} DIR"
    if hub.constants.HF_HUB_OFFLINE or _offline_env():
        raise ConfigError(f"{flag} {repo}: not a local folder and not in the local model cache, and the model hub "
                          f"is off (HF_HUB_OFFLINE); {fix}")
    try:
        hub.model_info(repo, timeout=hub.constants.HF_HUB_ETAG_TIMEOUT)
    except (RepositoryNotFoundError, RevisionNotFoundError):
        raise ConfigError(f"{flag} {repo}: the model hub has no such model (or it is private: log in with "
                          f"hf auth login); check the id, or pass a local folder") from None
    except Exception as exc:  # noqa: BLE001 - the HTTP client's errors differ between huggingface_hub versions
        raise ConfigError(f"{flag} {repo}: not a local folder and not in the local model cache, and the model hub "
                          f"cannot be reached ({first_line(exc, 160)}); {fix}") from None
    return repo


def out_folder(path: str | Path, flag: str = "--out", create: bool = True) -> Path:
    """``path`` as a folder to write to: made (with ``create``) or checked that it can be.

    Raises:
        ConfigError: it, or a folder above it, is a file; or it cannot be made.
    """
    out = Path(path)
    for at in (out, *out.parents):
        if at.exists():
            if not at.is_dir():
                where = "" if at == out else f" ({at} is a file)"
                raise ConfigError(f"{flag} {path}: not a folder{where}; give a folder to write to")
            break
    if create:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{flag} {path}: cannot make the folder ({exc.strerror or exc})") from None
    return out


def _offline_env() -> bool:
    """``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) set now (huggingface_hub reads it once, at import)."""
    return any(os.environ.get(k, "").strip().lower() in ("1", "on", "true", "yes")
               for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
