"""Typed box settings. Defaults here are the embedded defaults of a single box."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.e1_card.numbering import NumberPlan


@dataclass(frozen=True)
class BoxConfig:
    id: str
    data_dir: Path = Path("/var/lib/anxin")


@dataclass(frozen=True)
class HubConfig:
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None


@dataclass(frozen=True)
class BusConfig:
    mqtt_url: str = "mqtt://127.0.0.1:1883"


@dataclass(frozen=True)
class SyncConfig:
    # First resend of an unacknowledged batch; doubles up to ack_timeout_max.
    ack_timeout: float = 5.0
    ack_timeout_max: float = 60.0
    batch_max: int = 100
    poll_interval: float = 0.05


@dataclass(frozen=True)
class AlarmReceiverConfig:
    name: str
    protocol: str
    port: str
    baudrate: int = 9600
    # Sur-Gard receivers send a heartbeat every 30 s by default; two missed → link trouble.
    heartbeat_interval: float = 30.0
    # An exact repeat of the last frame within this window is a retransmission after a lost
    # ACK: acknowledged again, not stored twice.
    repeat_window: float = 30.0
    # Residents' devices send a periodic test (602/603), daily by default; one that is
    # later than interval + grace raises "fail to check in" for that resident.
    test_interval: float = 86400.0
    test_grace: float = 3600.0
    # DC-09 only: account keys live in their own file, issued at provisioning (secrets are
    # never in the config or the image); clear-text messages are refused when required.
    keys_file: Path | None = None
    require_encryption: bool = False
    # DC-09 only: seconds within which each keyed account must be heard (NULL polls).
    poll_interval: float | None = None


@dataclass(frozen=True)
class SpanConfig:
    name: str
    url: str
    role: str = "user"
    capture: Path | None = None       # D-channel pcap; None = off (switch on by command too)
    area_code: str | None = None
    numbering: NumberPlan = field(default_factory=NumberPlan)


@dataclass(frozen=True)
class FxsPortConfig:
    url: str
    extension: str
    # The agent (工号) whose desk phone this is: logged in on it when pbxd starts. Without
    # it, an agent logs in from the phone with a feature code (docs/acd.md).
    agent: str | None = None


@dataclass(frozen=True)
class RecordingConfig:
    # The per-box key file is issued at provisioning (0600); never beside the recordings.
    keys_file: Path | None = None
    dir: Path | None = None  # default DATA_DIR/recordings
    keep_days: int = 31
    max_days: int | None = None
    low_free_bytes: int = 2 * 1024**3
    target_free_bytes: int = 4 * 1024**3
    stop_free_bytes: int = 512 * 1024**2


@dataclass(frozen=True)
class ConsoleConfig:
    listen: str = "0.0.0.0:8080"


@dataclass(frozen=True)
class LogConfig:
    level: str = "info"
    format: str = "text"


@dataclass(frozen=True)
class Config:
    box: BoxConfig
    hub: HubConfig = field(default_factory=HubConfig)
    bus: BusConfig = field(default_factory=BusConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    receivers: tuple[AlarmReceiverConfig, ...] = ()
    spans: tuple[SpanConfig, ...] = ()
    fxs: tuple[FxsPortConfig, ...] = ()
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    log: LogConfig = field(default_factory=LogConfig)
    recording: RecordingConfig = field(default_factory=RecordingConfig)
    ivr: Any = None  # appliance.ivr.flows.IvrConfig when [ivr] is given; the embedded default otherwise
    acd: Any = None  # appliance.acd.model.AcdConfig when [acd] is given; pbxd's default otherwise
    source: Path | None = None

    @property
    def db_path(self) -> Path:
        return self.box.data_dir / "box.db"
