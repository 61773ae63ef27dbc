"""What the watcher needs of an alert hook: a URL to record deliveries under and a ``send``.

The application's :class:`vigil.app.delivery.webhook.Webhook` is one; the agents only see this
protocol, so they do not import the application layer above them.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

#: how one delivery attempt ended: posted, refused for good by the receiver, or to be tried again
Outcome = Literal["delivered", "refused", "failed"]


class AlertHook(Protocol):
    """Delivers alert payloads to one receiver."""

    @property
    def url(self) -> str:
        """Where alerts go (the key the store records their deliveries under)."""
        ...

    def send(self, payload: dict[str, Any]) -> tuple[Outcome, str | None]:
        """Deliver ``payload``; returns the outcome and, unless delivered, what went wrong."""
        ...
