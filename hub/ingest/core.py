"""The ingest's decisions, sans I/O: a message (topic, payload, now) in, actions out.

No sockets, no database, no clock here. The worker (worker.py) feeds messages in,
runs the returned `StoreBatch` against the database in one transaction (store.py),
and only after COMMIT publishes the `Ack` that `ack_for` builds from the stored
high-water mark (CONTRACTS §6).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.ingest.projection import alarm_row, call_row

TOPIC_ROOT = "anxin/v1/box"
LANES = ("alarm", "bulk")
BOX_ID_RE = re.compile(r"[a-z0-9-]{3,64}")
STATES = ("online", "offline")

MAX_LIVE_BYTES = 256 * 1024  # a box's wallboard figures; anything bigger is not one

SUBSCRIPTIONS = (
    # Shared: N ingest workers split the batches (and the live figures) between them.
    f"$share/ingest/{TOPIC_ROOT}/+/up/alarm",
    f"$share/ingest/{TOPIC_ROOT}/+/up/bulk",
    f"$share/ingest/{TOPIC_ROOT}/+/live",
    # Not shared: every worker keeps box state; the writes are idempotent.
    f"{TOPIC_ROOT}/+/status",
)


class Action:
    """Base of what the core asks the worker to do with a message."""


@dataclass(frozen=True)
class Record:
    seq: int
    kind: str
    record_id: str
    at: str
    body: Any


@dataclass(frozen=True)
class StoreBatch(Action):
    """Store these records once each, project the alarms, raise the lane's mark."""

    box_id: str
    lane: str
    records: tuple[Record, ...]
    now: datetime
    # seq -> row for the alarms / calls table; written only when its record is new.
    alarms: dict[int, dict[str, Any]] = field(default_factory=dict)
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def first_seq(self) -> int:
        return self.records[0].seq

    @property
    def last_seq(self) -> int:
        return self.records[-1].seq


@dataclass(frozen=True)
class UpdateStatus(Action):
    box_id: str
    state: str
    now: datetime
    # A retained status is replayed by the broker on subscribe: it tells the state,
    # not that the box was seen just now.
    retained: bool


@dataclass(frozen=True)
class UpdateLive(Action):
    """Keep BODY as the box's newest live figures (an older one never replaces it)."""

    box_id: str
    at: str
    body: dict[str, Any]
    now: datetime


@dataclass(frozen=True)
class Reject(Action):
    """Invalid: log it with REASON, store nothing, ack nothing (the box will retry)."""

    topic: str
    reason: str


@dataclass(frozen=True)
class Ignore(Action):
    topic: str
    reason: str


@dataclass(frozen=True)
class Ack:
    topic: str
    payload: bytes
    qos: int = 1


def ack_for(box_id: str, lane: str, upto: int) -> Ack:
    """The ack for a committed batch: the lane's stored high-water mark, so acks never
    go backwards even when an old batch is delivered again."""
    return Ack(f"{TOPIC_ROOT}/{box_id}/ack/{lane}",
               json.dumps({"upto": upto}, separators=(",", ":")).encode())


class _Invalid(Exception):
    pass


def decide(topic: str, payload: bytes, now: datetime, *, retained: bool = False) -> Action:
    """What to do with one MQTT message. Never raises on bad input: returns Reject."""
    parts = topic.split("/")
    if len(parts) < 5 or "/".join(parts[:3]) != TOPIC_ROOT:
        return Reject(topic, "topic is not under anxin/v1/box/")
    box_id, rest = parts[3], parts[4:]
    if not BOX_ID_RE.fullmatch(box_id):
        return Reject(topic, f"box id {box_id!r} is not [a-z0-9-]{{3,64}}")
    try:
        if rest == ["status"]:
            return _status(box_id, _json_object(payload), now, retained)
        if rest == ["live"]:
            if len(payload) > MAX_LIVE_BYTES:
                raise _Invalid(f"live figures of {len(payload)} bytes (at most {MAX_LIVE_BYTES})")
            return _live(box_id, _json_object(payload), now)
        if len(rest) == 2 and rest[0] == "up":
            if rest[1] == "pull":
                return Ignore(topic, "pull requests are not served yet")
            if rest[1] not in LANES:
                return Reject(topic, f"unknown lane {rest[1]!r}")
            return _batch(box_id, rest[1], _json_object(payload), now)
    except _Invalid as exc:
        return Reject(topic, str(exc))
    return Ignore(topic, "not an ingest topic")


def _json_object(payload: bytes) -> dict[str, Any]:
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Invalid(f"payload is not UTF-8 JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _Invalid("payload is not a JSON object")
    return data


def _status(box_id: str, data: dict[str, Any], now: datetime, retained: bool) -> UpdateStatus:
    state = data.get("state")
    if state not in STATES:
        raise _Invalid(f"status state must be one of {STATES}, got {state!r}")
    return UpdateStatus(box_id, state, now, retained)


def _live(box_id: str, data: dict[str, Any], now: datetime) -> UpdateLive:
    if data.get("box_id") != box_id:
        raise _Invalid(f"payload box_id {data.get('box_id')!r} != topic box id {box_id!r}")
    at = data.get("at")
    if not isinstance(at, str) or not 1 <= len(at) <= 64:
        raise _Invalid("live.at must be a string of 1-64 characters")
    for name in ("calls_waiting", "emergency_waiting", "trunks_up", "trunks_total"):
        value = data.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _Invalid(f"live.{name} must be a non-negative integer, got {value!r}")
    wait = data.get("longest_wait_s")
    if not isinstance(wait, int | float) or isinstance(wait, bool) or wait < 0:
        raise _Invalid(f"live.longest_wait_s must be a non-negative number, got {wait!r}")
    by_state = data.get("agents_by_state")
    if not isinstance(by_state, dict) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in by_state.values()):
        raise _Invalid("live.agents_by_state must map states to non-negative integers")
    for name in ("agents", "waiting", "trunks"):
        rows = data.get(name)
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise _Invalid(f"live.{name} must be a list of objects")
    return UpdateLive(box_id, at, data, now)


def _batch(box_id: str, lane: str, data: dict[str, Any], now: datetime) -> StoreBatch:
    if data.get("box_id") != box_id:
        raise _Invalid(f"payload box_id {data.get('box_id')!r} != topic box id {box_id!r}")
    if data.get("lane") != lane:
        raise _Invalid(f"payload lane {data.get('lane')!r} != topic lane {lane!r}")
    batch = data.get("batch")
    if not isinstance(batch, list) or not batch:
        raise _Invalid("batch must be a non-empty list")
    records = tuple(_record(i, item) for i, item in enumerate(batch))
    for before, after in zip(records, records[1:], strict=False):
        if after.seq <= before.seq:
            raise _Invalid(f"seqs not strictly increasing: {before.seq} then {after.seq}")
    projected: dict[str, dict[int, dict[str, Any]]] = {"alarm": {}, "call": {}}
    warnings: list[str] = []
    for rec in records:
        project = PROJECTIONS.get(rec.kind)
        if project is None:
            continue  # other kinds are kept in records only, for now
        row, problem = project(box_id, lane, rec.seq, rec.record_id, rec.at, rec.body, now)
        if row is not None:
            projected[rec.kind][rec.seq] = row
        if problem:
            # Stored in records anyway: a malformed record must not block the lane.
            warnings.append(f"seq {rec.seq}: {problem}")
    return StoreBatch(box_id, lane, records, now, projected["alarm"], projected["call"], tuple(warnings))


PROJECTIONS = {"alarm": alarm_row, "call": call_row}


def _record(index: int, item: Any) -> Record:
    if not isinstance(item, dict):
        raise _Invalid(f"batch[{index}] is not an object")
    seq = item.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise _Invalid(f"batch[{index}].seq must be a non-negative integer, got {seq!r}")
    fields = {}
    for name, limit in (("kind", 64), ("id", 128), ("at", 64)):
        value = item.get(name)
        if not isinstance(value, str) or not value or len(value) > limit:
            raise _Invalid(f"batch[{index}].{name} must be a string of 1-{limit} characters")
        fields[name] = value
    return Record(seq, fields["kind"], fields["id"], fields["at"], item.get("body"))
