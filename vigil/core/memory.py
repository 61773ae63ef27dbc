"""Pattern memory in ChromaDB, and the offline text embedder.

Two collections per store:

- ``patterns_d<dim>``: clip vectors of judged events with their verdicts (``anomaly`` or
  ``normal``), so the Analyst can ask "what did we decide about things that looked like this?";
- ``events_<space>``: the text of events and alerts (explanations, scene descriptions) for
  questions, one collection per text-embedding space (``hashing512``, or the endpoint's model)
  so vectors of different embedders never mix.

A local ``PersistentClient`` under ``<data_dir>/chroma`` by default, or a Chroma server
(``memory_url: http://host:8000``, :class:`chromadb.HttpClient`). The local database is not made
for several processes at once (a ``serve`` and a ``watch`` in another process, two ``watch``
runs): each call to it holds a file lock (``chroma/vigil.lock``), so processes take turns, and
a process reopens its client when another one wrote since (``chroma/vigil.writes``), so each
sees what the others wrote. Embeddings are always computed
here and passed in, so Chroma never downloads an embedding model.

Text embeddings are hashed word and character n-grams (scikit-learn's ``HashingVectorizer``):
no weights, no network, stable across processes. An OpenAI-compatible ``/v1/embeddings``
endpoint can replace them (:class:`EndpointTextEmbedder`).
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from vigil.core.diskfull import DiskFullError, disk_full_message
from vigil.core.errors import VigilError
from vigil.core.files import write_text_atomic
from vigil.core.imports import require

log = logging.getLogger(__name__)

TEXT_DIM = 512
#: Free space under which a failed write of the local memory is taken for a full disk: ChromaDB
#: reports its storage's "disk is full" only as a failed compaction.
FULL_BELOW_BYTES = 64 << 20
#: the file lock in the local database's folder that processes take turns on
LOCK_NAME = "vigil.lock"
#: the count of writes to the local database, beside the lock
GENERATION_NAME = "vigil.writes"


class MemoryError_(VigilError):
    """The pattern memory cannot be opened or reached."""


class HashingTextEmbedder:
    """Hashed word (1-2) and character (3-5) n-grams, L2-normalised, ``TEXT_DIM`` dimensions."""

    name = "hashing"

    def __init__(self, dim: int = TEXT_DIM) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        half = dim // 2
        self.dim = dim
        self.space = f"hashing{dim}"
        self._words = HashingVectorizer(n_features=half, ngram_range=(1, 2), alternate_sign=False, norm="l2",
                                        stop_words="english")
        self._chars = HashingVectorizer(n_features=dim - half, analyzer="char_wb", ngram_range=(3, 5),
                                        alternate_sign=False, norm="l2")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32 unit vectors."""
        words = self._words.transform(texts).toarray()
        chars = self._chars.transform(texts).toarray()
        v = np.concatenate([words, 0.7 * chars], axis=1).astype(np.float32)
        n = np.linalg.norm(v, axis=1, keepdims=True)
        return v / np.maximum(n, 1e-9)


class EndpointTextEmbedder:
    """Text embeddings from an OpenAI-compatible ``/v1/embeddings`` endpoint."""

    def __init__(self, url: str, model: str, api_key: str | None = None, timeout: float = 30.0) -> None:
        openai = require("openai", "the embeddings client")
        self._client = openai.OpenAI(base_url=url, api_key=api_key or "not-needed", timeout=timeout, max_retries=1)
        self.model = model
        self.name = f"endpoint:{model}"
        self.space = re.sub(r"[^A-Za-z0-9_-]+", "-", model).strip("-_")[:48] or "endpoint"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        try:
            resp = self._client.embeddings.create(model=self.model, input=list(texts))
        except Exception as exc:  # openai raises many kinds; one line is what a user needs
            raise MemoryError_(f"embeddings endpoint failed: {str(exc).splitlines()[0][:200]}") from None
        v = np.array([d.embedding for d in resp.data], np.float32)
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)


TextEmbedder = HashingTextEmbedder | EndpointTextEmbedder


def text_embedder(endpoint: Any = None) -> TextEmbedder:
    """The configured text embedder: the ``embeddings`` endpoint when it has a URL, else hashing.

    Args:
        endpoint: a :class:`vigil.core.config.Endpoint` (or ``None``).
    """
    if endpoint is not None and getattr(endpoint, "configured", False):
        key = endpoint.api_key.get_secret_value() if endpoint.api_key else None
        return EndpointTextEmbedder(endpoint.url, endpoint.model or "default", key, endpoint.timeout_s)
    return HashingTextEmbedder()


class _Database:
    """This process's one client of a ChromaDB database, shared by every :class:`PatternMemory`
    on it (ChromaDB itself keeps one system per folder and process).

    A local database is used under a file lock, and a counter file beside it says how many
    writes it has had: when another process wrote since this one last looked, this process's
    client is reopened first, since its in-memory index would not know the new records.
    """

    def __init__(self, make_client: Any, path: Path | None) -> None:
        self._make_client = make_client
        self.path = path
        self.client: Any = None
        self.collections: dict[str, Any] = {}
        self._seen = -1
        self._threads = threading.RLock()
        self._files: Any = contextlib.nullcontext()  # a Chroma server orders its clients itself
        if path is not None:
            from filelock import FileLock

            self._files = FileLock(path / LOCK_NAME)

    @contextmanager
    def use(self, write: bool = False) -> Iterator[_Database]:
        """Hold the database (this thread, this process) with an up-to-date client."""
        with self._threads, self._files:
            writes = self._writes()
            if self.client is not None and writes != self._seen:
                self.close()
            if self.client is None:
                self.client = self._make_client()
                self.collections = {}
                self._seen = writes
            try:
                yield self
            finally:
                if write and self.path is not None:
                    self._seen = writes + 1
                    write_text_atomic(self.path / GENERATION_NAME, str(self._seen))

    def collection(self, name: str) -> Any:
        if name not in self.collections:
            self.collections[name] = self.client.get_or_create_collection(
                name, embedding_function=None, metadata={"hnsw:space": "cosine"})
        return self.collections[name]

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):  # closing is best effort; a new client follows
                self.client.close()
        self.client, self.collections = None, {}

    def _writes(self) -> int:
        if self.path is None:
            return 0
        try:
            return int((self.path / GENERATION_NAME).read_text(encoding="ascii"))
        except FileNotFoundError:
            return 0
        except (OSError, ValueError):
            return -2  # unreadable: reopen, the next write rewrites it


_DATABASES: dict[str, _Database] = {}
_DATABASES_LOCK = threading.Lock()


class PatternMemory:
    """ChromaDB collections of judged patterns and of event texts.

    Args:
        path: folder of a local persistent database.
        url: a Chroma server (``http://host:port``), used instead of ``path``.
    """

    def __init__(self, path: str | Path | None = None, url: str | None = None) -> None:
        chromadb = require("chromadb", "the pattern memory")
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        self._path: Path | None = None  # the local database's folder
        if url:
            u = urlparse(url)
            key = url

            def make_client() -> Any:
                client = chromadb.HttpClient(host=u.hostname or "localhost", port=u.port or 8000,
                                             ssl=u.scheme == "https", settings=settings)
                client.heartbeat()
                return client
        else:
            if path is None:
                raise MemoryError_("the pattern memory needs a folder or a server URL")
            Path(path).mkdir(parents=True, exist_ok=True)
            self._path = Path(path).resolve()
            key = str(self._path)

            def make_client() -> Any:
                return chromadb.PersistentClient(path=key, settings=settings)
        with _DATABASES_LOCK:
            if key not in _DATABASES:
                _DATABASES[key] = _Database(make_client, self._path)
            self._db = _DATABASES[key]
        try:
            with self._guard():
                pass  # opens it: a database that cannot be opened is reported here, not at first use
        except (MemoryError_, DiskFullError):
            raise
        except Exception as exc:  # chromadb raises many kinds
            where = url or str(path)
            raise MemoryError_(f"cannot open the pattern memory at {where}: {str(exc).splitlines()[0][:200]}") from None

    @contextmanager
    def _guard(self, write: bool = False) -> Iterator[_Database]:
        """Around every ChromaDB call: the database held (see :class:`_Database`), and a failure
        of the local one on a (nearly) full disk is :class:`DiskFullError`; what was written
        before stays (ChromaDB commits each write)."""
        try:
            with self._db.use(write) as db:
                yield db
        except Exception:
            if self._path is not None and shutil.disk_usage(self._path).free < FULL_BELOW_BYTES:
                raise DiskFullError(disk_full_message(self._path)) from None
            raise

    # ------------------------------------------------------------------ patterns
    def add_pattern(self, pattern_id: str, vector: np.ndarray, verdict: str, metadata: dict[str, Any]) -> None:
        """Remember a judged pattern (``verdict``: ``anomaly`` or ``normal``); re-adding updates it."""
        v = np.asarray(vector, np.float32).ravel()
        meta = {k: v_ for k, v_ in {**metadata, "verdict": verdict}.items() if isinstance(v_, (str, int, float, bool))}
        with self._guard(write=True) as db:
            db.collection(f"patterns_d{v.size}").upsert(ids=[pattern_id], embeddings=[v.tolist()], metadatas=[meta])

    def similar_patterns(self, vector: np.ndarray, camera_id: str | None = None, k: int = 5) -> list[dict[str, Any]]:
        """The ``k`` nearest judged patterns (cosine distance), optionally of one camera."""
        v = np.asarray(vector, np.float32).ravel()
        with self._guard() as db:
            col = db.collection(f"patterns_d{v.size}")
            count = col.count()
            if count == 0:
                return []
            res = col.query(query_embeddings=[v.tolist()], n_results=min(k, count),
                            where={"camera_id": camera_id} if camera_id else None)
        out = []
        for pid, dist, meta in zip(res["ids"][0], res["distances"][0], res["metadatas"][0]):
            out.append({"id": pid, "distance": round(float(dist), 4), **(meta or {})})
        return out

    # ------------------------------------------------------------------ event texts
    def add_event_text(self, event_id: str, text: str, embedding: np.ndarray, metadata: dict[str, Any],
                       space: str = f"hashing{TEXT_DIM}") -> None:
        """Index an event's text for questions; re-adding updates it.

        Args:
            space: the text embedder's ``space`` (one collection per embedder).
        """
        meta = {k: v for k, v in metadata.items() if isinstance(v, (str, int, float, bool))}
        with self._guard(write=True) as db:
            db.collection(f"events_{space}").upsert(
                ids=[event_id], embeddings=[np.asarray(embedding, np.float32).tolist()], documents=[text],
                metadatas=[meta])

    def search_events(self, embedding: np.ndarray, k: int = 10, where: dict[str, Any] | None = None,
                      space: str = f"hashing{TEXT_DIM}") -> list[dict[str, Any]]:
        """Events whose text is nearest to ``embedding`` (cosine distance), in one embedder's space."""
        with self._guard() as db:
            col = db.collection(f"events_{space}")
            count = col.count()
            if count == 0:
                return []
            res = col.query(query_embeddings=[np.asarray(embedding, np.float32).tolist()], n_results=min(k, count),
                            where=where)
        return [
            {"id": i, "distance": round(float(d), 4), "text": doc, **(m or {})}
            for i, d, doc, m in zip(res["ids"][0], res["distances"][0], res["documents"][0], res["metadatas"][0])
        ]
