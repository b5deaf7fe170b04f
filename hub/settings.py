"""Where the hub keeps its data and how it reaches the database and the broker.

Everything comes from the environment (CONTRACTS §1) so that `serve` and `ingest`,
two separate processes, agree on one database without sharing a config file.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

# A relative default keeps a developer's checkout self-contained; production units set
# ANXIN_HUB_DATA_DIR=/var/lib/anxin-hub (docs/hub.md).
DEFAULT_DATA_DIR = "./hub-data"
DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"
SECRET_KEY_FILE = "secret_key"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    mqtt_url: str


def from_env(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("ANXIN_HUB_DATA_DIR") or DEFAULT_DATA_DIR).resolve()
    database_url = env.get("ANXIN_HUB_DATABASE_URL") or sqlite_url(data_dir / "hub.db")
    mqtt_url = env.get("ANXIN_HUB_MQTT_URL") or DEFAULT_MQTT_URL
    return Settings(data_dir, database_url, mqtt_url)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def ensure_sqlite_dir(database_url: str) -> None:
    """Create the directory of a file-based SQLite URL (SQLite won't create it)."""
    prefix = "sqlite:///"
    if database_url.startswith(prefix):
        path = database_url[len(prefix):].split("?", 1)[0]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


def load_secret_key(data_dir: Path, environ: dict[str, str] | None = None) -> str:
    """The Flask secret key: env first, else a file made once in the data dir (0600).

    Stored rather than regenerated so sessions survive restarts and several web
    workers sign cookies alike; never in the repository.
    """
    env = os.environ if environ is None else environ
    if env.get("ANXIN_HUB_SECRET_KEY"):
        return env["ANXIN_HUB_SECRET_KEY"]
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_KEY_FILE
    try:
        # O_EXCL: when two processes start together, exactly one writes the key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key + "\n")
    return key


@dataclass(frozen=True)
class MqttAddress:
    host: str
    port: int
    tls: bool


def parse_mqtt_url(url: str) -> MqttAddress:
    """`mqtt://host:port` or `mqtts://host:port` (TLS files are a later concern)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"ANXIN_HUB_MQTT_URL: expected mqtt://HOST[:PORT], got {url!r}")
    tls = parts.scheme == "mqtts"
    return MqttAddress(parts.hostname, parts.port or (8883 if tls else 1883), tls)
