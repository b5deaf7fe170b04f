"""Caller recognition (来电识别): who is calling, from box.db alone, for pbxd and the agent.

`recognise(conn, number, now)` looks the presented number up in the registry replica
(`elders.phone` / `elders.emergency_phone`, compared in canonical form), the blacklist,
the call records and the box's cases, and returns a frozen `CallerProfile`.

Precedence: **a registered elder wins over the blacklist.** A number that is both an
elder's (or an elder's emergency) phone and on the blacklist is recognised as that
elder — with the blacklist entry attached and a warning logged — because rejecting an
emergency service's own resident is worse than letting a nuisance through. Among
elders, one whose own phone it is wins over one whose emergency phone it is (the caller
*is* the first), then VIP over important over ordinary, then the lower elder_id; the
others sharing the number are listed in `other_elders`.

`recognise` never raises on a call: each lookup that fails (any exception; sqlite3.Error
is the expected one — a locked or damaged box.db) is logged, named in `errors`, and
left empty. If the elder lookup failed, the caller is 'unknown' even when the blacklist
matched: an elder cannot be ruled out, so the call is not refused.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from appliance.callers.blacklist import BlacklistEntry, Moment, match
from appliance.callers.categories import CATEGORIES, LABELS, from_row
from appliance.callers.numbers import normalise, number_forms
from appliance.cases.store import is_case_open

log = logging.getLogger("pbxd.callers")

# The digits of a stored phone; identical to the expression indexed by migration 5.
PHONE_DIGITS = "replace(replace(replace({column}, '-', ''), ' ', ''), '+', '')"
_RANK = {"vip": 0, "important": 1, "elder": 2}
T = TypeVar("T")


@dataclass(frozen=True)
class ElderSummary:
    """What the agent's pop-up shows of the resident."""

    elder_id: str
    name: str
    address: str | None
    emergency_contact: str | None
    notes: str | None
    category: str            # 'elder' | 'vip' | 'important'
    phone: str | None
    emergency_phone: str | None

    def to_body(self) -> dict[str, Any]:
        return {"elder_id": self.elder_id, "name": self.name, "address": self.address,
                "emergency_contact": self.emergency_contact, "notes": self.notes,
                "category": self.category, "phone": self.phone, "emergency_phone": self.emergency_phone}


@dataclass(frozen=True)
class CallSummary:
    """One earlier call from the same number (a row of `calls`)."""

    call_id: str
    started_at: str
    outcome: str
    agent: str | None
    queue: str | None
    talk_s: float | None
    case_id: str | None
    category: str | None

    def to_body(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "started_at": self.started_at, "outcome": self.outcome,
                "agent": self.agent, "queue": self.queue, "talk_s": self.talk_s,
                "case_id": self.case_id, "category": self.category}


@dataclass(frozen=True)
class CallerProfile:
    number: str | None                   # as presented
    normalised: str | None               # canonical form (numbers.normalise); None = no usable number
    category: str = "unknown"            # one of categories.CATEGORIES
    elder: ElderSummary | None = None
    emergency_phone: bool = False        # the number is the elder's registered emergency phone
    blacklist: BlacklistEntry | None = None  # set even when an elder wins (see the module doc)
    history: tuple[CallSummary, ...] = ()    # newest first
    open_cases: tuple[str, ...] = ()     # case ids, newest first
    other_elders: tuple[str, ...] = ()   # further elder_ids registered with this number
    errors: tuple[str, ...] = ()         # lookups that failed (the profile is then partial)

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"caller category {self.category!r} is not one of {', '.join(CATEGORIES)}")

    @property
    def elder_id(self) -> str | None:
        return self.elder.elder_id if self.elder else None

    @property
    def blocked(self) -> str | None:
        """The blacklist action ('reject' / 'announce') pbxd applies, or None to take the call."""
        return self.blacklist.action if self.category == "blacklist" and self.blacklist else None

    def to_body(self) -> dict[str, Any]:
        """JSON-able, for the bus and the agent's pop-up."""
        return {"number": self.number, "normalised": self.normalised, "category": self.category,
                "category_label": LABELS[self.category],
                "elder": self.elder.to_body() if self.elder else None,
                "emergency_phone": self.emergency_phone,
                "blacklist": self.blacklist.to_body() if self.blacklist else None,
                "blocked": self.blocked,
                "history": [call.to_body() for call in self.history],
                "open_cases": list(self.open_cases), "open_case_count": len(self.open_cases),
                "other_elders": list(self.other_elders), "errors": list(self.errors)}


def recognise(conn: sqlite3.Connection, number: str | None, now: Moment, *,
              history: int = 5) -> CallerProfile:
    """Who calls from NUMBER at NOW, with their last HISTORY calls; never raises (module doc)."""
    canonical = normalise(number)
    if canonical is None:
        return CallerProfile(number, None)
    forms = number_forms(canonical)
    errors: list[str] = []

    def step(what: str, lookup: Callable[[], T], failed: T) -> T:
        try:
            return lookup()
        except Exception as exc:  # the call goes on with what is known
            log.error("来电识别失败 (caller recognition failed) %s: %s: %s", number, what, exc)
            errors.append(f"{what}: {exc}")
            return failed

    elders = step("elders", lambda: _elders(conn, forms), None)
    entry = step("blacklist", lambda: match(conn, canonical, now), None)
    calls = step("history", lambda: _history(conn, forms, history), ())
    elder_ids = tuple(e.elder_id for e, _own in elders or ())
    cases = step("cases", lambda: _open_cases(conn, forms, elder_ids), ())

    elder, own = elders[0] if elders else (None, False)
    if elder is not None:
        category = elder.category
        if entry is not None:
            log.warning("号码 %s 在黑名单中，但登记为老人 %s 的电话：按老人接听 "
                        "(blacklisted number is a registered elder's phone: the elder wins)",
                        canonical, elder.elder_id)
    elif entry is not None and elders is not None:
        category = "blacklist"
    else:
        category = "unknown"
    return CallerProfile(number, canonical, category, elder, elder is not None and not own, entry,
                         calls, cases, elder_ids[1:], tuple(errors))


def _elders(conn: sqlite3.Connection, forms: tuple[str, ...]) -> list[tuple[ElderSummary, bool]]:
    """Every elder registered with one of FORMS, best first, each with 'own phone?'."""
    marks = ",".join("?" * len(forms))
    phone, emergency = PHONE_DIGITS.format(column="phone"), PHONE_DIGITS.format(column="emergency_phone")
    rows = conn.execute(
        f"SELECT elder_id, name, address, emergency_contact, notes, category, phone, emergency_phone, "
        f"{phone} IN ({marks}) FROM elders WHERE {phone} IN ({marks}) OR {emergency} IN ({marks})",
        forms * 3).fetchall()
    found = [(ElderSummary(r[0], r[1], r[2], r[3], r[4], from_row(r[5]), r[6], r[7]), bool(r[8]))
             for r in rows]
    found.sort(key=lambda item: (not item[1], _RANK[item[0].category], item[0].elder_id))
    return found


def _history(conn: sqlite3.Connection, forms: tuple[str, ...], limit: int) -> tuple[CallSummary, ...]:
    if limit <= 0:
        return ()
    marks = ",".join("?" * len(forms))
    rows = conn.execute(
        "SELECT call_id, started_at, outcome, agent, queue, talk_s, case_id, category FROM calls "
        f"WHERE caller IN ({marks}) ORDER BY started_at DESC, call_id DESC LIMIT ?",
        (*forms, limit)).fetchall()
    return tuple(CallSummary(*row) for row in rows)


def _open_cases(conn: sqlite3.Connection, forms: tuple[str, ...],
                elder_ids: tuple[str, ...]) -> tuple[str, ...]:
    """Cases created for this number or for its elders that are still open on the box."""
    # Two indexed lookups joined by UNION: SQLite does not OR across partial indexes.
    created = ("SELECT case_id, hlc_wall_ms, hlc_counter FROM case_events WHERE type = 'created' "
               "AND json_valid(body) AND json_extract(body, '$.{key}') IN ({marks})")
    sql = created.format(key="caller", marks=",".join("?" * len(forms)))
    if elder_ids:
        sql += " UNION " + created.format(key="elder_id", marks=",".join("?" * len(elder_ids)))
    rows = conn.execute(sql + " ORDER BY 2 DESC, 3 DESC", (*forms, *elder_ids)).fetchall()
    seen: dict[str, None] = {}
    for case_id, _wall, _counter in rows:
        seen.setdefault(case_id, None)
    return tuple(case_id for case_id in seen if is_case_open(conn, case_id))
