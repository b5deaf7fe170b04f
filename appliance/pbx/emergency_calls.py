"""Emergency phones that call in (一键通 呼入): which calls are alarms, and their alarm records.

A one-button phone in an elder's home dials the centre's emergency line when pressed;
some also send Contact ID in-band before the voice path opens (drivers/alarm_phone/inband.py).
Such a call is an alarm first and a call second:

- **Which calls**: a call to one of ``[acd] emergency_numbers`` (the dedicated line), or a
  call from a number registered as an elder's emergency phone — an ``alarm_devices`` row
  with ``receiver = "trunk"`` and ``line`` = the phone's number (its ``account`` is the
  Contact ID account the phone reports in-band, when it does).
- **Before the call is answered** pbxd commits an alarm signal on the ``alarm`` lane
  (appliance/alarm/intake.py's ``store_signal``, the same record a serial receiver's
  signal makes): event 101 紧急求助 (personal emergency) from that account, protocol
  ``emergency_call``, the caller and called numbers in the note. The hub opens its case
  from it like from any alarm, and the console's pop-up (`alarm/new` on the local bus)
  shows the elder's file.
- **In-band Contact ID** messages received on the call are stored one by one as signals
  of protocol ``contact_id_inband`` (receiver ``trunk:SPAN``, line = the caller's number),
  each committed before its kissoff is sent — the same rule as ACK on the serial link.
- Then the voice path opens and the call goes to the emergency queue (ring-all).

Pure decisions here (``classify``, ``call_facts``, ``inband_facts``); ``store_call_alarm``
and ``store_inband`` commit, on the caller's connection.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from appliance.alarm.intake import SignalFacts, StoredSignal, store_signal
from appliance.registry import Elder
from drivers.alarm_phone.contact_id import ContactIdError, ContactIdMessage

log = logging.getLogger("anxin.pbx.emergency")

TRUNK_RECEIVER = "trunk"          # alarm_devices.receiver of phones that call in
CALL_PROTOCOL = "emergency_call"
INBAND_PROTOCOL = "contact_id_inband"
PERSONAL_EMERGENCY = "101"        # Contact ID 101 紧急求助: what pressing the button means
UNKNOWN_ACCOUNT = "0000"

_ELDER_COLUMNS = "e.elder_id, e.name, e.phone, e.address, e.emergency_contact, e.emergency_phone"


@dataclass(frozen=True)
class EmergencyCall:
    """Why a call is an alarm, and whose."""

    reason: str                  # "emergency_number" | "emergency_phone"
    caller: str | None
    called: str | None
    account: str                 # the device's account, or one made from the caller's number
    elder: Elder | None
    registered: bool             # the caller is a registered emergency phone

    @property
    def reason_zh(self) -> str:
        return "拨打紧急号码" if self.reason == "emergency_number" else "一键通电话呼入"


def _digits(number: str | None) -> str:
    return re.sub(r"\D", "", number or "")


def account_for(caller: str | None) -> str:
    """An alarm account for an unregistered caller: its last 10 digits (4 at least), else 0000."""
    digits = _digits(caller)
    return digits[-10:] if len(digits) >= 4 else UNKNOWN_ACCOUNT


def registered_phone(conn: sqlite3.Connection, caller: str | None) -> tuple[str, Elder] | None:
    """The (account, elder) of CALLER's registered emergency phone, or None."""
    if not caller:
        return None
    row = conn.execute(
        f"SELECT d.account, {_ELDER_COLUMNS} FROM alarm_devices d JOIN elders e USING (elder_id) "
        "WHERE d.receiver = ? AND d.line = ? LIMIT 1", (TRUNK_RECEIVER, caller)).fetchone()
    return (row[0], Elder(*row[1:])) if row else None


def elder_by_phone(conn: sqlite3.Connection, caller: str | None) -> Elder | None:
    """The elder whose own phone CALLER is (an elder dialling the emergency line from home)."""
    if not caller:
        return None
    row = conn.execute(f"SELECT {_ELDER_COLUMNS} FROM elders e WHERE e.phone = ? LIMIT 1",
                       (caller,)).fetchone()
    return Elder(*row) if row else None


def classify(conn: sqlite3.Connection, caller: str | None, called: str | None,
             emergency_numbers: tuple[str, ...]) -> EmergencyCall | None:
    """The call's alarm, or None for an ordinary call. A registry that cannot be read makes
    a call to the emergency line an alarm all the same (from an unknown elder)."""
    try:
        device = registered_phone(conn, caller)
    except sqlite3.Error as exc:
        log.error("紧急电话识别失败 (registry unreadable) %s: %s", caller, exc)
        device = None
    to_line = bool(called) and _digits(called) in {_digits(n) for n in emergency_numbers}
    if device is None and not to_line:
        return None
    if device is not None:
        account, elder = device
    else:
        account = account_for(caller)
        try:
            elder = elder_by_phone(conn, caller)
        except sqlite3.Error as exc:
            log.error("来电识别失败 %s: %s", caller, exc)
            elder = None
    return EmergencyCall("emergency_phone" if device is not None else "emergency_number",
                         caller, called, account, elder, device is not None)


def call_facts(call: EmergencyCall, *, span: str) -> SignalFacts:
    """The alarm signal a call-in emergency is: 101 new event from the call's account."""
    message = ContactIdMessage(call.account, "18", 1, PERSONAL_EMERGENCY)
    note = f"{call.reason_zh}: {call.caller or '无主叫号码'} → {call.called or '?'}"
    raw = f"CALL {call.caller or '-'} {call.called or '-'}".encode()
    return SignalFacts(receiver=f"{TRUNK_RECEIVER}:{span}", protocol=CALL_PROTOCOL, raw=raw,
                       message=message, line=call.caller, note=note, elder=call.elder)


def inband_facts(digits: str, message: ContactIdMessage | None, call: EmergencyCall, *,
                 span: str, elder: Elder | None) -> SignalFacts:
    """A Contact ID message received in-band on CALL (checked: MESSAGE is its decoding)."""
    return SignalFacts(receiver=f"{TRUNK_RECEIVER}:{span}", protocol=INBAND_PROTOCOL,
                       raw=digits.encode(), message=message, line=call.caller,
                       note=f"{call.reason_zh} (带内 Contact ID)", elder=elder)


def store_call_alarm(conn: sqlite3.Connection, call: EmergencyCall, *, span: str, at: datetime,
                     box_id: str) -> StoredSignal:
    """Commit the call's alarm on the alarm lane; durable when this returns."""
    return store_signal(conn, call_facts(call, span=span), at, box_id=box_id)


def store_inband(conn: sqlite3.Connection, digits: str, message: ContactIdMessage, call: EmergencyCall, *,
                 span: str, at: datetime, box_id: str) -> StoredSignal:
    """Commit one in-band message; its account's own registration names the elder, if any."""
    elder = call.elder
    try:
        row = conn.execute(
            f"SELECT {_ELDER_COLUMNS} FROM alarm_devices d JOIN elders e USING (elder_id) "
            "WHERE d.account = ? AND d.receiver IN (?, '') ORDER BY d.receiver = '', d.line != ? LIMIT 1",
            (message.account.upper(), TRUNK_RECEIVER, call.caller or "")).fetchone()
        if row is not None:
            elder = Elder(*row)
    except sqlite3.Error as exc:
        log.error("带内报警账号查询失败 %s: %s", message.account, exc)
    return store_signal(conn, inband_facts(digits, message, call, span=span, elder=elder), at, box_id=box_id)


__all__ = ["CALL_PROTOCOL", "INBAND_PROTOCOL", "ContactIdError", "EmergencyCall", "account_for",
           "call_facts", "classify", "inband_facts", "store_call_alarm", "store_inband"]
