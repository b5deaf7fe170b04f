"""The local bus: best-effort notifications between the box's daemons (MQTT on 127.0.0.1).

Nothing on the alarm or call path waits for it (CONTRACTS §2): publishing while the
local broker is down drops the notification, and consumers catch up from box.db.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any

from appliance.mqtt import make_client, parse_mqtt_url

log = logging.getLogger("bus")

TOPIC_ROOT = "anxin/local/"


class LocalBus:
    def __init__(self, mqtt_url: str, daemon: str) -> None:
        endpoint = parse_mqtt_url(mqtt_url)
        self._client = make_client(f"anxin-{daemon}-{os.getpid()}", tls=endpoint.tls)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._connected = False
        self._endpoint = endpoint
        self._handlers: dict[str, Callable[[str, Any], None]] = {}

    def start(self) -> None:
        self._client.connect_async(self._endpoint.host, self._endpoint.port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def connected(self) -> bool:
        return self._connected

    def publish(self, topic: str, payload: dict[str, Any]) -> bool:
        if not self._connected:
            return False
        info = self._client.publish(TOPIC_ROOT + topic, json.dumps(payload, ensure_ascii=False),
                                    qos=0)
        return info.rc == 0

    def subscribe(self, topic: str, handler: Callable[[str, Any], None]) -> None:
        """HANDLER(topic, decoded JSON) for each message on TOPIC (no wildcards), on paho's
        thread; kept across reconnects."""
        self._handlers[TOPIC_ROOT + topic] = handler
        if self._connected:
            self._client.subscribe(TOPIC_ROOT + topic, qos=0)

    def _on_connect(self, client: Any, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
        self._connected = not reason.is_failure
        log.info("local bus %s", "connected" if self._connected else f"refused: {reason}")
        if self._connected and self._handlers:
            client.subscribe([(topic, 0) for topic in self._handlers])

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        handler = self._handlers.get(msg.topic)
        if handler is None:
            return
        try:
            payload = json.loads(msg.payload)
        except ValueError as exc:
            log.warning("local bus: %s is not JSON (%s); dropped", msg.topic, exc)
            return
        try:
            handler(msg.topic.removeprefix(TOPIC_ROOT), payload)
        except Exception:  # a bad notification must not stop the bus thread
            log.exception("local bus: handling %s failed", msg.topic)

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
        if self._connected:
            log.info("local bus disconnected: %s", reason)
        self._connected = False
