"""Delivering alerts to a webhook: JSON POST with bounded retries.

Deliveries are tracked per target in the store (see :meth:`vigil.core.store.Store.add_alert`): a
hook receives the alerts raised while it is configured, an alert it refused (4xx) is not posted
again, and one that could not be delivered (5xx, timeout, refused connection) stays pending and
is retried on the next run.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any, Literal

from vigil.core.errors import ConfigError

log = logging.getLogger(__name__)

Outcome = Literal["delivered", "refused", "failed"]


def check_webhook_url(url: str) -> str:
    """The URL if it is a usable ``http(s)://host[:port]/path``; raises :class:`ConfigError` otherwise."""
    m = re.fullmatch(r"https?://([^@/\s]+@)?([A-Za-z0-9._~%-]+|\[[0-9A-Fa-f:.]+\])(:(\d{1,5}))?(/\S*)?", url or "")
    if not m:
        raise ConfigError(f"--webhook {url!r}: expected an http:// or https:// URL, e.g. http://alarms.local:8080/hook")
    if m.group(4) and not 0 < int(m.group(4)) < 65536:
        raise ConfigError(f"--webhook {url!r}: port {m.group(4)} is out of range")
    return url


class Webhook:
    """POSTs JSON to ``url``; retries ``attempts`` times with doubling delays.

    A 2xx answer is delivery. A 4xx other than 408/429 is final: the receiver refused the alert
    and retrying will not help. Timeouts, connection errors, 408/429 and 5xx are retried.

    Attributes:
        failures: alerts that could not be delivered in this run (they stay pending).
        refusals: alerts the receiver refused (final).
    """

    def __init__(self, url: str, attempts: int = 3, timeout_s: float = 5.0, backoff_s: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        import httpx

        self.url = check_webhook_url(url)
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self._client = httpx.Client(timeout=timeout_s)
        self._httpx = httpx
        self._sleep = sleep
        self.failures = 0
        self.refusals = 0
        self.last_problem: str | None = None  # what went wrong with the last undelivered alert

    def send(self, payload: dict[str, Any]) -> tuple[Outcome, str | None]:
        """Deliver ``payload``; returns the outcome and, unless delivered, what went wrong."""
        problem = "no attempt"
        for attempt in range(self.attempts):
            try:
                resp = self._client.post(self.url, json=payload)
                if 200 <= resp.status_code < 300:
                    return "delivered", None
                if 400 <= resp.status_code < 500 and resp.status_code not in (408, 429):
                    self.refusals += 1
                    problem = f"HTTP {resp.status_code}"
                    self._say("webhook %s refused alert %s: %s (final, not posted again)", self.url,
                              payload.get("alert_id"), problem)
                    return "refused", problem
                problem = f"HTTP {resp.status_code}"
            except self._httpx.HTTPError as exc:
                problem = type(exc).__name__
            if attempt + 1 < self.attempts:
                delay = self.backoff_s * 2**attempt
                log.info("webhook %s: %s; retrying in %.1f s", self.url, problem, delay)
                self._sleep(delay)
        self.failures += 1
        self.last_problem = problem
        self._say("webhook %s: alert %s not delivered after %d attempts (%s); it stays queued", self.url,
                  payload.get("alert_id"), self.attempts, problem)
        return "failed", problem

    def _say(self, message: str, *args: Any) -> None:
        # the first problem of a run is a warning (a live watch may run for days); the rest are
        # counted for the summary at the end
        (log.warning if self.failures + self.refusals == 1 else log.info)(message, *args)

    def post(self, payload: dict[str, Any]) -> bool:
        """Deliver ``payload``; True on success."""
        return self.send(payload)[0] == "delivered"

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()
