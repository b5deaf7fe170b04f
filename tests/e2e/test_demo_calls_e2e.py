"""`anxin-demo`'s calls: the carrier calls the centre, the IVR answers, an agent's phone takes it.

The first test runs the demo as a technician does (real hub, Mosquitto, pbxd, telco and
handset processes) and checks what the box wrote in box.db. The second runs one demo box
in the `district` fixture with the demo's own call shell and script, placing an elder's
one-button phone calling in, and follows its alarms to the hub. The others drive the demo's
sans-I/O CallScript with the events the simulators would send, so the after-hours path
(a message) is checked at any time of day, and so is what happens when the box does not.
"""

from __future__ import annotations

import os
import random
import re
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from appliance.pbx.emergency_calls import classify
from appliance.registry import import_csv
from appliance.store import open_store
from drivers.alarm_phone.contact_id import decode_dtmf
from provisioning.demo import (
    CENTRE_NUMBER,
    DTMF,
    EMERGENCY_NUMBER,
    BoxCalls,
    CallScript,
    Say,
    Timing,
    ToPhone,
    ToTelco,
    add_demo_box,
    demo_emergency_phones,
    random_caller,
    write_registry,
)
from provisioning.district import District


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_demo_call_reaches_an_agent_and_the_box_records_it(tmp_path: Path) -> None:
    # One call (the next would come after the end), long enough for its whole script.
    done = subprocess.run(
        [sys.executable, "-m", "provisioning.demo", "--workdir", str(tmp_path), "--duration", "42",
         "--interval", "5", "--call-interval", "100", "--seed", "11"],
        capture_output=True, text=True, timeout=100, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "坐席话机 agents' phones: 8001, 8002 已接通 connected" in out, out
    placed = re.search(r"\] c1 (\d{11,12}) 来电 ", out)
    assert placed, out
    number = placed.group(1)
    answered = re.search(rf"c1 {number} → 坐席 (800[12]) 接听", out)
    assert answered, out
    assert f"c1 {number}: 主叫评价 1" in out and f"c1 {number}: 通话结束" in out, out
    summary = re.search(r"(\d+) placed 呼入, (\d+) answered by agents .* (\d+) call records in box\.db",
                        out)
    assert summary and summary.group(1) == "1" and summary.group(2) == "1", out
    assert summary.group(3) == "1", out

    data = tmp_path / "boxes" / "demo-box-001"
    db = sqlite3.connect(data / "box.db")
    db.row_factory = sqlite3.Row
    call = db.execute("SELECT * FROM calls").fetchone()
    assert (call["caller"], call["called"], call["outcome"], call["queue"]) == \
        (number, "12349", "agent", "general")
    extension = answered.group(1)
    # The agent is named by its id (= the extension: each desk phone is an agent) or its port.
    assert call["agent"] == extension or call["agent"].endswith(f"/fxs{extension[-1]}")
    assert (call["survey_score"], call["survey_label"], call["ended_by"]) == (1, "满意", "box")
    assert call["talk_s"] > 2.0
    rec = db.execute("SELECT * FROM recordings WHERE recording_id = ?", (call["recording_id"],)).fetchone()
    assert rec["state"] == "complete" and rec["duration_s"] > 10.0
    keys = tmp_path / "secrets" / "demo-box-001" / "recording.keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600 and not keys.is_relative_to(data)


def wait_for(check: Callable[[], Any], timeout: float, what: str, district: District) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{district.logs()}")
        time.sleep(0.2)
    return result


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_demo_emergency_call_in_is_an_alarm_at_the_hub_then_rings_all_agents(district: District) -> None:
    box, phones = add_demo_box(district, 1, phones=2)
    assert box.telco is not None and box.telco.wait_for("link", 20, up=True), district.logs()
    assert district.wait_phones(box.box_id, 15) == ["8001", "8002"], district.logs()
    # Every call is an emergency: the first comes at once from the first registered phone.
    script = CallScript(["8001", "8002"], random.Random(7), Timing(), emergency_phones=phones,
                        emergency_every=1)
    stop = threading.Event()
    calls = BoxCalls(box, script, 3600.0, stop, is_open=lambda _now: True)
    calls.start()
    try:
        counts = script.counts
        wait_for(lambda: counts.completed + counts.failed + counts.timed_out, 60, "the emergency call",
                 district)
    finally:
        stop.set()
        calls.join(15)
    phone = phones[0]
    assert (counts.placed, counts.emergency, counts.kissoffs, counts.answered_by_agents) == (1, 1, 1, 1)
    assert (counts.completed, counts.failed, counts.timed_out) == (1, 0, 0)

    # On the box: the call's alarm (before the answer), then the phone's in-band message.
    signals = district.alarm_signals(box.box_id)
    assert [(s["protocol"], s["account"], s["event_code"]) for s in signals] == \
        [("emergency_call", phone.account, "101"), ("contact_id_inband", phone.account, phone.event_code)]
    assert all(s["elder_id"] == phone.elder_id and s["line"] == phone.number for s in signals)
    [call] = wait_for(lambda: district.call_records(box.box_id), 10, "the call record", district)
    assert (call["caller"], call["called"], call["queue"], call["outcome"]) == \
        (phone.number, EMERGENCY_NUMBER, "emergency", "agent")
    assert call["agent"] in ("8001", "8002") or call["agent"].endswith(("/fxs1", "/fxs2"))

    # At the hub, through the alarm lane.
    def trunk_alarms() -> list[dict[str, Any]]:
        items = [a for a in district.alarms(box.box_id) if a["receiver"] == "trunk:span1"]
        return sorted(items, key=lambda a: (a["received_at"], a["id"])) if len(items) == 2 else []

    by_call, inband = wait_for(trunk_alarms, 30, "both alarms at the hub", district)
    assert (by_call["account"], by_call["event_code"], by_call["qualifier"]) == (phone.account, "101", "new")
    assert (inband["account"], inband["event_code"]) == (phone.account, phone.event_code)
    assert "一键通电话呼入" in by_call["note"] and phone.number in by_call["note"]
    assert "带内 Contact ID" in inband["note"]
    assert (by_call["protocol"], inband["protocol"]) == ("emergency_call", "contact_id_inband")

    # Its call record and its queue log on the bulk lane: the hub lists the call and counts it.
    [at_hub] = wait_for(lambda: district.api(f"/api/v1/calls?box_id={box.box_id}")["items"], 30,
                        "the call record at the hub", district)
    assert (at_hub["call_id"], at_hub["queue"], at_hub["outcome"]) == (call["call_id"], "emergency", "agent")
    an_hour_ago = (datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(hours=1)).replace(tzinfo=None)
    query = f"box_id={box.box_id}&from={an_hour_ago.isoformat(timespec='seconds')}"
    kpi = wait_for(lambda: (r := district.api(f"/api/v1/reports/kpi?{query}"))["emergency"]["answered"] and r,
                   30, "the emergency call in the hub's figures", district)
    assert (kpi["emergency"]["offered"], kpi["emergency"]["abandoned"]) == (1, 0)
    assert kpi["emergency"]["asa_s"] == pytest.approx(at_hub["queue_wait_s"], abs=0.05)

    # The box's live figures reach the hub's wallboards (CONTRACTS §6 …/live) through syncd.
    def live_at_hub() -> dict[str, Any] | None:
        [item] = [b for b in district.api("/api/v1/boxes")["items"] if b["box_id"] == box.box_id]
        live = item["live"]
        return live if live and live["trunks_up"] == 1 and live["calls_waiting"] == 0 else None

    summary = wait_for(live_at_hub, 20, "the box's live figures at the hub", district)
    assert (summary["trunks_total"], summary["stale"]) == (1, False)
    full = district.api(f"/api/v1/boxes/{box.box_id}/live")
    assert full["trunks"][0]["name"] == "span1" and full["trunks"][0]["d_channel"] == "up"
    assert sorted(a["agent_id"] for a in full["agents"]) == ["8001", "8002"]
    assert sum(full["agents_by_state"].values()) == 2 and all(a["state_zh"] for a in full["agents"])


def test_demo_registry_registers_each_one_button_phone_on_the_trunk(tmp_path: Path) -> None:
    phones = demo_emergency_phones(2)
    conn = open_store(tmp_path)
    assert import_csv(conn, write_registry(tmp_path / "registry.csv", phones)) == len(phones) == 3
    for phone in phones:
        found = classify(conn, phone.number, EMERGENCY_NUMBER, (EMERGENCY_NUMBER,))
        assert found is not None and found.registered and found.reason == "emergency_phone"
        assert (found.account, found.elder.elder_id, found.elder.name) == \
            (phone.account, phone.elder_id, phone.name)
        assert decode_dtmf(phone.digits) == phone.message and phone.message.account == phone.account
    assert {p.event_code for p in phones} == {"100", "101"}
    # The hotline stays an ordinary line; another box's phones are other devices.
    assert classify(conn, "13812345678", CENTRE_NUMBER, (EMERGENCY_NUMBER,)) is None
    others = demo_emergency_phones(1)
    assert not {p.account for p in others} & {p.account for p in phones}
    assert not {p.number for p in others} & {p.number for p in phones}
    # Clear of the accounts the simulated serial residents report (1000-1099).
    assert all(not 1000 <= int(p.account) <= 1099 for p in phones + others)


# -- the script alone: events in, commands out ----------------------------------------------------

def run_timers(script: CallScript, now: float) -> list:
    script.on_timer(now)
    return script.actions()


def telco_lines(actions: list) -> list[str]:
    return [a.line for a in actions if isinstance(a, ToTelco)]


def advance(script: CallScript, now: float, until: float, stop_at: object = None) -> tuple[float, list]:
    """Run the script's own timers up to UNTIL (or until it does STOP_AT); the actions on the way."""
    seen: list = []
    while (due := script.next_timer()) is not None and due <= until and stop_at not in seen:
        now = due
        seen += run_timers(script, now)
    return now, seen


def test_script_open_hours_call_goes_to_an_agent_then_the_survey() -> None:
    script = CallScript(["8001", "8002"], random.Random(5), Timing())
    call = script.place(0.0, open_hours=True)
    first = script.actions()
    assert telco_lines(first) == [f"call c1 12349 {call.caller.digits} ton={call.caller.ton}"]
    script.on_telco({"event": "answered", "id": "c1"}, 0.5)
    key = f"play c1 tone {DTMF[call.key]} 0.12"
    now, acts = advance(script, 0.5, 30.0, stop_at=ToTelco(key))
    assert telco_lines(acts) == [key] and call.key in "120"
    # Both phones ring for it (ring-all); 8001 lifts first, 8002 lifts late and is put down.
    for ext in ("8001", "8002"):
        script.on_phone(ext, {"event": "cid", "number": call.caller.number}, now + 1)
    script.on_phone("8001", {"event": "hook", "state": "off"}, now + 2)
    script.on_phone("8002", {"event": "hook", "state": "off"}, now + 2.1)
    acts = script.actions()
    assert ToPhone("8002", "on") in acts and any(isinstance(a, ToPhone) and a.extension == "8001"
                                                 and a.line.startswith("play ") for a in acts)
    assert script.counts.answered_by_agents == 1
    now, acts = advance(script, now + 2.1, now + 60, stop_at=ToPhone("8001", "on"))
    assert ToPhone("8001", "on") in acts  # the agent hangs up after the talk
    assert telco_lines(acts)[0].startswith("play c1 ")  # the caller spoke in between
    script.on_phone("8001", {"event": "hook", "state": "on"}, now)
    survey = f"play c1 tone {DTMF['1']} 0.12"  # the survey: 满意
    now, acts = advance(script, now, now + 10, stop_at=ToTelco(survey))
    assert telco_lines(acts) == [survey]
    script.on_telco({"event": "hangup", "id": "c1", "cause": 16, "text": "正常呼叫清除"}, now + 3)
    script.on_telco({"event": "released", "id": "c1", "cause": 16}, now + 3.1)
    said = [a.text for a in script.actions() if isinstance(a, Say)]
    assert any("通话结束" in t for t in said) and script.live == 0
    counts = script.counts
    assert (counts.placed, counts.surveys, counts.completed) == (1, 1, 1)
    assert (counts.failed, counts.timed_out) == (0, 0)


def test_script_after_hours_fourth_caller_leaves_a_message_the_others_press_0() -> None:
    script = CallScript(["8001"], random.Random(1), Timing(voices={"caller_message": Path("/v/m.wav")}))
    calls = [script.place(float(i), open_hours=False) for i in range(4)]
    assert [c.key for c in calls] == ["0", "0", "0", "2"]
    script.actions()
    script.on_telco({"event": "answered", "id": "c4"}, 4.0)
    now, acts = advance(script, 4.0, 200.0)
    lines = [line for line in telco_lines(acts) if " c4 " in line]
    assert lines[:3] == [f"play c4 tone {DTMF['2']} 0.12", "play c4 file /v/m.wav",
                         f"play c4 tone {DTMF['#']} 0.12"]
    # No box behind the script: c1-c3 are never answered and c4 never cleared, each one timed out.
    assert script.counts.messages == 1 and script.counts.timed_out == 4


def test_script_gives_up_on_a_box_that_never_answers_and_never_releases() -> None:
    script = CallScript(["8001"], random.Random(2), Timing(), answer_timeout=10.0, release_timeout=5.0)
    script.place(0.0, open_hours=True)
    script.actions()
    now, acts = advance(script, 0.0, 100.0)
    assert telco_lines(acts) == ["hangup c1 16"]
    assert script.counts.timed_out == 1 and script.live == 0 and script.next_timer() is None
    assert any("放弃 given up" in a.text for a in acts if isinstance(a, Say))


def test_script_matches_the_caller_id_after_the_boxs_number_translation() -> None:
    rng = random.Random(0)
    local = next(c for c in iter(lambda: random_caller(rng), None) if c.ton == "subscriber")
    assert local.number == f"029{local.digits}" and len(local.digits) == 8
    script = CallScript(["8001"], random.Random(3), Timing())
    call = script.place(0.0, open_hours=True)
    call.caller = local  # this call comes from a local landline
    script.on_telco({"event": "answered", "id": "c1"}, 0.5)
    advance(script, 0.5, 30.0)
    script.actions()
    script.on_phone("8001", {"event": "cid", "number": local.number}, 20.0)
    script.on_phone("8001", {"event": "hook", "state": "off"}, 21.0)
    assert call.extension == "8001" and ToPhone("8001", "on") not in script.actions()


def test_script_every_nth_call_comes_from_the_registered_phones_in_turn() -> None:
    phones = demo_emergency_phones(1)
    script = CallScript(["8001"], random.Random(6), Timing(), emergency_phones=phones, emergency_every=2)
    calls = [script.place(float(i), open_hours=True) for i in range(6)]
    assert [c.emergency for c in calls] == [None, phones[0], None, phones[1], None, phones[2]]
    lines = telco_lines(script.actions())
    for call in calls[1::2]:
        assert call.emergency is not None
        placed = lines.index(f"call {call.id} {EMERGENCY_NUMBER} {call.emergency.number} ton=national")
        assert lines[placed + 1] == f"alarmphone {call.id} {call.emergency.digits}"
    assert all(f" {CENTRE_NUMBER} " in line for line in lines if line.startswith(("call c1 ", "call c3 ")))
    assert script.counts.emergency == 3 and script.counts.placed == 6
    # Without phones there is nothing to call in from: every call is an ordinary one.
    plain = CallScript(["8001"], random.Random(6), Timing(), emergency_every=1)
    assert plain.place(0.0, open_hours=True).emergency is None


def test_script_emergency_call_waits_for_contact_id_rings_all_and_has_no_survey() -> None:
    phone = demo_emergency_phones(1)[1]
    script = CallScript(["8001", "8002"], random.Random(8), Timing(), emergency_phones=[phone],
                        emergency_every=1)
    call = script.place(0.0, open_hours=False)
    script.actions()
    script.on_telco({"event": "answered", "id": "c1"}, 0.5)
    # The Contact ID exchange runs on the line: the caller presses no key meanwhile.
    now, acts = advance(script, 0.5, 4.0)
    assert telco_lines(acts) == [] and call.state == "inband"
    script.on_telco({"event": "kissoff", "id": "c1", "digits": phone.digits, "attempt": 1}, 3.0)
    script.on_telco({"event": "alarmphone_done", "id": "c1", "sent": 1, "failed": 0}, 4.0)
    said = [a.text for a in script.actions() if isinstance(a, Say)]
    assert any("kissoff" in t for t in said) and any("振铃所有坐席" in t for t in said)
    assert script.counts.kissoffs == 1 and call.state == "queued"
    for ext in ("8001", "8002"):  # ring-all: both phones show the one-button phone's number
        script.on_phone(ext, {"event": "cid", "number": phone.number}, 5.0)
    script.on_phone("8002", {"event": "hook", "state": "off"}, 6.0)
    script.on_phone("8001", {"event": "hook", "state": "off"}, 6.2)
    acts = script.actions()
    assert ToPhone("8001", "on") in acts and call.extension == "8002"
    now, acts = advance(script, 6.2, 60.0, stop_at=ToPhone("8002", "on"))
    assert ToPhone("8002", "on") in acts and telco_lines(acts) == ["play c1 tone 440 1.5"]
    script.on_phone("8002", {"event": "hook", "state": "on"}, now)
    now, acts = advance(script, now, now + 10.0)  # no survey key: the box is to clear the call
    assert telco_lines(acts) == [] and call.state == "closing"
    script.on_telco({"event": "hangup", "id": "c1", "cause": 16, "text": "正常呼叫清除"}, now + 0.2)
    script.on_telco({"event": "released", "id": "c1", "cause": 16}, now + 0.3)
    counts = script.counts
    assert (counts.completed, counts.surveys, counts.failed, counts.timed_out) == (1, 0, 0, 0)
    assert script.live == 0


def test_script_gives_up_on_an_emergency_call_whose_contact_id_never_ends() -> None:
    script = CallScript(["8001"], random.Random(9), Timing(), emergency_phones=demo_emergency_phones(1),
                        emergency_every=1, inband_timeout=20.0, release_timeout=5.0)
    script.place(0.0, open_hours=True)
    script.actions()
    script.on_telco({"event": "answered", "id": "c1"}, 0.5)
    now, acts = advance(script, 0.5, 100.0)
    assert telco_lines(acts) == ["hangup c1 16"]
    assert script.counts.timed_out == 1 and script.live == 0
    assert any("in-band Contact ID" in a.text for a in acts if isinstance(a, Say))
