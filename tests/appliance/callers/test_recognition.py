from __future__ import annotations

import json
import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.callers import blacklist
from appliance.callers.recognition import PHONE_DIGITS, CallerProfile, recognise
from appliance.cases.store import append_event, open_case
from appliance.pbx.cdr import CallRecord, stamp, store_call
from appliance.store import open_store

AT = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
NOW = AT.timestamp()


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    return open_store(tmp_path)


def elder(conn: sqlite3.Connection, elder_id: str, name: str, phone: str | None,
          emergency_phone: str | None = None, category: str | None = None) -> None:
    conn.execute("INSERT INTO elders (elder_id, name, phone, address, emergency_contact, emergency_phone, "
                 "notes, category, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                 (elder_id, name, phone, f"{name}的地址", f"{name}的女儿", emergency_phone, "独居", category,
                  "2026-11-01T00:00:00+08:00"))


def call(conn: sqlite3.Connection, call_id: str, caller: str, minutes: float, **fields: object) -> None:
    start = NOW - minutes * 60
    store_call(conn, CallRecord(call_id=call_id, direction="in", started_at=stamp(start),
                                ended_at=stamp(start + 90), outcome=fields.pop("outcome", "agent"),
                                caller=caller, **fields))  # type: ignore[arg-type]


def test_an_elders_own_phone_is_recognised_in_any_presented_form(conn: sqlite3.Connection) -> None:
    elder(conn, "E1", "王秀英", "029-88881234", "13900139000")
    for presented in ("02988881234", "+862988881234", "862988881234", "029 8888 1234"):
        profile = recognise(conn, presented, NOW)
        assert (profile.category, profile.elder_id, profile.emergency_phone) == ("elder", "E1", False)
        assert profile.number == presented and profile.normalised == "02988881234"
    assert profile.elder is not None
    assert (profile.elder.name, profile.elder.address, profile.elder.emergency_contact,
            profile.elder.notes) == ("王秀英", "王秀英的地址", "王秀英的女儿", "独居")
    assert profile.blacklist is None and profile.blocked is None and profile.errors == ()


def test_an_elders_emergency_phone_is_recognised_as_that_elder(conn: sqlite3.Connection) -> None:
    elder(conn, "E1", "王秀英", "029-88881234", "139 0013 9000")
    profile = recognise(conn, "13900139000", NOW)
    assert (profile.category, profile.elder_id, profile.emergency_phone) == ("elder", "E1", True)


def test_vip_and_important_come_from_the_elders_category(conn: sqlite3.Connection) -> None:
    elder(conn, "E1", "王秀英", "13800000001", category="vip")
    elder(conn, "E2", "张建国", "13800000002", category="important")
    elder(conn, "E3", "李桂兰", "13800000003", category="sensitive")  # from a newer hub
    categories = [recognise(conn, f"1380000000{i}", NOW).category for i in (1, 2, 3)]
    assert categories == ["vip", "important", "elder"]


def test_a_number_nobody_registered_is_unknown(conn: sqlite3.Connection) -> None:
    elder(conn, "E1", "王秀英", "13800000001")
    for number in ("13800000009", None, "", "anonymous"):
        profile = recognise(conn, number, NOW)
        assert (profile.category, profile.elder, profile.history, profile.errors) == ("unknown", None, (), ())


def test_a_blacklisted_number_is_blocked_until_its_entry_expires(conn: sqlite3.Connection) -> None:
    blacklist.add(conn, "13700137000", "announce", "推销", "李", AT, expires_at=AT + timedelta(days=1))
    profile = recognise(conn, "+86 137 0013 7000", NOW)
    assert (profile.category, profile.blocked, profile.blacklist.reason) == ("blacklist", "announce", "推销")
    later = recognise(conn, "13700137000", NOW + 86400)
    assert (later.category, later.blocked, later.blacklist) == ("unknown", None, None)


def test_an_elder_wins_over_the_blacklist(conn: sqlite3.Connection, caplog: pytest.LogCaptureFixture) -> None:
    elder(conn, "E1", "王秀英", "029-88881234", "13900139000", category="vip")
    blacklist.add(conn, "13900139000", "reject", "误加", "李", AT)
    with caplog.at_level(logging.WARNING, logger="pbxd.callers"):
        profile = recognise(conn, "13900139000", NOW)
    assert (profile.category, profile.elder_id, profile.emergency_phone) == ("vip", "E1", True)
    assert profile.blacklist is not None and profile.blacklist.action == "reject"
    assert profile.blocked is None  # the call is taken
    assert any("the elder wins" in r.getMessage() and "E1" in r.getMessage() for r in caplog.records)


def test_own_phone_beats_emergency_phone_then_category_then_id(conn: sqlite3.Connection) -> None:
    # A couple on one landline, and a neighbour who gave it as her emergency phone.
    elder(conn, "E3", "赵大妈", "13800000003", "029-88881234", category="vip")
    elder(conn, "E2", "张建国", "029-88881234")
    elder(conn, "E1", "王秀英", "029 88881234", category="important")
    profile = recognise(conn, "02988881234", NOW)
    assert (profile.elder_id, profile.category, profile.emergency_phone) == ("E1", "important", False)
    assert profile.other_elders == ("E2", "E3")
    elder(conn, "E4", "刘奶奶", "029-88881234", category="vip")
    assert recognise(conn, "02988881234", NOW).other_elders == ("E1", "E2", "E3")


def test_history_is_the_last_calls_from_that_number_newest_first(conn: sqlite3.Connection) -> None:
    for i in range(8):
        call(conn, f"c{i}", "13800138000" if i != 3 else "+8613800138000", minutes=100 - i * 10,
             agent=f"agent{i}", queue="general", talk_s=float(i), case_id=f"box:{i}" if i == 7 else None)
    call(conn, "other", "13900139000", minutes=1)
    profile = recognise(conn, "13800138000", NOW)
    assert [c.call_id for c in profile.history] == ["c7", "c6", "c5", "c4", "c3"]
    newest = profile.history[0]
    assert (newest.outcome, newest.agent, newest.queue, newest.talk_s, newest.case_id) == (
        "agent", "agent7", "general", 7.0, "box:7")
    assert newest.started_at > profile.history[1].started_at
    assert len(recognise(conn, "13800138000", NOW, history=20).history) == 8
    assert recognise(conn, "13800138000", NOW, history=0).history == ()
    assert recognise(conn, "13800138000", NOW, history=-1).history == ()  # not SQLite's "no limit"


def test_open_cases_of_the_number_and_of_its_elder(conn: sqlite3.Connection) -> None:
    elder(conn, "E1", "王秀英", "029-88881234", "13900139000")
    by_number = open_case(conn, origin="b", kind="complaint_message", at=AT,
                          body={"caller": "13900139000", "elder_id": None}).case_id
    by_elder = open_case(conn, origin="b", kind="alarm", at=AT + timedelta(minutes=1),
                         body={"elder_id": "E1"}).case_id
    closed = open_case(conn, origin="b", kind="complaint_message", at=AT + timedelta(minutes=2),
                       body={"caller": "13900139000"}).case_id
    append_event(conn, origin="b", case_id=closed, type="closed", at=AT + timedelta(minutes=3), body={})
    reopened = open_case(conn, origin="b", kind="complaint_message", at=AT + timedelta(minutes=4),
                         body={"caller": "+8613900139000", "elder_id": "E1"}).case_id
    append_event(conn, origin="b", case_id=reopened, type="closed", at=AT + timedelta(minutes=5), body={})
    append_event(conn, origin="b", case_id=reopened, type="reopened", at=AT + timedelta(minutes=6), body={})
    open_case(conn, origin="b", kind="complaint_message", at=AT, body={"caller": "13700137000"})
    assert recognise(conn, "13900139000", NOW).open_cases == (reopened, by_elder, by_number)
    unregistered = recognise(conn, "13700137000", NOW)
    assert unregistered.category == "unknown" and len(unregistered.open_cases) == 1


def test_to_body_is_json_for_the_agents_pop_up(conn: sqlite3.Connection) -> None:
    elder(conn, "E1", "王秀英", "029-88881234")
    call(conn, "c1", "02988881234", minutes=5, talk_s=30.5)
    open_case(conn, origin="b", kind="complaint_message", at=AT, body={"caller": "02988881234"})
    body = json.loads(json.dumps(recognise(conn, "02988881234", NOW).to_body(), ensure_ascii=False))
    assert body["category"] == "elder" and body["category_label"] == "老人"
    assert body["elder"]["name"] == "王秀英" and body["elder"]["elder_id"] == "E1"
    assert body["history"][0]["call_id"] == "c1" and body["history"][0]["talk_s"] == 30.5
    assert (body["open_case_count"], body["open_cases"]) == (1, ["b:1"])
    assert body["blacklist"] is None and body["blocked"] is None and body["errors"] == []


def test_a_broken_database_gives_an_unknown_caller_not_an_exception(
        conn: sqlite3.Connection, caplog: pytest.LogCaptureFixture) -> None:
    elder(conn, "E1", "王秀英", "13800138000")
    conn.close()
    with caplog.at_level(logging.ERROR, logger="pbxd.callers"):
        profile = recognise(conn, "13800138000", NOW)
    assert isinstance(profile, CallerProfile)
    assert (profile.category, profile.elder, profile.history, profile.open_cases) == ("unknown", None, (), ())
    assert [e.split(":")[0] for e in profile.errors] == ["elders", "blacklist", "history", "cases"]
    assert any("caller recognition failed" in r.getMessage() for r in caplog.records)


def test_a_failed_lookup_keeps_what_the_others_found(conn: sqlite3.Connection) -> None:
    elder(conn, "E1", "王秀英", "13800138000")
    blacklist.add(conn, "13900139000", "reject", None, "李", AT)
    conn.execute("ALTER TABLE calls RENAME TO calls_gone")  # history fails, the elder is still known
    profile = recognise(conn, "13800138000", NOW)
    assert (profile.category, profile.elder_id, profile.history) == ("elder", "E1", ())
    assert len(profile.errors) == 1 and profile.errors[0].startswith("history:")
    conn.execute("ALTER TABLE elders RENAME TO elders_gone")
    # Without the registry an elder cannot be ruled out: a blacklisted number is not refused.
    profile = recognise(conn, "13900139000", NOW)
    assert (profile.category, profile.blocked) == ("unknown", None) and profile.blacklist is not None


def test_the_lookups_use_the_indexes_of_migration_5(conn: sqlite3.Connection) -> None:
    # Guards PHONE_DIGITS against drifting from the indexed expression.
    phone, emergency = PHONE_DIGITS.format(column="phone"), PHONE_DIGITS.format(column="emergency_phone")
    plan = " ".join(r[3] for r in conn.execute(
        f"EXPLAIN QUERY PLAN SELECT * FROM elders WHERE {phone} IN (?) OR {emergency} IN (?)", ("1", "1")))
    assert "elders_phone_digits" in plan and "elders_emergency_phone_digits" in plan and "SCAN" not in plan
