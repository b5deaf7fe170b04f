"""Committing alarm signals: the signal row and its outbox row in one durable transaction.

alarmd calls these and writes ACK to the receiver only after they return (CONTRACTS §5).
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from appliance.alarm.devices import priority
from appliance.clock import iso
from appliance.registry import Elder
from appliance.store import append, transaction
from drivers.alarm_phone.contact_id import LIFE_SAFETY_CODES, ContactIdMessage


@dataclass(frozen=True)
class SignalFacts:
    """What a receiver told us, independent of its output format."""

    receiver: str
    protocol: str
    raw: bytes
    message: ContactIdMessage | None
    receiver_no: str | None = None
    line: str | None = None
    note: str | None = None
    elder: Elder | None = None  # None for an account nobody registered

    @property
    def recognised(self) -> bool:
        return self.message is not None


@dataclass(frozen=True)
class StoredSignal:
    signal_id: str
    seq: int
    body: dict[str, Any]
    troubles: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class TroubleRequest:
    """Open or close a device trouble (see appliance.alarm.devices)."""

    type: str
    subject: str
    open: bool
    detail: str = ""
    account: str | None = None


def signal_body(facts: SignalFacts, signal_id: str, received_at: datetime) -> dict[str, Any]:
    """The `alarm` record as it goes to the hub (and the local bus)."""
    msg = facts.message
    event = msg.event if msg else None
    return {
        "signal_id": signal_id,
        "received_at": iso(received_at),
        "receiver": facts.receiver,
        "protocol": facts.protocol,
        "receiver_no": facts.receiver_no,
        "line": facts.line,
        "recognised": facts.recognised,
        "account": msg.account if msg else None,
        "message_type": msg.message_type if msg else None,
        "event_code": msg.event_code if msg else None,
        "qualifier": msg.qualifier_name if msg else None,
        "partition": msg.partition if msg else None,
        "zone": msg.zone if msg else None,
        "event_zh": event.zh if event else ("无法识别的信号" if not msg else "未知事件"),
        "event_en": event.en if event else ("Unrecognised signal" if not msg else "Unknown event"),
        "category": event.category if event else ("other" if msg else "unrecognised"),
        "life_safety": bool(msg and msg.event_code in LIFE_SAFETY_CODES and msg.qualifier == 1),
        "raw_hex": facts.raw.hex(),
        "note": facts.note,
        "elder": facts.elder.to_body() if facts.elder else None,
        # An unknown account still raises its alarm; the operator sees it is unregistered.
        "registered": facts.elder is not None,
        "priority": priority(msg.event_code if msg else None, msg.qualifier if msg else None,
                             facts.recognised),
    }


def store_signal(conn: sqlite3.Connection, facts: SignalFacts, received_at: datetime, *,
                 box_id: str = "", troubles: tuple[TroubleRequest, ...] = ()) -> StoredSignal:
    """Commit one signal with its outbox row, and the device troubles it opens or closes,
    in one transaction; durable when this returns."""
    signal_id = uuid.uuid4().hex
    body = signal_body(facts, signal_id, received_at)
    with transaction(conn):
        conn.execute(
            "INSERT INTO alarm_signals (signal_id, received_at, receiver, protocol, raw, recognised,"
            " receiver_no, line, account, message_type, event_code, qualifier, partition, zone,"
            " note, elder_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (signal_id, body["received_at"], facts.receiver, facts.protocol, facts.raw,
             int(facts.recognised), facts.receiver_no, facts.line, body["account"],
             body["message_type"], body["event_code"], body["qualifier"], body["partition"],
             body["zone"], facts.note, facts.elder.elder_id if facts.elder else None),
        )
        conn.execute(
            "INSERT INTO receiver_status (receiver, last_frame_at) VALUES (?, ?) "
            "ON CONFLICT (receiver) DO UPDATE SET last_frame_at = excluded.last_frame_at",
            (facts.receiver, body["received_at"]),
        )
        seq = append(conn, "alarm", "alarm", signal_id, body["received_at"], body)
        changed = tuple(b for t in troubles
                        if (b := _apply_trouble(conn, box_id, t, received_at)) is not None)
    return StoredSignal(signal_id, seq, body, changed)


def count_repeat(conn: sqlite3.Connection, signal_id: str) -> None:
    """A receiver's retransmission after a lost ACK: counted on the original, not stored."""
    with transaction(conn):
        conn.execute("UPDATE alarm_signals SET repeats = repeats + 1 WHERE signal_id = ?",
                     (signal_id,))


def note_heartbeat(conn: sqlite3.Connection, receiver: str, at: datetime) -> None:
    with transaction(conn):
        conn.execute(
            "INSERT INTO receiver_status (receiver, last_frame_at, last_heartbeat_at) "
            "VALUES (?, ?, ?) ON CONFLICT (receiver) DO UPDATE SET "
            "last_frame_at = excluded.last_frame_at, last_heartbeat_at = excluded.last_heartbeat_at",
            (receiver, iso(at), iso(at)),
        )


def note_damaged(conn: sqlite3.Connection, receiver: str) -> None:
    with transaction(conn):
        conn.execute(
            "INSERT INTO receiver_status (receiver, frames_damaged) VALUES (?, 1) "
            "ON CONFLICT (receiver) DO UPDATE SET frames_damaged = frames_damaged + 1",
            (receiver,),
        )


def set_trouble(conn: sqlite3.Connection, *, box_id: str, type: str, subject: str, open: bool,
                at: datetime, detail: str = "", account: str | None = None) -> dict[str, Any] | None:
    """Open or close a device trouble and queue it on the alarm lane.

    Returns the queued body, or None when the trouble was already in that state (a
    restarted daemon re-detecting the same condition must not raise it twice).
    """
    with transaction(conn):
        return _apply_trouble(conn, box_id, TroubleRequest(type, subject, open, detail, account), at)


def _apply_trouble(conn: sqlite3.Connection, box_id: str, req: TroubleRequest,
                   at: datetime) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT trouble_id FROM device_troubles WHERE type = ? AND subject = ? "
        "AND closed_at IS NULL", (req.type, req.subject),
    ).fetchone()
    if req.open == (row is not None):
        return None
    if req.open:
        trouble_id = uuid.uuid4().hex
        conn.execute(
            "INSERT INTO device_troubles (trouble_id, type, subject, opened_at, detail) "
            "VALUES (?,?,?,?,?)", (trouble_id, req.type, req.subject, iso(at), req.detail),
        )
    else:
        trouble_id = row[0]
        conn.execute("UPDATE device_troubles SET closed_at = ? WHERE trouble_id = ?",
                     (iso(at), trouble_id))
    state = "open" if req.open else "closed"
    receiver = req.subject.split(":", 1)[0]
    body = {"trouble_id": trouble_id, "type": req.type, "state": state, "receiver": receiver,
            "subject": req.subject, "account": req.account, "box_id": box_id,
            "detail": req.detail, "at": iso(at)}
    append(conn, "alarm", "device_trouble", f"{trouble_id}:{state}", iso(at), body)
    return body
