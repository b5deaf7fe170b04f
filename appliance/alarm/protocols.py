"""Which stream parser reads which receiver's serial output (config `protocol`).

Every serial parser is sans-I/O with `receive_data` / `next_event` and yields the same
event types (Signal, Heartbeat, Unrecognised, Damaged), so the receiver worker treats
all of them alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drivers.alarm_phone import ademco685, surgard

SERIAL_PARSERS: dict[str, Callable[[], Any]] = {
    "surgard": surgard.SurGardParser,
    "ademco685": ademco685.Ademco685Parser,
}


def serial_parser(protocol: str) -> Any:
    try:
        return SERIAL_PARSERS[protocol]()
    except KeyError:
        supported = ", ".join(sorted(SERIAL_PARSERS))
        raise ValueError(f"protocol {protocol!r} is not a serial receiver protocol this version "
                         f"reads (supported: {supported})") from None
