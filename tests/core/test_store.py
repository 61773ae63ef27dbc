"""The SQLite store: WAL, transactions, migrations, crash safety, idempotent alerts."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import synth_video

from vigil.core.errors import StoreError
from vigil.core.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    ClipRecord,
    DataDir,
    EventRecord,
    Store,
    WindowRecord,
)


def _window(ts: float, score: float = 0.1) -> WindowRecord:
    return WindowRecord("lobby", "a.mp4", ts, ts + 2.0, score, score > 0.5, "motion-1")


def test_fresh_store_is_wal_at_the_latest_schema(tmp_path: Path) -> None:
    with Store(tmp_path / "v.db") as store:
        assert store.schema_version == SCHEMA_VERSION
        mode = sqlite3.connect(tmp_path / "v.db").execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_windows_events_clips_round_trip(tmp_path: Path) -> None:
    with DataDir(tmp_path).open_store() as store:
        store.add_windows([_window(0.0), _window(1.0, 0.9), _window(2.0)])
        store.add_windows([_window(1.0, 0.8)])  # re-scoring a window replaces it
        rows = store.windows("lobby", "a.mp4", since=0.5, until=2.5)
        assert [(r.ts_start, r.anomaly_score, r.is_anomaly) for r in rows] == [(0.0, 0.1, False), (1.0, 0.8, True), (2.0, 0.1, False)]
        event = EventRecord("lobby-000001000", "lobby", "a.mp4", 1.0, 3.0, 0.8, "falling", 0.9)
        store.upsert_event(event)
        store.upsert_event(EventRecord(**{**event.__dict__, "event_end": 4.0, "status": "alerted"}))
        (stored,) = store.events("lobby")
        assert stored.event_end == 4.0 and stored.status == "alerted" and stored.event_type == "falling"
        store.add_clip(ClipRecord(event.event_id, -1.0, 6.0, "lobby/lobby-000001000/clip.mp4"))
        assert store.clips(event.event_id)[0].clip_end == 6.0


def test_alerts_are_stored_once(tmp_path: Path) -> None:
    alert = {"alert_id": "a1", "camera_id": "lobby", "source": "a.mp4", "event_type": "falling",
             "start_s": 1.0, "end_s": 3.0, "confidence": 0.9, "explained_by": "rules", "explanation": "x"}
    with Store(tmp_path / "v.db") as store:
        assert store.add_alert(alert) is True
        assert store.add_alert(alert) is False  # a restarted run does not duplicate it
        assert store.alerts("lobby") == [alert]


def test_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    with Store(tmp_path / "v.db") as store:
        store.add_windows([_window(0.0)])
        with pytest.raises(RuntimeError), store.transaction() as tx:
            tx.execute("INSERT INTO windows (camera_id, ts_start, ts_end, anomaly_score) VALUES ('lobby', 9, 10, 0.5)")
            raise RuntimeError("crash in the middle")
        assert len(store.windows("lobby")) == 1


def test_process_killed_mid_write_loses_nothing_committed(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    script = textwrap.dedent(f"""
        import os
        from vigil.core.store import Store, WindowRecord
        store = Store({str(db)!r})
        store.add_windows([WindowRecord("lobby", "a.mp4", float(i), i + 2.0, 0.1, False) for i in range(100)])
        with store.transaction() as tx:
            for i in range(100, 200):
                tx.execute("INSERT INTO windows (camera_id, source, ts_start, ts_end, anomaly_score) VALUES (?, ?, ?, ?, ?)",
                           ("lobby", "a.mp4", float(i), i + 2.0, 0.1))
            os._exit(9)  # the process dies before COMMIT
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 9, result.stderr
    with Store(db) as store:
        rows = store.windows("lobby")
        assert len(rows) == 100 and rows[-1].ts_start == 99.0
        assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        store.add_windows([_window(500.0)])  # and the store keeps working
        assert len(store.windows("lobby")) == 101


def test_old_store_is_migrated_forward_keeping_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    conn = sqlite3.connect(db)
    conn.executescript(MIGRATIONS[0])
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO windows (camera_id, source, ts_start, ts_end, anomaly_score) VALUES ('lobby', 'a.mp4', 0, 2, 0.3)")
    conn.commit()
    conn.close()
    with Store(db) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.windows("lobby")[0].anomaly_score == 0.3
        store.record_video("a.mp4", "lobby", fps=8.0, n_frames=80, duration_s=10.0, scanned_until=10.0)
        assert store.videos("lobby")[0]["scanned_until"] == 10.0


def test_newer_or_foreign_files_are_refused_with_one_line(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this Vigil understands"):
        Store(db)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable Vigil store"):
        Store(junk)


def test_data_dir_layout(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    assert data.store_path == tmp_path / "vigil.db"
    assert data.profile_dir("lobby") == tmp_path / "lobby" / "profile"
    assert data.event_dir("lobby", "lobby-000012500", create=True).is_dir()


def _open_at_once(db: Path, n: int = 8) -> list[str]:
    """Open ``db`` from ``n`` threads released together; the errors they met."""
    barrier, errors = threading.Barrier(n), []

    def open_it() -> None:
        barrier.wait()
        try:
            Store(db).close()
        except Exception as exc:  # noqa: BLE001 - collected and shown by the assertion
            errors.append(str(exc))

    threads = [threading.Thread(target=open_it) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_stores_opened_at_once_on_a_fresh_data_dir_all_get_one_schema(tmp_path: Path) -> None:
    # two `vigil watch` runs starting together on a new data dir: both must open the store
    for round_ in range(5):
        db = tmp_path / f"r{round_}" / "vigil.db"
        assert _open_at_once(db) == []
        with Store(db) as store:
            assert store.schema_version == SCHEMA_VERSION
            tables = {r[0] for r in store._query("SELECT name FROM sqlite_master WHERE type = 'table'")}
            assert {"windows", "events", "clips", "alerts", "videos", "deliveries", "tracks"} <= tables


_MEMORY_WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from vigil.core.memory import PatternMemory

    memory, tag = PatternMemory(sys.argv[1]), sys.argv[2]
    rng = np.random.default_rng(len(tag))
    for i in range(120):
        v = rng.random(32).astype(np.float32)
        memory.add_pattern(f"{tag}-{i}", v, "normal", {"camera_id": "lobby"})
        memory.similar_patterns(v, camera_id="lobby", k=5)
    print(len(memory.similar_patterns(v, camera_id="lobby", k=1000)))
""")


def test_two_processes_share_the_local_pattern_memory(tmp_path: Path) -> None:
    # a `vigil serve` and a `vigil watch` (or two watches) judging patterns at the same time
    folder = tmp_path / "chroma"
    runs = [subprocess.Popen([sys.executable, "-c", _MEMORY_WRITER, str(folder), tag], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for tag in ("a", "bb")]
    results = [run.communicate(timeout=240) for run in runs]
    for run, (_, err) in zip(runs, results):
        assert run.returncode == 0, err[-800:]
    # the one that ended last saw every pattern of both
    assert max(int(out.split()[-1]) for out, _ in results) == 240


def test_a_full_store_rolls_back_in_one_error_and_keeps_working(tmp_path: Path) -> None:
    from vigil.core.datadir import DiskFullError

    with Store(tmp_path / "v.db") as store:
        store.add_windows([_window(float(i)) for i in range(100)])
        # SQLite's own cap on the file's size: the same SQLITE_FULL a full disk gives
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(DiskFullError, match=f"no space left on the disk holding {tmp_path}.*kept") as info:
            store.add_windows([_window(float(i)) for i in range(1000, 20000)])
        assert "\n" not in str(info.value)
        assert len(store.windows("lobby")) == 100  # none of the failed batch, all of what came before
        store._db.execute("PRAGMA max_page_count = 1073741823")  # space again
        store.add_windows([_window(500.0)])
        assert len(store.windows("lobby")) == 101
    assert sqlite3.connect(tmp_path / "v.db").execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_names_of_the_data_dirs_own_files_cannot_be_cameras(tmp_path: Path) -> None:
    from vigil.core.config import load_settings
    from vigil.core.errors import ConfigError

    data = DataDir(tmp_path)
    settings = load_settings(environ={"VIGIL_DATA_DIR": str(tmp_path)})
    own = [data.store_path, data.checkpoints_path, data.memory_dir, data.models_dir, data.ask_keyframes_dir,
           settings.model_cache]
    for path in own:
        assert path.parent == tmp_path
        for name in (path.name, path.name.upper()):
            with pytest.raises(ConfigError, match="is reserved"):
                data.camera_dir(name)
    for sidecar in ("vigil.db-wal", "vigil.db-shm", "checkpoints.db-journal"):
        with pytest.raises(ConfigError, match="is reserved"):
            data.profile_dir(sidecar)
    assert data.camera_dir("lobby") == tmp_path / "lobby"


# --------------------------------------------------------------------------- the data dir in use
def test_a_profile_naming_an_unknown_encoder_fails_at_load_and_is_left_untouched(
        synth_small: Path, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vigil.cli import main

    meta_path = data / "plaza" / "profile" / "profile.json"
    meta = json.loads(meta_path.read_text())
    meta["encoder"]["name"] = "motion-v9"
    meta_path.write_text(json.dumps(meta))
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in meta_path.parent.iterdir()}
    code = main(["--data-dir", str(data), "watch", synth_video(synth_small, "falling"), "--camera", "plaza"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("vigil: error: "), err
    assert "unknown encoder 'motion-v9'" in err and "fit the camera again" in err
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in meta_path.parent.iterdir()} == before


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a real file system that fills up."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the full-disk test uses a real file system)")
    folder = tmp_path / "small"
    folder.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], capture_output=True,
                            text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def _fill(folder: Path, leave: int) -> Path:
    """Take the disk's free space down to ``leave`` bytes with one file; returns it."""
    filler = folder / "filler"
    with filler.open("wb") as f:
        f.write(b"\0" * max(0, shutil.disk_usage(folder).free - leave))
    return filler


@pytest.mark.parametrize("when", ["at-start", "after-the-memory-opened", "at-the-alert"])
def test_a_full_disk_is_one_line_that_says_nothing_is_lost(when: str, synth_small: Path, data: Path, small_disk: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from perception.profile import CameraProfile
    from vigil.cli import main

    root = small_disk / "data"
    shutil.copytree(data, root)
    filler = small_disk / "filler"
    if when == "at-start":
        _fill(small_disk, 256 << 10)
    elif when == "after-the-memory-opened":  # room to start, none left once the pattern memory is created
        _fill(small_disk, (1 << 20) + (64 << 10))
    else:  # the disk fills up just as the alert is written
        add_alert = Store.add_alert

        def fill_then_add(self: Store, *args: object, **kwargs: object) -> bool:
            _fill(small_disk, 0)
            return add_alert(self, *args, **kwargs)

        monkeypatch.setattr(Store, "add_alert", fill_then_add)
    argv = ["--data-dir", str(root), "watch", synth_video(synth_small, "falling"), "--camera", "plaza"]
    code = main(argv)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("vigil: error:")]
    assert code == 1 and "Traceback" not in err and len(errors) == 1, err
    assert f"no space left on the disk holding {root}" in errors[0] and "everything stored before is kept" in errors[0]
    # nothing damaged: the store checks out, the profile loads, no half-written files
    if (root / "vigil.db").exists():
        assert sqlite3.connect(root / "vigil.db").execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    CameraProfile.load(root / "plaza" / "profile", "plaza")
    from perception.profile import LOCK_NAME

    left = sorted(p.name for p in (root / "plaza" / "profile").iterdir() if p.name != LOCK_NAME)
    assert left == ["arrays.npz", "profile.json"]
    # with space again, the same command goes on from what is stored, and the alert is raised once
    monkeypatch.undo()
    filler.unlink()
    assert main(argv) == 0
    capsys.readouterr()
    with Store(root / "vigil.db") as store:
        assert len(store.alerts("plaza")) == 1
