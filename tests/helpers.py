"""Test helpers: small video files with known content and timestamps, tracks for the type rules."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np

if TYPE_CHECKING:
    from perception.track.scene import TrackFacts


def level(i: int) -> int:
    """Grey level that encodes frame number ``i`` (survives H.264 to within a few levels)."""
    return 16 + (6 * i) % 224


def decode_index(image: np.ndarray) -> int:
    """Frame number encoded by :func:`level` (for the first 37 frames of a cycle)."""
    return int(round((float(np.median(image)) - 16) / 6))


def synth_video(synth: Path, kind: str) -> str:
    """The test video of a synthetic camera whose anomaly is ``kind`` (``normal`` for a normal one)."""
    return str(next((synth / "test").glob(f"*_{kind}.mp4")))


def write_frames(
    path: Path,
    images: Iterable[np.ndarray],
    size: tuple[int, int],
    fps: float = 30.0,
    *,
    pts_s: Sequence[float] | None = None,
    codec: str = "libx264",
    faststart: bool = False,
    rotation: int | None = None,
) -> Path:
    """Write RGB ``images`` of ``size`` = (width, height) as an MP4.

    Args:
        pts_s: presentation time of every frame in seconds (variable frame rate); default
            ``i / fps``.
        faststart: the index at the start of the file (else at its end, as cameras write it).
        rotation: a display rotation, counter-clockwise degrees (PyAV's ``set_display_rotation``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    container = av.open(str(path), mode="w", options={"movflags": "faststart"} if faststart else {})
    stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    time_base = Fraction(1, 1000)
    stream.codec_context.time_base = time_base
    if codec == "libx264":
        stream.options = {"preset": "ultrafast", "crf": "10"}
    if rotation is not None:
        stream.set_display_rotation(rotation)
    for i, img in enumerate(images):
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        t = pts_s[i] if pts_s is not None else i / fps
        frame.pts = int(round(t * 1000))
        frame.time_base = time_base
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def write_clip(
    path: Path,
    n_frames: int,
    fps: float = 30.0,
    size: tuple[int, int] = (160, 120),
    pts_s: list[float] | None = None,
    codec: str = "libx264",
    faststart: bool = False,
) -> Path:
    """Write an MP4 whose frame ``i`` is flat grey :func:`level` ``(i)``.

    Args:
        pts_s: presentation time of every frame in seconds (variable frame rate); default
            ``i / fps``.
    """
    images = (np.full((size[1], size[0], 3), level(i), np.uint8) for i in range(n_frames))
    return write_frames(path, images, size, fps, pts_s=pts_s, codec=codec, faststart=faststart)


class FakeOpenAI:
    """An OpenAI-compatible chat endpoint on loopback whose replies a test chooses.

    ``respond(request_json) -> (status, body)``: a dict is sent as JSON, ``bytes`` or ``str`` as
    they are (``text/html``), to play a broken server. ``delay_s`` slows every chat reply;
    ``models_status`` is what ``GET /models`` answers.
    """

    def __init__(self, respond, delay_s: float = 0.0, models_status: int = 200) -> None:  # noqa: ANN001
        import http.server
        import json
        import threading
        import time

        self.requests: list[dict] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

            def _send(self, status: int, body) -> None:  # noqa: ANN001
                raw = isinstance(body, (bytes, str))
                data = (body.encode() if isinstance(body, str) else body) if raw else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html" if raw else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                self._send(models_status, {"object": "list", "data": [{"id": "fake", "object": "model"}]})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                req = json.loads(self.rfile.read(length) or b"{}")
                outer.requests.append(req)
                if delay_s:
                    time.sleep(delay_s)
                try:
                    status, body = respond(req)
                    self._send(status, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def chat_reply(content: str | None = None, tool_calls: list | None = None) -> dict:
    """An OpenAI chat-completion response body."""
    message: dict = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"id": "x", "object": "chat.completion", "created": 0, "model": "fake",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def rule_track(points: list[tuple[float, float, float, float, float, float, float]], kind: str = "person") -> TrackFacts:
    """A track for the type rules from points of (t, x, y, w, h, size, speed)."""
    from perception.track.scene import TrackFacts, TrackPoint

    return TrackFacts(1, kind, [TrackPoint(t, x, y, w, h, size, speed) for t, x, y, w, h, size, speed in points])


def blob_rows(**columns: np.ndarray) -> np.ndarray:
    """Rows of :data:`perception.track.norms.BLOB_FEATURES`: the columns given by name, NaN elsewhere."""
    from perception.track.norms import BLOB_FEATURES

    n = len(next(iter(columns.values())))
    rows = np.full((n, len(BLOB_FEATURES)), np.nan, np.float32)
    for name, values in columns.items():
        rows[:, BLOB_FEATURES.index(name)] = values
    return rows
