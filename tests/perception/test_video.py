"""Video input: real clips, container timestamps, damaged files, folders and streams; FIFOs,
frame sizes no camera has, display rotation and files served over HTTP."""

from __future__ import annotations

import contextlib
import functools
import http.server
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from helpers import decode_index, level, write_clip, write_frames

from perception.source.video import (
    MAX_FRAME_PIXELS,
    CaptureSource,
    Frame,
    ReconnectPolicy,
    identify_source,
    open_video,
    output_size,
    sample_indices,
    source_kind,
)
from vigil.cli import main
from vigil.core.errors import StreamError, VideoError

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "size", "duration"),
    [("car_accident.mp4", (320, 240), 4.0), ("earthquake.mp4", (320, 290), 13.67), ("robbery.mp4", (320, 180), 101.1)],
)
def test_real_clips_decode_at_target_rate_and_size(shared_videos: Path, name: str, size: tuple[int, int], duration: float) -> None:
    with open_video(shared_videos / name, fps=8, width=320) as video:
        frames = list(video.frames())
        assert video.info.kind == "file"
        assert video.info.duration_s == pytest.approx(duration, abs=0.1)
    assert all(f.image.shape == (size[1], size[0], 3) and f.image.dtype == np.uint8 for f in frames)
    times = np.array([f.t for f in frames])
    assert times[0] == 0.0 and np.all(np.diff(times) > 0)
    # 8 frames per second of video, spaced by 1/8 s give or take half a source frame
    assert len(frames) == pytest.approx(duration * 8, abs=2)
    assert np.median(np.diff(times)) == pytest.approx(0.125, abs=0.02)


def test_night_footage_with_scene_cuts_keeps_its_content(shared_videos: Path) -> None:
    # robbery.mp4 is a dark IR compilation: frames must come through, not be blanked
    with open_video(shared_videos / "robbery.mp4", fps=2, width=160) as video:
        means = np.array([f.image.mean() for f in video.frames()])
    assert means.min() > 5 and means.max() < 250
    assert np.abs(np.diff(means)).max() > 10  # scene cuts show up as jumps in brightness


def test_sampled_frames_are_the_ones_their_index_says(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", 36, fps=30)
    with open_video(clip, fps=8) as video:
        frames = list(video.frames())
    assert [f.index for f in frames] == [0, 4, 8, 11, 15, 19, 23, 26, 30, 34]
    for f in frames:
        assert decode_index(f.image) == f.index
        assert f.t == pytest.approx(f.index / 30, abs=1e-3)


def test_variable_frame_rate_uses_container_timestamps(tmp_path: Path) -> None:
    # 30 fps for 1 s, then 5 fps for 4 s: a frame counter would put the second part at 1.6 s
    pts = [i / 30 for i in range(30)] + [1.0 + k / 5 for k in range(20)]
    clip = write_clip(tmp_path / "vfr.mp4", len(pts), fps=30, pts_s=pts)
    with open_video(clip, fps=8) as video:
        frames = list(video.frames())
        assert video.source_times()[-1] == pytest.approx(pts[-1], abs=2e-3)
    times = np.array([f.t for f in frames])
    slow = times[times > 1.0]
    assert np.allclose(np.diff(slow), 0.2, atol=2e-3)  # every 5 fps frame is kept, at its own time
    assert frames[-1].t == pytest.approx(4.8, abs=2e-3)
    fast = times[times < 1.0]
    assert len(fast) == 8


def test_damaged_frame_in_the_middle_is_skipped_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clip = write_clip(tmp_path / "c.mp4", 90, fps=30)
    data = bytearray(clip.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 400] = bytes(400)
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING), open_video(damaged, fps=30) as video:
        frames = list(video.frames())
    assert 60 <= len(frames) < 90  # the damaged stretch is lost, the rest is read
    assert frames[-1].index >= 85
    for f in frames:  # and every frame delivered is the right one
        assert abs(float(f.image.mean()) - level(f.index)) < 4
    assert any("undecodable frame" in r.message for r in caplog.records)


def _bad_file(folder: Path, kind: str) -> Path:
    path = folder / f"{kind}.mp4"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not a video")
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [("missing", "video not found: "), ("empty", "is empty (0 bytes)"), ("text", "cannot decode")],
)
def test_unreadable_files_give_one_clear_error(tmp_path: Path, kind: str, message: str) -> None:
    with pytest.raises(VideoError, match=re.escape(message)) as info:
        open_video(_bad_file(tmp_path, kind))
    assert "\n" not in str(info.value)


def test_frame_folder_in_natural_order_skips_a_corrupt_image(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(12):
        cv2.imwrite(str(folder / f"frame_{i}.png"), np.full((60, 80, 3), level(i), np.uint8))
    (folder / "frame_5.png").write_bytes(b"broken")
    (folder / "readme.txt").write_text("ignored")
    with caplog.at_level(logging.WARNING), open_video(folder, fps=4, width=80, folder_fps=4) as video:
        frames = list(video.frames())
        assert video.info.kind == "folder" and video.info.n_frames == 12
    assert [f.index for f in frames] == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11]
    assert [f.t for f in frames][:3] == [0.0, 0.25, 0.5]
    assert all(decode_index(f.image) == f.index for f in frames)
    assert any("frame_5.png" in r.message for r in caplog.records)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(VideoError, match="no image files"):
        open_video(empty)


def test_source_kinds() -> None:
    assert source_kind("rtsp://cam/1") == "stream"
    assert source_kind("https://x/y.m3u8") == "stream"
    assert source_kind("0") == "webcam"
    assert source_kind("clip.mp4") == "file"


def test_sample_indices_handles_slow_sources_and_empty_input() -> None:
    assert sample_indices(np.arange(10) / 4.0, fps=8).tolist() == list(range(10))  # never upsample
    assert sample_indices(np.array([]), fps=8).size == 0


@pytest.fixture
def http_server(tmp_path: Path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_http_stream_is_read_with_container_timestamps(tmp_path: Path, http_server: str) -> None:
    write_clip(tmp_path / "cam.mp4", 60, fps=20, faststart=True)
    with open_video(f"{http_server}/cam.mp4", fps=5, width=160) as video:
        frames = list(video.frames())
        assert video.info.kind == "stream"
    assert len(frames) == 15
    assert all(abs(float(f.image.mean()) - level(f.index)) < 4 for f in frames)
    assert [round(f.t, 2) for f in frames[:3]] == [0.0, 0.2, 0.4]


class FakeCapture:
    """A live camera that delivers ``n`` frames and then stops answering."""

    def __init__(self, n: int, start_ms: float = 0.0) -> None:
        self.n = n
        self.read_count = 0
        self.start_ms = start_ms

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return True

    def get(self, prop: int) -> float:
        return {
            cv2.CAP_PROP_FRAME_WIDTH: 64,
            cv2.CAP_PROP_FRAME_HEIGHT: 48,
            cv2.CAP_PROP_FPS: 10.0,
            cv2.CAP_PROP_FRAME_COUNT: 0,  # live: no known length
            cv2.CAP_PROP_POS_MSEC: self.start_ms + 100.0 * (self.read_count - 1),
        }.get(prop, 0.0)

    def set(self, prop: int, value: float) -> bool:
        return True

    def read(self):  # noqa: ANN201
        if self.read_count >= self.n:
            return False, None
        self.read_count += 1
        return True, np.full((48, 64, 3), 100, np.uint8)

    def release(self) -> None:
        pass


def test_dropped_stream_reconnects_with_backoff_and_keeps_time_moving() -> None:
    # first connection: 20 frames; then one failed reconnect; then 20 more frames whose
    # container clock restarts at 0; then the camera is gone for good
    plan = [FakeCapture(20), None, FakeCapture(20), None, None, None]
    sleeps: list[float] = []

    def factory(_target: object):
        item = plan.pop(0) if plan else None
        return item if item is not None else _Closed()

    video = open_video("rtsp://camera/1", fps=10, width=64, reconnect=ReconnectPolicy(attempts=3, initial_delay_s=0.5),
                       capture_factory=factory)
    video._sleep = sleeps.append  # type: ignore[attr-defined]
    frames: list[Frame] = []
    with pytest.raises(StreamError, match="dropped and did not come back after 3 reconnect attempts"):
        for frame in video.frames():
            frames.append(frame)
    assert len(frames) == 40
    times = [f.t for f in frames]
    assert all(b > a for a, b in zip(times, times[1:]))  # no time travel after the reconnect
    assert sleeps == [0.5, 1.0, 0.5, 1.0, 2.0]


class _Closed:
    def isOpened(self) -> bool:  # noqa: N802
        return False

    def release(self) -> None:
        pass


def test_unreachable_stream_and_missing_webcam_fail_with_one_line() -> None:
    with pytest.raises(StreamError, match="cannot open stream rtsp://127.0.0.1:9/none"):
        open_video("rtsp://127.0.0.1:9/none")
    with pytest.raises(StreamError, match="cannot open webcam 63"):
        open_video("63")


# ----------------------------------------------------------------------------- helpers for the hostile inputs
def _within(seconds: float, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, failing the test if it has not returned after ``seconds`` (instead of hanging)."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn(*args)
        except BaseException as exc:  # handed to the test
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{getattr(fn, '__name__', fn)} still running after {seconds} s"
    if "error" in out:
        raise out["error"]
    return out["value"]


def _vigil_process(*argv: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """The command line in a process of its own: a regression that hangs fails at ``timeout``."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = "import sys; from vigil.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, timeout=timeout)


def _error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr
    return [line for line in stderr.splitlines() if line.startswith("vigil: error:")]


@pytest.fixture
def fifo(tmp_path: Path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("this platform has no named pipes")
    path = tmp_path / "camera.mp4"
    os.mkfifo(path)
    yield path
    with contextlib.suppress(OSError):  # a reader still blocked on it (a regression) gets its end of file
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


# ----------------------------------------------------------------------------- FIFOs
def test_a_fifo_is_refused_before_anything_opens_it(fifo: Path, tmp_path: Path) -> None:
    # identifying it (the store's key) must not open it: opening a FIFO waits for a writer
    assert _within(10, identify_source, fifo).content_id == ""
    with pytest.raises(VideoError, match="is not a regular file or folder"):
        _within(10, open_video, fifo)
    # a FIFO among a folder's images is no frame
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"frame_{i}.png"), np.full((60, 80, 3), level(i), np.uint8))
    os.mkfifo(folder / "frame_3.png")
    frames = _within(10, lambda: list(open_video(folder, fps=4, width=80, folder_fps=4).frames()))
    assert [f.index for f in frames] == [0, 1, 2]
    assert _within(10, identify_source, folder).content_id
    proc = _vigil_process("--data-dir", str(tmp_path / "data"), "ask", "What happened?", "--video", str(fifo), timeout=60)
    errors = _error_lines(proc.stderr)
    assert proc.returncode == 2 and len(errors) == 1 and "is not a regular file or folder" in errors[0]


def test_watch_refuses_a_fifo_at_once(fifo: Path, synth_small: Path, fitted_camera: tuple[Path, Path],
                                      tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(fitted_camera[0] / "plaza" / "profile", data / "plaza" / "profile")
    proc = _vigil_process("--config", str(synth_small / "vigil.yaml"), "--data-dir", str(data), "watch", str(fifo),
                          "--camera", "plaza", timeout=120)
    errors = _error_lines(proc.stderr)
    assert proc.returncode == 2 and len(errors) == 1 and "is not a regular file or folder" in errors[0]


# ----------------------------------------------------------------------------- frame sizes
def test_a_frame_no_camera_has_is_refused_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 2x240: a few kilobytes that scaled to the working width would be 320x38400 per frame
    tall = write_clip(tmp_path / "tall.mp4", 3, fps=10, size=(2, 240))
    with pytest.raises(VideoError, match=re.escape("aspect ratio of 120:1")) as info:
        open_video(tall)
    assert "\n" not in str(info.value)
    assert main(["probe", str(tall)]) == 2
    errors = _error_lines(capsys.readouterr().err)
    assert len(errors) == 1 and "aspect ratio of 120:1" in errors[0]
    # an image folder goes through the same size
    folder = tmp_path / "strips"
    folder.mkdir()
    cv2.imwrite(str(folder / "0.png"), np.zeros((300, 4, 3), np.uint8))
    with pytest.raises(VideoError, match="aspect ratio of 75:1"):
        open_video(folder)


def _png_declaring(path: Path, width: int, height: int) -> Path:
    """A real 1-bit grey PNG of ``width`` x ``height``, all black: a few kilobytes that decode
    to width * height * 3 bytes."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)  # filter byte + packed bits
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def test_an_image_declaring_more_pixels_than_any_camera_is_never_decoded(tmp_path: Path) -> None:
    # 12000x12000 in a file of a few kilobytes: decoding it would take 432 MB for one frame
    folder = tmp_path / "bomb"
    folder.mkdir()
    bomb = _png_declaring(folder / "0.png", 12000, 12000)
    assert bomb.stat().st_size < 100_000
    with pytest.raises(VideoError, match="million pixels") as info:
        open_video(folder)
    assert "\n" not in str(info.value)
    # one such image among good ones is skipped, the rest is read
    good = tmp_path / "mixed"
    good.mkdir()
    for i in range(3):
        cv2.imwrite(str(good / f"{i}.png"), np.full((120, 160, 3), level(i), np.uint8))
    _png_declaring(good / "3.png", 12000, 12000)
    with open_video(good, fps=10, width=160, folder_fps=10) as video:
        assert [f.index for f in video.frames()] == [0, 1, 2]


def test_the_working_frame_is_bounded_in_both_dimensions(tmp_path: Path) -> None:
    # a 1:10 strip, the narrowest allowed, is not enlarged to 320x3200 but to 320 on its long side
    narrow = write_clip(tmp_path / "narrow.mp4", 6, fps=10, size=(24, 240))
    with open_video(narrow, fps=10, width=320) as video:
        frames = list(video.frames())
        assert (video.info.width, video.info.height) == (24, 240)
    assert video.size == (32, 320)
    assert len(frames) == 6 and all(f.image.shape == (320, 32, 3) for f in frames)
    assert all(abs(float(f.image.mean()) - level(f.index)) < 4 for f in frames)
    # ordinary footage keeps the configured width, small or portrait
    assert output_size(160, 120, 320) == (320, 240)
    assert output_size(1080, 1920, 320) == (320, 568)
    # the largest setting stays within MAX_FRAME_PIXELS, whatever the shape
    for w, h in ((1000, 9000), (640, 480), (3840, 2160)):
        out_w, out_h = output_size(w, h, 3840)
        assert out_w * out_h <= MAX_FRAME_PIXELS and max(out_w, out_h) <= max(3840, w, h)


# ----------------------------------------------------------------------------- display rotation
def _phone_clip(path: Path, rotation: int, size: tuple[int, int] = (320, 192), n_frames: int = 12) -> Path:
    """A clip stored landscape with a display rotation (counter-clockwise degrees, as PyAV reads
    it back); a bright block marks the stored top-left corner."""
    if not hasattr(av.video.stream.VideoStream, "set_display_rotation"):
        pytest.skip("this PyAV cannot write a display matrix (needs av >= 15)")
    image = np.full((size[1], size[0], 3), 40, np.uint8)
    image[: size[1] // 4, : size[0] // 4] = 230
    write_frames(path, [image] * n_frames, size, fps=10, rotation=rotation)
    return path


@pytest.mark.parametrize("reader", ["decord", "opencv"])
@pytest.mark.parametrize(
    ("rotation", "upright", "corner"),
    # a phone's portrait clip carries -90 (turn a quarter clockwise to view): the stored top-left
    # corner is then the picture's top-right
    [(-90, (192, 320), (0, 1)), (90, (192, 320), (1, 0)), (180, (320, 192), (1, 1))],
)
def test_display_rotation_is_honoured(tmp_path: Path, reader: str, rotation: int, upright: tuple[int, int],
                                      corner: tuple[int, int]) -> None:
    clip = _phone_clip(tmp_path / "phone.mp4", rotation)
    video = open_video(clip, fps=10, width=96) if reader == "decord" else CaptureSource(
        str(clip), kind="file", fps=10, width=96)
    with video:
        frames = list(video.frames())
        assert (video.info.width, video.info.height) == upright
    size = output_size(*upright, 96)
    assert len(frames) == 12 and all(f.image.shape == (size[1], size[0], 3) for f in frames)
    for f in frames:
        ys, xs = np.nonzero(f.image[..., 0] > 128)
        assert (round(ys.mean() / size[1]), round(xs.mean() / size[0])) == corner


def test_probe_reports_a_rotated_clip_upright(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = _phone_clip(tmp_path / "phone.mp4", -90)
    assert main(["probe", str(clip), "--width", "96"]) == 0
    out = capsys.readouterr().out
    assert ", 192x320, " in out and " as 96x160 " in out


# ----------------------------------------------------------------------------- files served over HTTP
class _CountingHandler(http.server.SimpleHTTPRequestHandler):
    """Python's file server (no range requests), counting what it is asked for."""

    requests: list[str]

    def log_message(self, *args: Any) -> None:
        self.requests.append(self.path)


@pytest.fixture
def counted_server(tmp_path: Path):
    requests: list[str] = []
    handler = functools.partial(type("Handler", (_CountingHandler,), {"requests": requests}), directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()


def test_a_file_over_http_ends_at_its_end_and_is_fetched_once(tmp_path: Path, counted_server: tuple[str, list[str]],
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    base, requests = counted_server
    # its index says 60 frames; the transfer ends after about half of them
    data = write_clip(tmp_path / "full.mp4", 60, fps=20, faststart=True).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) * 6 // 10])

    def read() -> tuple[list[Frame], bool]:
        with open_video(f"{base}/cut.mp4", fps=20, width=160) as video:
            return list(video.frames()), video.info.is_live

    frames, live = _within(30, read)
    assert not live and 20 <= len(frames) < 60
    assert [f.index for f in frames] == list(range(len(frames)))  # each frame once, in order
    assert all(abs(float(f.image.mean()) - level(f.index)) < 4 for f in frames)
    assert requests == ["/cut.mp4"]
    requests.clear()
    assert _within(30, main, ["probe", f"{base}/cut.mp4", "--json"]) == 0
    assert '"sampled_frames": ' in capsys.readouterr().out and len(requests) == 1


def test_an_mp4_over_http_that_cannot_be_read_ends_with_one_line(tmp_path: Path,
                                                                  counted_server: tuple[str, list[str]]) -> None:
    base, requests = counted_server
    # its index at the end, on a server without range requests: FFmpeg reads the header, no frame
    rng = np.random.default_rng(0)
    write_frames(tmp_path / "noise.mp4", (rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(40)),
                 (160, 120), fps=20)

    def read() -> list[Frame]:
        with open_video(f"{base}/noise.mp4", fps=20, width=160) as video:
            return list(video.frames())

    with pytest.raises(StreamError, match="not one frame could be read") as info:
        _within(30, read)
    assert "\n" not in str(info.value) and len(requests) <= 2


def test_a_path_the_file_system_cannot_look_up_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a name past the file system's 255 bytes: every command says so, without a traceback
    long = str(tmp_path / ("a" * 300 + ".mp4"))
    assert source_kind(long) == "file"
    assert main(["probe", long]) == 2
    errors = _error_lines(capsys.readouterr().err)
    assert len(errors) == 1 and "cannot look it up (File name too long)" in errors[0]
