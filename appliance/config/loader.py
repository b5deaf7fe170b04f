"""Load and validate a box config. Every error names the file, the line and the key."""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.config.locate import locate
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
from appliance.mqtt import parse_mqtt_url
from drivers.e1_card.numbering import NumberPlan, NumberRule, NumberRuleError, china_local_plan
from drivers.e1_card.span import parse_span_url

BOX_ID = re.compile(r"^[a-z0-9-]{3,64}$")
USB_URL = re.compile(r"^usb://([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$")
RECEIVER_PROTOCOLS = ("surgard", "ademco685", "dc09", "usb")


class ConfigError(ValueError):
    """A config problem, with where it is: `box.toml:12: alarm.receivers[0].protocol: …`."""

    def __init__(self, message: str, source: str = "<config>", line: int | None = None,
                 key: str | None = None) -> None:
        self.source, self.line, self.key, self.detail = source, line, key, message
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


Check = Callable[[Any], str | None]  # returns an error message or None


@dataclass(frozen=True)
class Key:
    type: type | tuple[type, ...]
    required: bool = False
    default: Any = None
    check: Check | None = None


def parse_usb_url(url: str) -> tuple[int, int]:
    """`usb://VID:PID` → (vid, pid)."""
    match = USB_URL.match(url)
    if not match:
        raise ValueError(f"{url!r} is not usb://VID:PID (4 hex digits each)")
    return int(match.group(1), 16), int(match.group(2), 16)


def _one_of(*choices: Any) -> Check:
    listed = ", ".join(str(c) for c in choices)
    return lambda v: None if v in choices else f"{v!r} is not one of {listed}"


def _mqtt_url(value: str) -> str | None:
    try:
        parse_mqtt_url(value)
    except ValueError as exc:
        return str(exc)
    return None


def _positive(value: float) -> str | None:
    return None if value > 0 else f"must be > 0, got {value}"


def _listen(value: str) -> str | None:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return f"{value!r} is not HOST:PORT"
    return None


def _span_url(value: str) -> str | None:
    try:
        parse_span_url(value)
    except ValueError as exc:
        return str(exc)
    return None


def _non_negative(value: int) -> str | None:
    return None if value >= 0 else f"must be >= 0, got {value}"


NUMBER = (int, float)
SCHEMA: dict[str, dict[str, Key]] = {
    "box": {
        "id": Key(str, required=True,
                  check=lambda v: None if BOX_ID.match(v) else f"{v!r} must match [a-z0-9-]{{3,64}}"),
        "data_dir": Key(str, default="/var/lib/anxin"),
    },
    "hub": {
        "mqtt_url": Key(str, default="mqtt://127.0.0.1:1883", check=_mqtt_url),
        "ca": Key(str), "cert": Key(str), "key": Key(str),
    },
    "bus": {"mqtt_url": Key(str, default="mqtt://127.0.0.1:1883", check=_mqtt_url)},
    "sync": {
        "ack_timeout": Key(NUMBER, default=5.0, check=_positive),
        "ack_timeout_max": Key(NUMBER, default=60.0, check=_positive),
        "batch_max": Key(int, default=100, check=lambda v: None if 1 <= v <= 1000
                         else "must be between 1 and 1000"),
        "poll_interval": Key(NUMBER, default=0.05, check=_positive),
    },
    "console": {"listen": Key(str, default="0.0.0.0:8080", check=_listen)},
    "recording": {
        "keys_file": Key(str), "dir": Key(str),
        "keep_days": Key(int, default=31, check=lambda v: None if v >= 1 else "must be >= 1 (days)"),
        "max_days": Key(int, check=lambda v: None if v >= 1 else "must be >= 1 (days)"),
        "low_free_bytes": Key(int, default=2 * 1024**3, check=_non_negative),
        "target_free_bytes": Key(int, default=4 * 1024**3, check=_non_negative),
        "stop_free_bytes": Key(int, default=512 * 1024**2, check=_non_negative),
    },
    "log": {
        "level": Key(str, default="info", check=_one_of("debug", "info", "warning", "error")),
        "format": Key(str, default="text", check=_one_of("text", "json")),
    },
}
ARRAYS: dict[tuple[str, str], dict[str, Key]] = {
    ("alarm", "receivers"): {
        "name": Key(str, required=True),
        "protocol": Key(str, required=True, check=_one_of(*RECEIVER_PROTOCOLS)),
        "port": Key(str, required=True, check=lambda v: None if v.strip() else "must not be empty"),
        "baudrate": Key(int, default=9600, check=_one_of(1200, 2400, 4800, 9600, 19200, 38400,
                                                          57600, 115200)),
        "heartbeat_interval": Key(NUMBER, default=30.0, check=_positive),
        "repeat_window": Key(NUMBER, default=30.0, check=_positive),
        "test_interval": Key(NUMBER, default=86400.0, check=_positive),
        "test_grace": Key(NUMBER, default=3600.0, check=lambda v: None if v >= 0 else "must be >= 0"),
        "keys_file": Key(str),
        "require_encryption": Key(bool, default=False),
        "poll_interval": Key(NUMBER, check=_positive),
    },
    ("telephony", "spans"): {
        "name": Key(str, required=True),
        "url": Key(str, required=True, check=_span_url),
        # The box is the user side; "network" only when the box itself feeds a PBX.
        "role": Key(str, default="user", check=_one_of("user", "network")),
        # D-channel trace (pcap, LINKTYPE_LINUX_LAPD): like a switch's signalling trace.
        "capture": Key(str),
        # Local area code without the 0 ("29" for Xi'an): the usual Chinese number rules.
        "area_code": Key(str, check=lambda v: None if v.isdigit() and 2 <= len(v) <= 3 and v[0] != "0"
                         else f"{v!r} must be 2 or 3 digits without the leading 0"),
    },
    ("telephony", "number_rules"): {
        "span": Key(str, required=True),
        "direction": Key(str, required=True, check=_one_of("in", "out")),
        "number": Key(str, required=True, check=_one_of("calling", "called")),
        "match": Key(str, required=True),
        "replace": Key(str, required=True),
        "ton": Key(str), "set_ton": Key(str),
    },
    ("telephony", "fxs"): {
        "url": Key(str, required=True),
        "extension": Key(str, required=True,
                         check=lambda v: None if v.isdigit() and 2 <= len(v) <= 8
                         else f"{v!r} must be 2 to 8 digits"),
        "agent": Key(str, check=lambda v: None if v.isdigit() and 1 <= len(v) <= 10
                     else f"{v!r} must be an agent id (工号) of 1 to 10 digits"),
    },
}


class TableValidator:
    """Typed TOML tables with errors that name the file, the line and the key.

    PATHs are relative to PREFIX (where the validated table sits in the file); ERROR is
    the ConfigError subclass raised (the IVR's flows use their own).
    """

    error: type[ConfigError] = ConfigError

    def __init__(self, text: str, source: str, prefix: tuple[str, ...] = ()) -> None:
        self.text, self.source, self.prefix = text, source, prefix

    def fail(self, path: tuple[str | int, ...], message: str) -> ConfigError:
        full = (*self.prefix, *path)
        return self.error(message, self.source, locate(self.text, full), _dotted(full))

    def type_name(self, t: type | tuple[type, ...]) -> str:
        return _type_name(t)

    def got_name(self, value: Any) -> str:
        return type(value).__name__

    def table(self, data: Any, keys: Mapping[str, Key], path: tuple[str | int, ...],
              ignore: Collection[str] = ()) -> dict[str, Any]:
        """DATA checked against KEYS (names in IGNORE are allowed and left to the caller)."""
        if not isinstance(data, dict):
            raise self.fail(path, "must be a table")
        for name in data:
            if name not in keys and name not in ignore:
                hint = difflib.get_close_matches(name, [*keys, *ignore], n=1)
                extra = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise self.fail((*path, name), f"unknown key{extra}")
        out: dict[str, Any] = {}
        for name, key in keys.items():
            if name not in data:
                if key.required:
                    raise self.fail(path, f"missing required key {name!r}")
                out[name] = key.default
                continue
            value = data[name]
            # bool is an int in Python; a flag where a number is meant is still a mistake.
            if isinstance(value, bool) and bool not in _types(key.type):
                raise self.fail((*path, name), f"expected {self.type_name(key.type)}, got boolean")
            if not isinstance(value, key.type):
                raise self.fail((*path, name),
                                f"expected {self.type_name(key.type)}, got {self.got_name(value)}")
            if key.check and (problem := key.check(value)):
                raise self.fail((*path, name), problem)
            out[name] = value
        return out


def _types(t: type | tuple[type, ...]) -> tuple[type, ...]:
    return t if isinstance(t, tuple) else (t,)


def _type_name(t: type | tuple[type, ...]) -> str:
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    return " or ".join(dict.fromkeys(names.get(x, x.__name__) for x in _types(t)))


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def parse_config(text: str, source: str = "<config>", base_dir: Path | None = None) -> Config:
    """Validate TOML TEXT. Relative paths resolve against BASE_DIR (the file's folder)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"at line (\d+)", str(exc))
        raise ConfigError(f"not valid TOML: {exc}", source,
                          int(match.group(1)) if match else None) from exc
    v = TableValidator(text, source)
    groups = {"alarm": ("receivers",), "telephony": ("spans", "fxs", "number_rules")}
    for name in data:
        if name not in SCHEMA and name not in groups and name not in ("ivr", "acd"):
            hint = difflib.get_close_matches(name, [*SCHEMA, *groups], n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise v.fail((name,), f"unknown section{extra}")
    if "box" not in data:
        raise ConfigError("missing required section [box]", source, None)
    sections = {name: v.table(data.get(name, {}), keys, (name,)) for name, keys in SCHEMA.items()}
    arrays: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for group, members in groups.items():
        table = data.get(group, {})
        if not isinstance(table, dict):
            raise v.fail((group,), "must be a table")
        for name in table:
            if name not in members:
                raise v.fail((group, name), f"unknown key (expected one of {', '.join(members)})")
        for member in members:
            items = table.get(member, [])
            if not isinstance(items, list):
                raise v.fail((group, member), f"must be an array of tables ([[{group}.{member}]])")
            arrays[(group, member)] = [
                v.table(item, ARRAYS[(group, member)], (group, member, i))
                for i, item in enumerate(items)
            ]
    receivers = arrays[("alarm", "receivers")]
    seen: set[str] = set()
    for i, rec in enumerate(receivers):
        if rec["name"] in seen:
            raise v.fail(("alarm", "receivers", i, "name"), f"duplicate receiver name {rec['name']!r}")
        seen.add(rec["name"])
        is_ip = rec["protocol"] == "dc09"
        if is_ip and not re.match(r"^(tcp|udp)://[^:/]+:\d+$", rec["port"]):
            raise v.fail(("alarm", "receivers", i, "port"),
                         f"{rec['port']!r}: a dc09 receiver listens on tcp://HOST:PORT or udp://HOST:PORT")
        if rec["protocol"] == "usb" and not USB_URL.match(rec["port"]):
            raise v.fail(("alarm", "receivers", i, "port"),
                         f"{rec['port']!r}: a usb receiver is named usb://VID:PID, e.g. usb://1a86:e010")
        for key in ("keys_file", "poll_interval"):
            if not is_ip and rec[key] is not None:
                raise v.fail(("alarm", "receivers", i, key), "only for protocol = \"dc09\"")
    base = base_dir or Path.cwd()
    plans = _number_plans(v, arrays[("telephony", "spans")], arrays[("telephony", "number_rules")])

    def path_of(value: str | None) -> Path | None:
        return None if value is None else (base / value).resolve()

    box, hub, sync = sections["box"], sections["hub"], sections["sync"]
    rec = sections["recording"]
    if rec["max_days"] is not None and rec["max_days"] < rec["keep_days"]:
        raise v.fail(("recording", "max_days"), f"must be >= recording.keep_days ({rec['keep_days']})")
    if not rec["stop_free_bytes"] < rec["low_free_bytes"] <= rec["target_free_bytes"]:
        raise v.fail(("recording", "low_free_bytes"),
                     "need stop_free_bytes < low_free_bytes <= target_free_bytes")
    ivr = None
    if "ivr" in data:
        from appliance.ivr.flows import parse_ivr

        # Prompt files are checked when pbxd starts (they are generated at install).
        ivr = parse_ivr(data["ivr"], text, source, base_dir=base, check_prompt_files=False)
    acd = None
    if "acd" in data:
        from appliance.acd.model import AcdConfigError, parse_acd

        try:
            acd = parse_acd(data["acd"])
        except AcdConfigError as exc:
            raise v.fail(("acd", *exc.path), exc.detail) from None
        agent_ids = {a.agent_id for a in acd.agents}
        for i, f in enumerate(arrays[("telephony", "fxs")]):
            if f.get("agent") is not None and f["agent"] not in agent_ids:
                known = ", ".join(sorted(agent_ids)) or "none"
                raise v.fail(("telephony", "fxs", i, "agent"),
                             f"no agent {f['agent']!r} in [[acd.agents]] ({known})")
    if hub["mqtt_url"].startswith("mqtts://") and not hub["ca"]:
        raise v.fail(("hub", "mqtt_url"), "mqtts:// needs hub.ca (and cert/key for the box identity)")
    if sync["ack_timeout_max"] < sync["ack_timeout"]:
        raise v.fail(("sync", "ack_timeout_max"), "must be >= sync.ack_timeout")
    return Config(
        box=BoxConfig(id=box["id"], data_dir=path_of(box["data_dir"])),
        hub=HubConfig(mqtt_url=hub["mqtt_url"], ca=path_of(hub["ca"]), cert=path_of(hub["cert"]),
                      key=path_of(hub["key"])),
        bus=BusConfig(**sections["bus"]),
        sync=SyncConfig(**{k: float(x) if k != "batch_max" else x for k, x in sync.items()}),
        receivers=tuple(AlarmReceiverConfig(**{
            **r, **{k: float(r[k]) for k in ("heartbeat_interval", "repeat_window",
                                               "test_interval", "test_grace")},
            "keys_file": path_of(r["keys_file"]),
            "poll_interval": None if r["poll_interval"] is None else float(r["poll_interval"])})
            for r in receivers),
        spans=tuple(SpanConfig(**{**s, "capture": path_of(s["capture"]), "numbering": plans[s["name"]]})
                    for s in arrays[("telephony", "spans")]),
        fxs=tuple(FxsPortConfig(**f) for f in arrays[("telephony", "fxs")]),
        console=ConsoleConfig(**sections["console"]),
        log=LogConfig(**sections["log"]),
        recording=RecordingConfig(**{**rec, "keys_file": path_of(rec["keys_file"]),
                                     "dir": path_of(rec["dir"])}),
        ivr=ivr,
        acd=acd,
        source=Path(source) if source != "<config>" else None,
    )


def _number_plans(v: TableValidator, spans: list[dict[str, Any]],
                  rules: list[dict[str, Any]]) -> dict[str, NumberPlan]:
    """Each span's rules: its own [[telephony.number_rules]] after its area_code defaults."""
    names: set[str] = set()
    for i, span in enumerate(spans):
        if span["name"] in names:
            raise v.fail(("telephony", "spans", i, "name"), f"duplicate span name {span['name']!r}")
        names.add(span["name"])
    own: dict[str, list[NumberRule]] = {name: [] for name in names}
    for i, row in enumerate(rules):
        if row["span"] not in names:
            raise v.fail(("telephony", "number_rules", i, "span"),
                         f"no span named {row['span']!r} (spans: {', '.join(sorted(names)) or 'none'})")
        fields = {k: x for k, x in row.items() if k != "span"}
        try:
            own[row["span"]].append(NumberRule(**fields))
        except NumberRuleError as exc:
            raise v.fail(("telephony", "number_rules", i), str(exc)) from exc
    plans = {}
    for span in spans:
        defaults = china_local_plan(span["area_code"]).rules if span["area_code"] else ()
        # The span's own rules come first: a site-specific exception beats the defaults.
        plans[span["name"]] = NumberPlan((*own[span["name"]], *defaults))
    return plans


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", str(path)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8: {exc}", str(path)) from exc
    return parse_config(text, str(path), path.resolve().parent)
