"""Video input: real clips, container timestamps, damaged files, folders and streams."""

from __future__ import annotations

import functools
import http.server
import logging
import re
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import decode_index, level, write_clip

from perception.video import Frame, ReconnectPolicy, open_video, sample_indices, source_kind
from vigil.errors import StreamError, VideoError


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
