"""What a question is about (``--video`` / ``--camera`` / ``--all``) and its time bounds (``--since`` / ``--until``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from agents.ask_context import AskScope, same_source
from perception.source.video import check_local_source, identify_source, local_exists
from vigil.core.errors import ConfigError, UnknownCameraError
from vigil.core.store import Store


def check_scope_flags(*, video: str | None, camera: str | None, all_cameras: bool) -> None:
    """Raise with one line when ``--all`` comes with ``--video`` or ``--camera`` (needs no store)."""
    if all_cameras and (video or camera):
        raise ConfigError("--all asks about every camera; leave out --video and --camera")


def resolve_scope(store: Store, *, video: str | None = None, camera: str | None = None, all_cameras: bool = False,
                  fitted: list[str] | None = None) -> AskScope:
    """What a question is about, from ``--video`` / ``--camera`` / ``--all``; raises with one line if it cannot be.

    Args:
        fitted: cameras with a profile (they may scan a video that is not indexed yet).
    """
    check_scope_flags(video=video, camera=camera, all_cameras=all_cameras)
    fitted = fitted or []
    rows = store.videos()
    known = sorted({r["camera_id"] for r in rows} | set(fitted))
    if camera is not None and camera not in known:
        raise UnknownCameraError(f"unknown camera {camera!r} (known: {', '.join(known) or 'none yet'}; fit one with vigil fit)")
    if video is not None:
        if local_exists(video):
            check_local_source(video)  # a FIFO or device is refused before anything opens it
            video = identify_source(video).key  # the store keys videos by resolved path
        under = sorted({r["camera_id"] for r in rows if same_source(r["source"], video)})
        if camera is not None:
            if camera not in under and camera not in fitted:
                raise ConfigError(f"{video} is not indexed for camera {camera!r} and that camera has no profile to scan it")
            if camera not in under and not Path(video).exists() and "://" not in video:
                raise ConfigError(f"{video}: video not found")
            return AskScope(videos=[video], cameras=[camera])
        if not under:
            if not Path(video).exists() and "://" not in video:
                raise ConfigError(f"{video}: video not found")
            raise ConfigError(f"{video} is not indexed yet; add --camera NAME to scan it with that camera's profile")
        return AskScope(videos=[video], cameras=under)
    if camera is not None:
        return AskScope(cameras=[camera])
    if not rows:
        raise ConfigError("nothing is indexed yet: run vigil watch first, or ask about a video with --video V --camera C")
    return AskScope(all=True)


def parse_bound(text: str, flag: str) -> dict[str, Any]:
    """A ``--since`` / ``--until`` value as plan fields.

    Seconds of video: ``90``, ``90s``, ``2m``, ``1m30s``. Wall-clock time: ``15:00``, ``3pm``,
    ``3:30 pm`` (needs videos indexed with a start time).
    """
    t = text.strip().lower()
    key_s, key_c = ("time_from", "clock_from") if flag == "--since" else ("time_to", "clock_to")
    m = re.fullmatch(r"(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?", t)
    if t and m and (m.group(1) or m.group(2)):
        return {key_s: float(m.group(1) or 0) * 60 + float(m.group(2) or 0)}
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?\s*(am|pm)?", t)
    if m and (m.group(2) or m.group(3)):
        h, mnt = int(m.group(1)), int(m.group(2) or 0)
        if m.group(3) == "pm" and h < 12:
            h += 12
        if m.group(3) == "am" and h == 12:
            h = 0
        if h <= 23 and mnt <= 59:
            return {key_c: f"{h:02d}:{mnt:02d}"}
    raise ConfigError(f"{flag} {text}: expected seconds of video (90, 90s, 2m, 1m30s) or a time of day (15:00, 3pm)")
