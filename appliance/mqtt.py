"""Building the box's paho-mqtt clients (hub link and local bus) from config URLs."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt


@dataclass(frozen=True)
class MqttEndpoint:
    host: str
    port: int
    tls: bool


def parse_mqtt_url(url: str) -> MqttEndpoint:
    """The one definition of a box MQTT URL; the config loader validates with it."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"{url!r} is not an mqtt:// or mqtts:// URL with a host")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{url!r} has a bad port") from None
    tls = parts.scheme == "mqtts"
    return MqttEndpoint(parts.hostname, port or (8883 if tls else 1883), tls)


def make_client(client_id: str, *, username: str | None = None, ca: Path | None = None,
                cert: Path | None = None, key: Path | None = None, tls: bool = False) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5)
    if username:
        client.username_pw_set(username)
    if tls:
        client.tls_set(ca_certs=str(ca) if ca else None, certfile=str(cert) if cert else None,
                       keyfile=str(key) if key else None, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    return client
