"""Delivering alerts to a webhook: JSON POST with bounded retries."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Webhook:
    """POSTs JSON to ``url``; retries ``attempts`` times with doubling delays.

    A 2xx answer is delivery. A 4xx other than 408/429 is not retried (the receiver refused the
    alert, retrying will not help); timeouts, connection errors and 5xx are.
    """

    def __init__(self, url: str, attempts: int = 3, timeout_s: float = 5.0, backoff_s: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        import httpx

        self.url = url
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self._client = httpx.Client(timeout=timeout_s)
        self._httpx = httpx
        self._sleep = sleep

    def post(self, payload: dict[str, Any]) -> bool:
        """Deliver ``payload``; returns True on success, False when every attempt failed."""
        for attempt in range(self.attempts):
            try:
                resp = self._client.post(self.url, json=payload)
                if 200 <= resp.status_code < 300:
                    return True
                if 400 <= resp.status_code < 500 and resp.status_code not in (408, 429):
                    log.warning("webhook %s refused alert %s: HTTP %s", self.url, payload.get("alert_id"), resp.status_code)
                    return False
                problem = f"HTTP {resp.status_code}"
            except self._httpx.HTTPError as exc:
                problem = type(exc).__name__
            if attempt + 1 < self.attempts:
                delay = self.backoff_s * 2**attempt
                log.warning("webhook %s: %s; retrying in %.1f s", self.url, problem, delay)
                self._sleep(delay)
        log.warning("webhook %s: giving up on alert %s after %d attempts", self.url, payload.get("alert_id"), self.attempts)
        return False

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()
