"""Box configuration: TOML file → validated, typed settings (CONTRACTS §2)."""

from appliance.config.loader import ConfigError, load_config, parse_config
from appliance.config.model import (
    AlarmReceiverConfig,
    BoxConfig,
    BusConfig,
    Config,
    ConsoleConfig,
    FxsPortConfig,
    HubConfig,
    LogConfig,
    RecordingConfig,
    SpanConfig,
    SyncConfig,
)

__all__ = [
    "AlarmReceiverConfig", "BoxConfig", "BusConfig", "Config", "ConfigError", "ConsoleConfig",
    "FxsPortConfig", "HubConfig", "LogConfig", "RecordingConfig", "SpanConfig", "SyncConfig", "load_config",
    "parse_config",
]
