"""Window timing: where windows start and end in video time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import write_clip

from perception.source.video import Frame, open_video
from perception.source.windows import iter_windows


def test_windows_of_a_real_decode_start_every_stride_seconds(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", 150, fps=30)  # 5 s
    with open_video(clip, fps=8, width=160) as video:
        windows = list(iter_windows(video.frames(), size=16, stride=8, fps=8))
    # 40 sampled frames -> windows starting at frames 0, 8, 16, 24 = 0, 1, 2, 3 s
    assert [w.index for w in windows] == [0, 1, 2, 3]
    assert [w.ts_start for w in windows] == pytest.approx([0.0, 1.0, 2.0, 3.0], abs=1 / 30)
    assert [w.ts_end for w in windows] == pytest.approx([2.0, 3.0, 4.0, 5.0], abs=1 / 30)
    assert all(w.frames.shape == (16, 120, 160, 3) and w.n_valid == 16 for w in windows)
    assert np.all(np.diff(windows[1].times) > 0)


def _frames(n: int, fps: float = 8.0) -> list[Frame]:
    return [Frame(i, i / fps, np.full((4, 4, 3), i, np.uint8)) for i in range(n)]


def test_tail_gets_a_window_aligned_to_the_last_frame() -> None:
    windows = list(iter_windows(_frames(44), size=16, stride=8))
    assert [w.ts_start for w in windows] == [0.0, 1.0, 2.0, 3.0, 3.5]
    assert windows[-1].ts_end == pytest.approx(44 / 8)
    assert windows[-1].frame_indices[-1] == 43


def test_short_video_is_one_padded_window() -> None:
    (window,) = list(iter_windows(_frames(5), size=16, stride=8))
    assert window.n_valid == 5 and window.frames.shape[0] == 16
    assert window.ts_start == 0.0 and window.ts_end == pytest.approx(5 / 8)
    assert list(iter_windows([], size=16, stride=8)) == []


def test_stride_must_fit_the_window() -> None:
    with pytest.raises(ValueError, match="stride"):
        list(iter_windows(_frames(20), size=8, stride=9))
