"""The local bus: best-effort notifications between the box's daemons (MQTT on 127.0.0.1).

Nothing on the alarm or call path waits for it (CONTRACTS §2): publishing while the
local broker is down drops the notification, and consumers catch up from box.db.
"""

from __future__ import annotations

import json
import logging
import os
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
        self._connected = False
        self._endpoint = endpoint

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

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
        self._connected = not reason.is_failure
        log.info("local bus %s", "connected" if self._connected else f"refused: {reason}")

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
        if self._connected:
            log.info("local bus disconnected: %s", reason)
        self._connected = False
