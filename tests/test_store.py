"""The SQLite store: WAL, transactions, migrations, crash safety, idempotent alerts."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vigil.errors import StoreError
from vigil.store import (
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
        from vigil.store import Store, WindowRecord
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
