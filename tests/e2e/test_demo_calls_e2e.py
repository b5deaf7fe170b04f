"""`anxin-demo`'s calls: the carrier calls the centre, the IVR answers, an agent's phone takes it.

The first test runs the demo as a technician does (real hub, Mosquitto, pbxd, telco and
handset processes) and checks what the box wrote in box.db. The others drive the demo's
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
from pathlib import Path

import pytest

from provisioning.demo import DTMF, CallScript, Say, Timing, ToPhone, ToTelco, random_caller


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
