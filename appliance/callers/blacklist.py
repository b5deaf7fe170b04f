"""The blacklist (骚扰电话): numbers whose calls the box rejects or answers with an announcement.

Supervisors add and remove numbers on the box (`anxin-box blacklist …`); each change
commits in one transaction with its outbox record (bulk lane, kind `blacklist`), so the
hub learns of it. Entries the hub sends (`apply_from_hub`) are stored with source 'hub'
and queue nothing: the hub already has them.

Numbers are stored in the canonical form of `numbers.normalise`, so ``+86 138-0013-8000``
typed by a supervisor matches ``13800138000`` presented on the E1. An entry past its
`expires_at` no longer matches (it stays listed until removed). A blocked call is logged
as an ordinary call record (`calls`, category 'blacklist'), which is what `hits` counts.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from appliance.callers.numbers import normalise, number_forms
from appliance.clock import stored
from appliance.store import append, joined_transaction

ACTIONS = ("reject", "announce")
SOURCES = ("box", "hub")
MIN_DIGITS, MAX_DIGITS = 5, 20  # below 5 only service numbers (110, 120…): never blocked
MAX_REASON = 200

Moment = datetime | float  # an aware datetime, or epoch seconds (the call path's `now`)


class BlacklistError(ValueError):
    """A bad blacklist change; `field` names the argument or body key at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class BlacklistEntry:
    number: str              # canonical form
    action: str              # 'reject' | 'announce'
    reason: str | None
    added_by: str
    added_at: str            # ISO 8601, Asia/Shanghai
    expires_at: str | None
    source: str              # 'box' | 'hub'

    def expired(self, now: Moment) -> bool:
        return self.expires_at is not None and self.expires_at <= _stamp(now, "now")

    def to_body(self) -> dict[str, Any]:
        return {"number": self.number, "action": self.action, "reason": self.reason,
                "added_by": self.added_by, "added_at": self.added_at,
                "expires_at": self.expires_at, "source": self.source}


_COLUMNS = "number, action, reason, added_by, added_at, expires_at, source"


def check_number(number: str | None) -> str:
    """NUMBER's canonical form, or BlacklistError('number') if it cannot be blocked."""
    canonical = normalise(number)
    if canonical is None:
        raise BlacklistError("number", f"{number!r} 不是电话号码 (not a telephone number)")
    if not MIN_DIGITS <= len(canonical) <= MAX_DIGITS:
        raise BlacklistError("number", f"{number!r}: 号码须为 {MIN_DIGITS}–{MAX_DIGITS} 位 "
                                       f"(must have {MIN_DIGITS} to {MAX_DIGITS} digits)")
    return canonical


def add(conn: sqlite3.Connection, number: str, action: str, reason: str | None, by: str,
        at: Moment, expires_at: Moment | None = None) -> BlacklistEntry:
    """Put NUMBER on the blacklist (or change its entry) and queue the change for the hub."""
    entry = _entry(number, action, reason, by, at, expires_at, "box")
    with joined_transaction(conn):
        _upsert(conn, entry)
        append(conn, "bulk", "blacklist", entry.number, entry.added_at, {"op": "add", **entry.to_body()})
    return entry


def remove(conn: sqlite3.Connection, number: str, by: str, at: Moment) -> BlacklistEntry:
    """Take NUMBER off the blacklist and queue the change; returns the entry removed."""
    canonical = check_number(number)
    by = _who(by, "by")
    removed_at = _stamp(at, "at")
    with joined_transaction(conn):
        entry = _get(conn, canonical)
        if entry is None:
            raise BlacklistError("number", f"{canonical} 不在黑名单中 (not on the blacklist)")
        conn.execute("DELETE FROM blacklist WHERE number = ?", (canonical,))
        append(conn, "bulk", "blacklist", canonical, removed_at,
               {"op": "remove", "number": canonical, "removed_by": by, "removed_at": removed_at,
                "entry": entry.to_body()})
    return entry


def entries(conn: sqlite3.Connection) -> list[BlacklistEntry]:
    """Every entry, expired ones included, newest first."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM blacklist ORDER BY added_at DESC, number").fetchall()
    return [BlacklistEntry(*row) for row in rows]


def match(conn: sqlite3.Connection, number: str | None, now: Moment) -> BlacklistEntry | None:
    """The unexpired entry for NUMBER (exact match of the canonical form), or None.

    Raises sqlite3.Error: the call path asks through `recognition.recognise`, which catches it."""
    canonical = normalise(number)
    if canonical is None:
        return None
    entry = _get(conn, canonical)
    if entry is None or entry.expired(now):
        return None
    return entry


def hits(conn: sqlite3.Connection, number: str) -> int:
    """How many calls from NUMBER the box logged as blacklisted (CDRs, category 'blacklist')."""
    forms = number_forms(check_number(number))
    marks = ",".join("?" * len(forms))
    return conn.execute(f"SELECT COUNT(*) FROM calls WHERE caller IN ({marks}) AND category = 'blacklist'",
                        forms).fetchone()[0]


def apply_from_hub(conn: sqlite3.Connection, body: dict[str, Any]) -> BlacklistEntry | None:
    """One blacklist change from the hub's `…/down` (kind 'blacklist'); joins the caller's
    transaction. BODY is an entry (`number`, `action`, `reason`, `added_by`, `added_at`,
    `expires_at`) or `{"number": …, "deleted": true}`. Queues nothing. Returns the entry
    stored, or None for a deletion."""
    if not isinstance(body, dict):
        raise BlacklistError("body", "must be a JSON object")
    canonical = check_number(body.get("number"))
    with joined_transaction(conn):
        if body.get("deleted") is True:
            conn.execute("DELETE FROM blacklist WHERE number = ?", (canonical,))
            return None
        entry = _entry(canonical, body.get("action", "reject"), body.get("reason"),
                       body.get("added_by") or "hub", _required(body, "added_at"), body.get("expires_at"),
                       "hub")
        _upsert(conn, entry)
    return entry


# -- internals -----------------------------------------------------------------------------------
def _entry(number: str, action: str, reason: str | None, by: str, at: Moment | str,
           expires_at: Moment | str | None, source: str) -> BlacklistEntry:
    canonical = check_number(number)
    if action not in ACTIONS:
        raise BlacklistError("action", f"{action!r} 不是 {' / '.join(ACTIONS)} 之一 "
                                       f"(must be one of {', '.join(ACTIONS)})")
    if reason is not None and not isinstance(reason, str):
        raise BlacklistError("reason", "must be text")
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > MAX_REASON:
        raise BlacklistError("reason", f"最多 {MAX_REASON} 字 (at most {MAX_REASON} characters)")
    added_at = _stamp(at, "at" if source == "box" else "added_at")
    until = None if expires_at is None else _stamp(expires_at, "expires_at")
    if until is not None and until <= added_at:
        raise BlacklistError("expires_at", f"{until} 不晚于添加时间 {added_at} "
                                           "(must be after the time added)")
    return BlacklistEntry(canonical, action, reason, _who(by, "by" if source == "box" else "added_by"),
                          added_at, until, source)


def _upsert(conn: sqlite3.Connection, entry: BlacklistEntry) -> None:
    conn.execute(
        f"INSERT INTO blacklist ({_COLUMNS}) VALUES (?,?,?,?,?,?,?) ON CONFLICT (number) DO UPDATE SET "
        "action = excluded.action, reason = excluded.reason, added_by = excluded.added_by, "
        "added_at = excluded.added_at, expires_at = excluded.expires_at, source = excluded.source",
        (entry.number, entry.action, entry.reason, entry.added_by, entry.added_at, entry.expires_at,
         entry.source))


def _get(conn: sqlite3.Connection, canonical: str) -> BlacklistEntry | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM blacklist WHERE number = ?", (canonical,)).fetchone()
    return BlacklistEntry(*row) if row else None


def _who(by: str, field: str) -> str:
    if not isinstance(by, str) or not by.strip():
        raise BlacklistError(field, "须填写操作人 (who makes the change must be given)")
    return by.strip()


def _required(body: dict[str, Any], key: str) -> Any:
    if body.get(key) is None:
        raise BlacklistError(key, "missing")
    return body[key]


def _stamp(value: Moment | str, field: str) -> str:
    """VALUE in the stored form (ISO 8601, Asia/Shanghai: text order is time order)."""
    if isinstance(value, str):  # from the hub
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise BlacklistError(field, f"{value!r} is not an ISO 8601 time") from None
    if isinstance(value, bool) or not isinstance(value, (datetime, int, float)):
        raise BlacklistError(field, f"{value!r} is not a time")
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(value, UTC)
    if value.tzinfo is None:
        raise BlacklistError(field, "must carry a timezone")
    return stored(value)
