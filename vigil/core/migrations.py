"""The store's schema, as forward migrations.

``PRAGMA user_version`` holds how many of :data:`MIGRATIONS` a database has had; opening it
applies the rest (:meth:`vigil.core.store.Store`), all in one write transaction.
"""

from __future__ import annotations

# Forward migrations; index i upgrades schema version i to i + 1. Never edit a released one.
MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1: seed tables
    """
    CREATE TABLE windows (
        id            INTEGER PRIMARY KEY,
        camera_id     TEXT    NOT NULL,
        source        TEXT    NOT NULL DEFAULT '',
        ts_start      REAL    NOT NULL,
        ts_end        REAL    NOT NULL,
        anomaly_score REAL    NOT NULL,
        is_anomaly    INTEGER NOT NULL DEFAULT 0,
        model_version TEXT    NOT NULL DEFAULT '',
        UNIQUE (camera_id, source, ts_start, model_version)
    );
    CREATE INDEX windows_by_time ON windows (camera_id, source, ts_start);
    CREATE TABLE events (
        event_id    TEXT PRIMARY KEY,
        camera_id   TEXT NOT NULL,
        source      TEXT NOT NULL DEFAULT '',
        event_start REAL NOT NULL,
        event_end   REAL NOT NULL,
        peak_score  REAL NOT NULL,
        event_type  TEXT NOT NULL DEFAULT 'unknown',
        confidence  REAL NOT NULL DEFAULT 0,
        status      TEXT NOT NULL DEFAULT 'candidate',
        explanation TEXT NOT NULL DEFAULT '',
        created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    CREATE INDEX events_by_camera ON events (camera_id, event_start);
    CREATE TABLE clips (
        event_id    TEXT NOT NULL REFERENCES events (event_id) ON DELETE CASCADE,
        clip_start  REAL NOT NULL,
        clip_end    REAL NOT NULL,
        storage_uri TEXT NOT NULL,
        PRIMARY KEY (event_id, storage_uri)
    );
    CREATE TABLE alerts (
        alert_id     TEXT PRIMARY KEY,
        event_id     TEXT REFERENCES events (event_id) ON DELETE SET NULL,
        camera_id    TEXT NOT NULL,
        source       TEXT NOT NULL DEFAULT '',
        event_type   TEXT NOT NULL,
        start_s      REAL NOT NULL,
        end_s        REAL NOT NULL,
        confidence   REAL NOT NULL,
        explained_by TEXT NOT NULL,
        payload      TEXT NOT NULL,
        delivered    INTEGER NOT NULL DEFAULT 0,
        created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    CREATE INDEX alerts_by_camera ON alerts (camera_id, start_s);
    """,
    # 1 -> 2: which sources have been scanned, so questions and restarts know what is indexed
    """
    CREATE TABLE videos (
        source        TEXT NOT NULL,
        camera_id     TEXT NOT NULL,
        fps           REAL,
        n_frames      INTEGER,
        duration_s    REAL,
        model_version TEXT NOT NULL DEFAULT '',
        scanned_until REAL NOT NULL DEFAULT 0,
        updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (source, camera_id)
    );
    """,
    # 2 -> 3: wall-clock time of a video's first frame, when known (questions like "after 3 pm")
    """
    ALTER TABLE videos ADD COLUMN start_time TEXT;
    """,
    # 3 -> 4: what a scan really read (partial scans are not complete), the content identity of
    # each video (one file under two spellings is one video; a replaced file is a new one), and
    # webhook deliveries per target (a newly added hook gets new alerts only; 4xx is final)
    """
    ALTER TABLE videos ADD COLUMN content_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE videos ADD COLUMN complete INTEGER NOT NULL DEFAULT 0;
    UPDATE videos SET complete = 1 WHERE duration_s IS NOT NULL AND scanned_until >= duration_s - 1.0;
    ALTER TABLE alerts ADD COLUMN content_id TEXT NOT NULL DEFAULT '';
    CREATE TABLE deliveries (
        alert_id   TEXT NOT NULL REFERENCES alerts (alert_id) ON DELETE CASCADE,
        target     TEXT NOT NULL,
        status     TEXT NOT NULL DEFAULT 'pending',
        attempts   INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (alert_id, target)
    );
    CREATE INDEX deliveries_by_status ON deliveries (target, status);
    """,
    # 4 -> 5: the objects a scan followed (what questions about bicycles or dogs are answered from)
    """
    CREATE TABLE tracks (
        camera_id   TEXT    NOT NULL,
        source      TEXT    NOT NULL,
        content_id  TEXT    NOT NULL DEFAULT '',
        track_id    INTEGER NOT NULL,
        label       TEXT    NOT NULL,
        grp         TEXT    NOT NULL,
        start_s     REAL    NOT NULL,
        end_s       REAL    NOT NULL,
        speed       REAL    NOT NULL DEFAULT 0,
        confidence  REAL    NOT NULL DEFAULT 0,
        payload     TEXT    NOT NULL,
        PRIMARY KEY (camera_id, source, content_id, track_id)
    );
    CREATE INDEX tracks_by_label ON tracks (label, camera_id);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
