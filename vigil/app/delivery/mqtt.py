"""Alerts and camera status as MQTT messages, as NVRs publish them for home automation and VMSs.

Topics (``<prefix>`` is ``vigil`` unless the URL's path names another)::

    <prefix>/<camera>/alerts   each new alert as JSON (QoS 1, not retained)
    <prefix>/<camera>/status   the camera's status as JSON (QoS 1, retained): state watching |
                               idle | offline, the sources being watched, the last alert
    <prefix>/status            online | offline (retained; offline is also the connection's will)

QoS 1 is "at least once": the broker has acknowledged every alert reported delivered. Which
alerts reached the broker is kept in the store (:class:`AlertPublisher` below), so a restarted
server publishes the ones it had not delivered, and none twice unless an acknowledgement was lost.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Any

from vigil.core.imports import require
from vigil.core.mqtt_url import MqttTarget, parse_mqtt_url  # noqa: F401 - re-exported for delivery callers

log = logging.getLogger(__name__)

class MqttPublisher:
    """A connection to one broker that publishes alerts and camera status (see the module docstring).

    Connecting happens in the background and is retried by the client; :meth:`publish_alert`
    reports whether the broker acknowledged the message within ``timeout_s``.
    """

    def __init__(self, url: str, timeout_s: float = 5.0, client_id: str | None = None) -> None:
        mqtt = require("paho.mqtt.client", "publishing alerts over MQTT", extra="serve")
        self.target = parse_mqtt_url(url)
        self.timeout_s = timeout_s
        self._statuses: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._connected = threading.Event()
        t = self.target
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"vigil-{uuid.uuid4().hex[:8]}",
                                   protocol=mqtt.MQTTv311)
        if t.username is not None:
            self._client.username_pw_set(t.username, t.password)
        if t.tls:
            self._client.tls_set()
        self._client.will_set(f"{t.prefix}/status", "offline", qos=1, retain=True)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.connect_async(t.host, t.port, keepalive=30)
        self._client.loop_start()

    # ------------------------------------------------------------------ connection
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any = None) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("MQTT broker %s refused the connection: %s", self.target.display, reason)
            return
        self._connected.set()
        client.publish(f"{self.target.prefix}/status", "online", qos=1, retain=True)
        with self._lock:
            statuses = list(self._statuses.items())
        for camera, status in statuses:  # a broker that restarted without persistence has lost them
            client.publish(self._status_topic(camera), json.dumps(status), qos=1, retain=True)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any = None) -> None:
        if self._connected.is_set():
            log.warning("MQTT broker %s: disconnected (%s); reconnecting", self.target.display, reason)
        self._connected.clear()

    @property
    def connected(self) -> bool:
        """Whether the broker connection is up."""
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the connection; True once connected."""
        return self._connected.wait(timeout_s)

    # ------------------------------------------------------------------ messages
    def alert_topic(self, camera_id: str) -> str:
        """The topic a camera's alerts go to."""
        return f"{self.target.prefix}/{camera_id}/alerts"

    def _status_topic(self, camera_id: str) -> str:
        return f"{self.target.prefix}/{camera_id}/status"

    def publish_alert(self, alert: dict[str, Any]) -> tuple[bool, str | None]:
        """Publish one alert; returns whether the broker acknowledged it and, if not, why."""
        if not self.connected:
            return False, "not connected"
        info = self._client.publish(self.alert_topic(alert["camera_id"]), json.dumps(alert, sort_keys=True), qos=1)
        try:
            info.wait_for_publish(timeout=self.timeout_s)
        except (RuntimeError, ValueError) as exc:
            return False, str(exc) or type(exc).__name__
        return (True, None) if info.is_published() else (False, f"no acknowledgement within {self.timeout_s:g} s")

    def publish_status(self, camera_id: str, status: dict[str, Any]) -> None:
        """Publish (and remember, for reconnects) a camera's retained status."""
        status = {**status, "camera_id": camera_id, "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        with self._lock:
            self._statuses[camera_id] = status
        if self.connected:
            self._client.publish(self._status_topic(camera_id), json.dumps(status), qos=1, retain=True)

    def close(self) -> None:
        """Mark every camera offline, then disconnect."""
        if self.connected:
            with self._lock:
                cameras = list(self._statuses)
            infos = [self._client.publish(self._status_topic(c), json.dumps({**self._statuses[c], "state": "offline"}),
                                          qos=1, retain=True) for c in cameras]
            infos.append(self._client.publish(f"{self.target.prefix}/status", "offline", qos=1, retain=True))
            for info in infos:
                try:
                    info.wait_for_publish(timeout=self.timeout_s)
                except (RuntimeError, ValueError):
                    break
        self._client.disconnect()
        self._client.loop_stop()


class AlertPublisher:
    """Publishes every new alert of the store to an MQTT broker, from a background thread.

    The store is polled every ``poll_s`` seconds, so alerts of watches running in other
    processes are published too. Deliveries are recorded per broker (``deliveries`` table):
    on start, alerts that an earlier run queued and did not deliver go out first, then every
    alert stored after the last one this broker received (on a broker's first use: alerts from
    now on). A broker that is down leaves them queued; they go out once it is back.

    Args:
        store: the :class:`~vigil.core.store.Store`.
        publisher: the broker connection.
    """

    def __init__(self, store: Any, publisher: MqttPublisher, poll_s: float = 0.5) -> None:
        self.store = store
        self.publisher = publisher
        self.poll_s = poll_s
        self.target = publisher.target.display
        self.delivered = 0
        self._stop = threading.Event()
        last = store.last_alert_rowid(delivered_to=self.target)
        self._cursor = store.last_alert_rowid() if last is None else last
        self._thread = threading.Thread(target=self._loop, name="vigil-mqtt", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the thread must outlive one bad round
                log.exception("MQTT publishing failed; retrying")
            self._stop.wait(self.poll_s)

    def flush(self) -> int:
        """Queue the alerts stored since the last round and publish everything queued; returns how many went out."""
        new = self.store.alerts_after(self._cursor)
        if new:
            self.store.queue_deliveries([a["alert_id"] for _, a in new], self.target)
            self._cursor = new[-1][0]
        if not self.publisher.connected:
            return 0
        sent = 0
        for alert in self.store.pending_deliveries(None, self.target):
            ok, problem = self.publisher.publish_alert(alert)
            self.store.record_delivery(alert["alert_id"], self.target, "delivered" if ok else "pending", problem)
            if not ok:
                break  # the broker is in trouble: the rest wait for the next round, in order
            sent += 1
        self.delivered += sent
        return sent

    def close(self) -> None:
        """Stop polling (after one last round) and close the connection."""
        self._stop.set()
        self._thread.join(timeout=10)
        try:
            self.flush()
        finally:
            self.publisher.close()
