"""The store: one SQLite database (WAL) of windows, events, clips, alerts and their deliveries.

Imported through :mod:`vigil.core.store`, which also gives the data dir (:mod:`vigil.core.datadir`),
the schema's migrations (:mod:`vigil.core.migrations`) and the rows' types (:mod:`vigil.core.records`).

Every write goes through :meth:`Store.transaction`; a crash mid-write rolls back to the last
commit and loses nothing committed before it. The schema carries a version (``PRAGMA
user_version``) and is upgraded forward on open, inside one write transaction, so processes
opening a fresh store at once agree on one schema; a store written by a newer Vigil is refused.
A full disk rolls the transaction back and raises :class:`~vigil.core.diskfull.DiskFullError`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vigil.core.diskfull import DiskFullError, disk_full_message, is_disk_full
from vigil.core.errors import StoreError
from vigil.core.migrations import MIGRATIONS, SCHEMA_VERSION
from vigil.core.records import ClipRecord, EventRecord, WindowRecord

#: how long opening a database waits for other connections (SQLite's busy timeout)
BUSY_TIMEOUT_S = 30.0


def use_wal(db: sqlite3.Connection, timeout_s: float = BUSY_TIMEOUT_S) -> str:
    """Switch ``db``'s database to WAL mode; returns the journal mode it is in afterwards.

    SQLite answers "database is locked" at once, without waiting out the busy timeout, when
    several connections switch a new database at the same moment (runs starting together on a
    fresh data dir), so the switch is tried again for up to ``timeout_s``.
    """
    from tenacity import retry, retry_if_exception, stop_after_delay, wait_random

    def locked(exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)

    @retry(retry=retry_if_exception(locked), stop=stop_after_delay(timeout_s), wait=wait_random(0.01, 0.1),
           reraise=True)
    def switch() -> str:
        return str(db.execute("PRAGMA journal_mode=WAL").fetchone()[0])

    return switch()


class Store:
    """The SQLite store. One instance per process; safe to share between threads.

    Args:
        path: database file, created with its parent folder if missing.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_S)
            self._db.row_factory = sqlite3.Row
            mode = use_wal(self._db)
            if mode.lower() != "wal":
                raise StoreError(f"{self.path}: cannot switch the store to WAL mode (got {mode})")
            # FULL: a committed alert survives a power cut, not only a process crash.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            if is_disk_full(exc):
                raise DiskFullError(disk_full_message(self.path.parent)) from None
            raise StoreError(f"{self.path} is not a usable Vigil store ({exc})") from None

    # ------------------------------------------------------------------ plumbing
    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _check_version(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this Vigil "
                f"understands ({SCHEMA_VERSION}); upgrade vigil"
            )

    def _migrate(self) -> None:
        version = self.schema_version
        self._check_version(version)
        if version == SCHEMA_VERSION:  # the usual open: no write lock needed
            return
        with self.transaction() as db:
            # Read again under the write lock: another process may have migrated since (two runs
            # starting on a fresh data dir); versions only grow, so the check above stays valid.
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            self._check_version(version)
            for target in range(version + 1, SCHEMA_VERSION + 1):
                db.executescript_in_tx(MIGRATIONS[target - 1])
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def transaction(self) -> Iterator[_Tx]:
        """A write transaction: everything inside commits together or not at all.

        Raises:
            DiskFullError: the disk is full; the transaction is rolled back, the store intact.
        """
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield _Tx(self._db)
                    self._db.execute("COMMIT")
                except BaseException:
                    # SQLite may already have rolled back (a full disk can do that); a failed
                    # COMMIT leaves the transaction open, so the next one could not begin
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                if is_disk_full(exc):
                    raise DiskFullError(disk_full_message(self.path.parent)) from None
                raise

    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    # ------------------------------------------------------------------ windows
    def add_windows(self, records: Iterable[WindowRecord]) -> int:
        """Insert or replace scored windows in one transaction; returns how many were written."""
        rows = [
            (r.camera_id, r.source, r.ts_start, r.ts_end, float(r.anomaly_score), int(r.is_anomaly), r.model_version)
            for r in records
        ]
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO windows (camera_id, source, ts_start, ts_end, anomaly_score, is_anomaly, model_version)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (camera_id, source, ts_start, model_version) DO UPDATE SET"
                " ts_end = excluded.ts_end, anomaly_score = excluded.anomaly_score, is_anomaly = excluded.is_anomaly",
                rows,
            )
        return len(rows)

    def windows(
        self,
        camera_id: str,
        source: str | None = None,
        *,
        since: float | None = None,
        until: float | None = None,
    ) -> list[WindowRecord]:
        """Stored windows of a camera (optionally one source, a time range), in time order."""
        sql = "SELECT camera_id, source, ts_start, ts_end, anomaly_score, is_anomaly, model_version FROM windows WHERE camera_id = ?"
        params: list[Any] = [camera_id]
        if source is not None:
            sql += " AND source = ?"
            params.append(source)
        if since is not None:
            sql += " AND ts_end > ?"
            params.append(since)
        if until is not None:
            sql += " AND ts_start < ?"
            params.append(until)
        sql += " ORDER BY source, ts_start"
        return [
            WindowRecord(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6]) for r in self._query(sql, params)
        ]

    # ------------------------------------------------------------------ events and clips
    def upsert_event(self, event: EventRecord) -> None:
        """Insert an event or update it in place (same ``event_id``).

        A ``candidate`` update (the detector extending an event) changes its times and score but
        keeps any verdict the agents already recorded.
        """
        with self.transaction() as db:
            db.execute(
                "INSERT INTO events (event_id, camera_id, source, event_start, event_end, peak_score,"
                " event_type, confidence, status, explanation) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (event_id) DO UPDATE SET event_start = excluded.event_start,"
                " event_end = excluded.event_end, peak_score = excluded.peak_score,"
                " event_type = CASE WHEN excluded.status = 'candidate' THEN events.event_type ELSE excluded.event_type END,"
                " confidence = CASE WHEN excluded.status = 'candidate' THEN events.confidence ELSE excluded.confidence END,"
                " status = CASE WHEN excluded.status = 'candidate' THEN events.status ELSE excluded.status END,"
                " explanation = CASE WHEN excluded.status = 'candidate' THEN events.explanation ELSE excluded.explanation END",
                (
                    event.event_id, event.camera_id, event.source, event.event_start, event.event_end,
                    event.peak_score, event.event_type, event.confidence, event.status, event.explanation,
                ),
            )

    def events(self, camera_id: str | None = None, source: str | None = None) -> list[EventRecord]:
        """Stored events, optionally of one camera and source, in time order."""
        sql = (
            "SELECT event_id, camera_id, source, event_start, event_end, peak_score, event_type,"
            " confidence, status, explanation FROM events WHERE 1 = 1"
        )
        params: list[Any] = []
        if camera_id is not None:
            sql += " AND camera_id = ?"
            params.append(camera_id)
        if source is not None:
            sql += " AND source = ?"
            params.append(source)
        sql += " ORDER BY camera_id, source, event_start"
        return [EventRecord(*tuple(r)) for r in self._query(sql, params)]

    def event(self, event_id: str) -> EventRecord | None:
        """One stored event, or ``None``."""
        rows = self._query(
            "SELECT event_id, camera_id, source, event_start, event_end, peak_score, event_type,"
            " confidence, status, explanation FROM events WHERE event_id = ?", (event_id,))
        return EventRecord(*tuple(rows[0])) if rows else None

    def add_clip(self, clip: ClipRecord) -> None:
        """Record a clip file of an event."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO clips (event_id, clip_start, clip_end, storage_uri) VALUES (?, ?, ?, ?)",
                (clip.event_id, clip.clip_start, clip.clip_end, clip.storage_uri),
            )

    def clips(self, event_id: str) -> list[ClipRecord]:
        """Clips of one event."""
        rows = self._query(
            "SELECT event_id, clip_start, clip_end, storage_uri FROM clips WHERE event_id = ? ORDER BY clip_start",
            (event_id,),
        )
        return [ClipRecord(*tuple(r)) for r in rows]

    # ------------------------------------------------------------------ alerts
    def add_alert(self, alert: dict[str, Any], *, event_id: str | None = None, content_id: str = "",
                  deliver_to: Sequence[str] = ()) -> bool:
        """Store an alert unless one with the same ``alert_id`` exists.

        Args:
            alert: the alert as a JSON-able mapping with at least ``alert_id``, ``camera_id``,
                ``event_type``, ``start_s``, ``end_s``, ``confidence`` and ``explained_by``.
            event_id: the event it came from, if stored.
            content_id: the content identity of its source (alerts of a replaced file are new).
            deliver_to: webhook targets that should receive it (queued in the same transaction,
                so a crash before delivery leaves it pending, never lost).

        Returns:
            True if the alert is new; False if it was already stored (a restarted run), or an
            alert of the same camera, source and type already covers its time (a re-run whose
            onset moved slightly must not alert twice).
        """
        with self.transaction() as db:
            overlap = db.execute(
                "SELECT alert_id FROM alerts WHERE camera_id = ? AND source = ? AND content_id = ? AND event_type = ?"
                " AND alert_id != ? AND start_s <= ? AND end_s >= ? LIMIT 1",
                (alert["camera_id"], alert.get("source", ""), content_id, alert["event_type"], alert["alert_id"],
                 float(alert["end_s"]) + 2.0, float(alert["start_s"]) - 2.0),
            ).fetchone()
            if overlap is not None:
                return False
            cur = db.execute(
                "INSERT OR IGNORE INTO alerts (alert_id, event_id, camera_id, source, content_id, event_type, start_s,"
                " end_s, confidence, explained_by, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    alert["alert_id"], event_id, alert["camera_id"], alert.get("source", ""), content_id,
                    alert["event_type"], alert["start_s"], alert["end_s"], alert["confidence"],
                    alert["explained_by"], json.dumps(alert, sort_keys=True),
                ),
            )
            new = cur.rowcount == 1
            if new:
                for target in deliver_to:
                    db.execute("INSERT OR IGNORE INTO deliveries (alert_id, target) VALUES (?, ?)", (alert["alert_id"], target))
            return new

    def alerts(self, camera_id: str | None = None) -> list[dict[str, Any]]:
        """Stored alerts (their JSON payloads), in time order."""
        sql = "SELECT payload FROM alerts"
        params: list[Any] = []
        if camera_id is not None:
            sql += " WHERE camera_id = ?"
            params.append(camera_id)
        sql += " ORDER BY camera_id, source, start_s"
        return [json.loads(r[0]) for r in self._query(sql, params)]

    def find_alerts(
        self,
        *,
        cameras: Sequence[str] = (),
        sources: Sequence[str] = (),
        types: Sequence[str] = (),
        contents: Sequence[tuple[str, str]] = (),
    ) -> list[dict[str, Any]]:
        """Stored alerts (JSON payloads) of some cameras, sources and types (empty = any), in time order.

        Args:
            contents: ``(source, content_id)`` pairs: of those sources, only alerts raised on that
                content (a file replaced at the same path is a different video).
        """
        sql, params = "SELECT payload FROM alerts WHERE 1 = 1", []
        for column, values in (("camera_id", cameras), ("source", sources), ("event_type", types)):
            if values:
                sql += " AND " + _in_clause(column, values)
                params.extend(values)
        extra, values = _contents_clause(contents)
        sql += extra
        params.extend(values)
        sql += " ORDER BY camera_id, source, start_s"
        return [json.loads(r[0]) for r in self._query(sql, params)]

    def alert(self, alert_id: str) -> dict[str, Any] | None:
        """One stored alert (its JSON payload), or ``None``."""
        rows = self._query("SELECT payload FROM alerts WHERE alert_id = ?", (alert_id,))
        return json.loads(rows[0][0]) if rows else None

    def alerts_of_event(self, event_id: str) -> list[dict[str, Any]]:
        """The alerts raised on one event."""
        return [json.loads(r[0]) for r in self._query(
            "SELECT payload FROM alerts WHERE event_id = ? ORDER BY start_s", (event_id,))]

    def page_alerts(
        self,
        *,
        camera: str | None = None,
        event_type: str | None = None,
        source: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[int, list[dict[str, Any]]]:
        """One page of stored alerts, newest first, and how many match in all.

        Args:
            since, until: bounds on when the alerts were raised, as the store writes times
                (UTC ``YYYY-MM-DDTHH:MM:SS.mmmZ``).
        """
        where, params = " WHERE 1 = 1", []
        for column, value in (("camera_id", camera), ("event_type", event_type), ("source", source)):
            if value is not None:
                where += f" AND {column} = ?"
                params.append(value)
        if since is not None:
            where += " AND created_at >= ?"
            params.append(since)
        if until is not None:
            where += " AND created_at <= ?"
            params.append(until)
        with self._lock:
            total = int(self._db.execute("SELECT COUNT(*) FROM alerts" + where, params).fetchone()[0])
            rows = self._db.execute("SELECT payload FROM alerts" + where + " ORDER BY created_at DESC, rowid DESC"
                                    " LIMIT ? OFFSET ?", [*params, int(limit), int(offset)]).fetchall()
        return total, [json.loads(r[0]) for r in rows]

    def alerts_after(self, rowid: int, limit: int = 200) -> list[tuple[int, dict[str, Any]]]:
        """Alerts stored after the one at ``rowid`` (their place in the store), oldest first:
        what a feed that has seen everything up to ``rowid`` has not seen yet."""
        rows = self._query("SELECT rowid, payload FROM alerts WHERE rowid > ? ORDER BY rowid LIMIT ?", (int(rowid), int(limit)))
        return [(int(r[0]), json.loads(r[1])) for r in rows]

    def last_alert_rowid(self, delivered_to: str | None = None) -> int | None:
        """The place of the newest stored alert (0 for none); with ``delivered_to``, of the newest
        alert queued for that target (``None`` if it never had one)."""
        if delivered_to is None:
            return int(self._query("SELECT COALESCE(MAX(rowid), 0) FROM alerts")[0][0])
        value = self._query("SELECT MAX(a.rowid) FROM alerts a JOIN deliveries d ON d.alert_id = a.alert_id"
                            " WHERE d.target = ?", (delivered_to,))[0][0]
        return None if value is None else int(value)

    def alert_counts(self, by_source: bool = False) -> dict[Any, tuple[int, str | None]]:
        """Per camera (or per ``(camera, source)``): how many alerts, and when the newest was raised."""
        keys = "camera_id, source" if by_source else "camera_id"
        rows = self._query(f"SELECT {keys}, COUNT(*), MAX(created_at) FROM alerts GROUP BY {keys}")
        if by_source:
            return {(r[0], r[1]): (int(r[2]), r[3]) for r in rows}
        return {r[0]: (int(r[1]), r[2]) for r in rows}

    # ------------------------------------------------------------------ deliveries
    def pending_deliveries(self, camera_id: str | None, target: str) -> list[dict[str, Any]]:
        """Alerts of a camera (``None``: of every camera) queued for ``target`` that have not
        reached it yet (oldest first)."""
        sql = ("SELECT a.payload FROM deliveries d JOIN alerts a ON a.alert_id = d.alert_id"
               " WHERE d.target = ? AND d.status = 'pending'")
        params: list[Any] = [target]
        if camera_id is not None:
            sql += " AND a.camera_id = ?"
            params.append(camera_id)
        rows = self._query(sql + " ORDER BY a.created_at, a.rowid", params)
        return [json.loads(r[0]) for r in rows]

    def queue_deliveries(self, alert_ids: Sequence[str], target: str) -> int:
        """Queue alerts for ``target`` (those already queued are left as they are); returns how many were new."""
        with self.transaction() as db:
            cur = db.executemany("INSERT OR IGNORE INTO deliveries (alert_id, target) VALUES (?, ?)",
                                 [(a, target) for a in alert_ids])
            return cur.rowcount

    def backfill_deliveries(self, camera_id: str, target: str) -> int:
        """Queue every stored alert of a camera for ``target`` that was never queued for it; returns how many."""
        with self.transaction() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO deliveries (alert_id, target) SELECT alert_id, ? FROM alerts WHERE camera_id = ?",
                (target, camera_id),
            )
            return cur.rowcount

    def record_delivery(self, alert_id: str, target: str, status: str, error: str | None = None) -> None:
        """The outcome of posting an alert to ``target``: ``delivered``, ``refused`` (final) or ``pending``."""
        if status not in ("delivered", "refused", "pending"):
            raise ValueError(f"unknown delivery status {status!r}")
        with self.transaction() as db:
            db.execute(
                "INSERT INTO deliveries (alert_id, target, status, attempts, last_error) VALUES (?, ?, ?, 1, ?)"
                " ON CONFLICT (alert_id, target) DO UPDATE SET status = excluded.status,"
                " attempts = deliveries.attempts + 1, last_error = excluded.last_error,"
                " updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                (alert_id, target, status, error),
            )
            if status == "delivered":
                db.execute("UPDATE alerts SET delivered = 1 WHERE alert_id = ?", (alert_id,))

    def deliveries(self, target: str | None = None) -> list[dict[str, Any]]:
        """Delivery records (alert id, target, status, attempts, last error)."""
        sql = "SELECT alert_id, target, status, attempts, last_error FROM deliveries"
        params: list[Any] = []
        if target is not None:
            sql += " WHERE target = ?"
            params.append(target)
        return [dict(r) for r in self._query(sql + " ORDER BY updated_at", params)]

    def set_event_status(self, event_id: str, status: str, *, event_type: str | None = None,
                         confidence: float | None = None, explanation: str | None = None) -> None:
        """Record the agents' verdict on a stored event."""
        with self.transaction() as db:
            db.execute(
                "UPDATE events SET status = ?, event_type = COALESCE(?, event_type), confidence = COALESCE(?, confidence),"
                " explanation = COALESCE(?, explanation) WHERE event_id = ?",
                (status, event_type, confidence, explanation, event_id),
            )

    # ------------------------------------------------------------------ videos
    def record_video(
        self,
        source: str,
        camera_id: str,
        *,
        fps: float | None,
        n_frames: int | None,
        duration_s: float | None,
        model_version: str = "",
        scanned_until: float = 0.0,
        start_time: str | None = None,
        complete: bool = False,
        content_id: str = "",
    ) -> None:
        """Remember how much of a source was scanned.

        Args:
            scanned_until: seconds of video actually read.
            start_time: ISO wall-clock time of the first frame, when known.
            complete: the scan read the source to its end (not cut short by a time limit); a
                damaged file's end is where decoding stopped, which may be before ``duration_s``.
            content_id: the source's content identity.
        """
        with self.transaction() as db:
            db.execute(
                "INSERT INTO videos (source, camera_id, fps, n_frames, duration_s, model_version, scanned_until, start_time,"
                " complete, content_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source, camera_id) DO UPDATE SET"
                " fps = excluded.fps, n_frames = excluded.n_frames, duration_s = excluded.duration_s,"
                " model_version = excluded.model_version, scanned_until = excluded.scanned_until,"
                " start_time = COALESCE(excluded.start_time, videos.start_time), complete = excluded.complete,"
                " content_id = excluded.content_id, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                (source, camera_id, fps, n_frames, duration_s, model_version, scanned_until, start_time, int(complete),
                 content_id),
            )

    # ------------------------------------------------------------------ tracks
    def replace_tracks(self, camera_id: str, source: str, tracks: Sequence[dict[str, Any]], content_id: str = "") -> int:
        """Store the objects one scan of a source followed (see ``Track.summary``), replacing
        what an earlier scan of the same content stored; returns how many."""
        with self.transaction() as db:
            db.execute("DELETE FROM tracks WHERE camera_id = ? AND source = ? AND content_id = ?",
                       (camera_id, source, content_id))
            db.executemany(
                "INSERT INTO tracks (camera_id, source, content_id, track_id, label, grp, start_s, end_s, speed, confidence,"
                " payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(camera_id, source, content_id, int(t["track_id"]), str(t["label"]), str(t["group"]), float(t["start_s"]),
                  float(t["end_s"]), float(t.get("speed", 0.0)), float(t.get("confidence", 0.0)), json.dumps(t))
                 for t in tracks],
            )
        return len(tracks)

    def find_tracks(
        self,
        *,
        cameras: Sequence[str] = (),
        sources: Sequence[str] = (),
        labels: Sequence[str] = (),
        groups: Sequence[str] = (),
        contents: Sequence[tuple[str, str]] = (),
    ) -> list[dict[str, Any]]:
        """Stored tracks of some cameras and sources whose label is one of ``labels`` or whose
        group is one of ``groups`` (both empty: any), in time order; each with ``camera_id`` and
        ``source``. ``contents``: as for :meth:`find_alerts`."""
        sql, params = "SELECT camera_id, source, payload FROM tracks WHERE 1 = 1", []
        for column, values in (("camera_id", cameras), ("source", sources)):
            if values:
                sql += " AND " + _in_clause(column, values)
                params.extend(values)
        kinds = [(column, values) for column, values in (("label", labels), ("grp", groups)) if values]
        if kinds:
            sql += " AND (" + " OR ".join(_in_clause(column, values) for column, values in kinds) + ")"
            params.extend(v for _, values in kinds for v in values)
        extra, values = _contents_clause(contents)
        sql += extra
        params.extend(values)
        sql += " ORDER BY camera_id, source, start_s"
        return [{**json.loads(r[2]), "camera_id": r[0], "source": r[1]} for r in self._query(sql, params)]

    def videos(self, camera_id: str | None = None) -> list[dict[str, Any]]:
        """Scanned sources, optionally of one camera."""
        sql = "SELECT * FROM videos"
        params: list[Any] = []
        if camera_id is not None:
            sql += " WHERE camera_id = ?"
            params.append(camera_id)
        return [dict(r) for r in self._query(sql + " ORDER BY camera_id, source", params)]


def _in_clause(column: str, values: Sequence[Any]) -> str:
    """``column IN (?, ...)`` with one placeholder per value."""
    return f"{column} IN ({', '.join('?' * len(values))})"


def _contents_clause(contents: Sequence[tuple[str, str]]) -> tuple[str, list[Any]]:
    """SQL (and its parameters) keeping, of the ``(source, content_id)`` pairs' sources, only
    rows of that content (rows of other sources pass)."""
    known = [(src, cid) for src, cid in contents if cid]
    if not known:
        return "", []
    sql = " AND (" + " OR ".join("(source = ? AND content_id IN (?, ''))" for _ in known)
    sql += f" OR source NOT IN ({', '.join('?' * len(known))}))"
    params: list[Any] = [v for pair in known for v in pair]
    return sql, params + [src for src, _ in known]


class _Tx:
    """The handle a transaction block writes through."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        return self._db.execute(sql, tuple(params))

    def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> sqlite3.Cursor:
        return self._db.executemany(sql, rows)

    def executescript_in_tx(self, script: str) -> None:
        # sqlite3.executescript would COMMIT first; run statement by statement instead.
        for statement in _split_sql(script):
            self._db.execute(statement)


def _split_sql(script: str) -> list[str]:
    statements, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip():
        statements.append(buf.strip())
    return statements
