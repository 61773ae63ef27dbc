"""MQTT broker URLs: parsed and checked where the configuration is validated.

The publisher itself is a delivery adapter (:mod:`vigil.app.delivery.mqtt`); the configuration
only needs to know that a URL is well formed, so the parser lives down here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from vigil.core.errors import ConfigError

_URL = re.compile(r"(mqtts?)://(?:([^:@/\s]*)(?::([^@/\s]*))?@)?([A-Za-z0-9._~%-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?(/[A-Za-z0-9_\-/]*)?")


@dataclass(frozen=True)
class MqttTarget:
    """Where to publish: broker host and port, credentials, TLS, topic prefix."""

    url: str
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    prefix: str = "vigil"

    @property
    def display(self) -> str:
        """The URL without credentials (for logs and the deliveries table)."""
        scheme = "mqtts" if self.tls else "mqtt"
        return f"{scheme}://{self.host}:{self.port}/{self.prefix}"


def parse_mqtt_url(url: str) -> MqttTarget:
    """``mqtt://[user[:password]@]host[:port][/prefix]`` (``mqtts://`` for TLS); raises
    :class:`ConfigError` with an example otherwise."""
    m = _URL.fullmatch((url or "").strip())
    if not m:
        raise ConfigError(f"mqtt {url!r}: expected a broker URL like mqtt://localhost:1883 (mqtts:// for TLS)")
    scheme, user, password, host, port, path = m.groups()
    tls = scheme == "mqtts"
    number = int(port) if port else (8883 if tls else 1883)
    if not 0 < number < 65536:
        raise ConfigError(f"mqtt {url!r}: port {number} is out of range")
    prefix = (path or "").strip("/") or "vigil"
    return MqttTarget(url=url, host=host.strip("[]"), port=number, tls=tls, username=unquote(user) if user else None,
                      password=unquote(password) if password else None, prefix=prefix)
