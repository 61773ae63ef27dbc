"""Persistent state: SQLite (WAL) for windows, events, clips and alerts; files for the rest.

Where callers get it all: the :class:`Store` (:mod:`vigil.core.sqlite_store`), the data dir's
layout :class:`DataDir` (:mod:`vigil.core.datadir`), the schema's migrations
(:mod:`vigil.core.migrations`) and the rows' types (:mod:`vigil.core.records`).

How writes stay safe (transactions, schema versions, a full disk) is told in
:mod:`vigil.core.sqlite_store`.
"""

from __future__ import annotations

from vigil.core.datadir import STORE_NAME, DataDir
from vigil.core.migrations import MIGRATIONS, SCHEMA_VERSION
from vigil.core.records import ClipRecord, EventRecord, WindowRecord
from vigil.core.sqlite_store import BUSY_TIMEOUT_S, Store, use_wal

__all__ = ["BUSY_TIMEOUT_S", "MIGRATIONS", "SCHEMA_VERSION", "STORE_NAME", "ClipRecord", "DataDir", "EventRecord",
           "Store", "WindowRecord", "use_wal"]
