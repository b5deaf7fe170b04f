"""pbxd with an agent's phone: a carrier call goes through the IVR to the phone, recorded.

Real processes around the daemon: `anxin-sim telco` on the span, `anxin-sim handset` on
the FXS port (it lifts after 0.3 s of ringing); pbxd itself runs in this process. The
flow is the test's own (no business-hours node), so the wall clock does not matter.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from pbx_testkit import DIGIT, box_config, general_queue, running_box, wait_until

from appliance.config import load_config
from appliance.media.g711 import alaw_to_linear
from appliance.pbx.call_path import CallPathError
from appliance.pbx.pbxd import Pbxd
from appliance.recording.container import RecordingReader
from appliance.recording.keys import load_keyring
from appliance.store import connect

pytestmark = pytest.mark.timeout(90)


def test_call_reaches_the_agents_phone_through_the_ivr_and_is_recorded(tmp_path: Path) -> None:
    with running_box(tmp_path) as box:
        telco, data = box.telco, box.data
        phone = box.handset("--answer-after", "0.3")
        box.wait_trunk_up()
        telco.send("call c1 96101 13800138000")
        telco.expect("answered", id="c1")
        # The menu times out to the agents' queue: the phone rings with the caller's number.
        assert phone.expect("cid", timeout=20)["number"] == "13800138000"
        phone.expect("hook", state="off", timeout=10)
        time.sleep(0.5)
        phone.send("on")  # the agent hangs up: the survey prompt, then the caller keys 1
        time.sleep(1.0)
        telco.send(f"play c1 tone {DIGIT['1']} 0.12")
        telco.expect("hangup", id="c1", timeout=20)  # 谢谢: the box clears after the thanks
        db = connect(data / "box.db")
        call = wait_until(lambda: db.execute("SELECT * FROM calls").fetchone(), what="the call record")
        assert (call["caller"], call["called"], call["outcome"], call["queue"]) == \
            ("13800138000", "96101", "agent", "general")
        assert (call["survey_score"], call["survey_label"]) == (1, "满意")
        assert call["agent"] == "8001" and call["talk_s"] >= 0.4  # the phone's extension is its agent
        assert call["ended_by"] == "box" and call["recording_id"] == call["call_id"]
        rec = db.execute("SELECT * FROM recordings WHERE recording_id = ?",
                         (call["recording_id"],)).fetchone()
        assert rec["state"] == "complete" and rec["kind"] == "call" and rec["caller"] == "13800138000"
        assert rec["duration_s"] > 1.0 and Path(rec["path"]).stat().st_size == rec["size"]
        kinds = [r[0] for r in db.execute("SELECT kind FROM outbox WHERE lane = 'bulk' AND kind IN "
                                          "('recording', 'call') ORDER BY seq")]
        assert kinds == ["recording", "call"]  # the recording closes before the call record is written
        steps = [(r["kind"], r["agent_id"]) for r in db.execute(
            "SELECT kind, agent_id FROM queue_log WHERE call_id = ? ORDER BY id", (call["call_id"],))]
        assert steps == [("joined", None), ("offered", "8001"), ("connected", "8001"), ("completed", "8001"),
                         ("wrapup_started", "8001")]  # 话后处理: the queue's 10 s
        completed = json.loads(db.execute(
            "SELECT data FROM queue_log WHERE kind = 'completed'").fetchone()[0])
        assert completed["by"] == "agent" and completed["talk_s"] >= 0.4
        agent_kinds = {r[0] for r in db.execute("SELECT kind FROM outbox WHERE kind LIKE '%_event'")}
        assert agent_kinds == {"queue_event", "agent_event"}  # the queue log goes to the hub too


def test_a_message_is_recorded_encrypted_and_opens_a_case(tmp_path: Path) -> None:
    with running_box(tmp_path) as box:
        telco, data = box.telco, box.data
        box.wait_trunk_up()
        telco.send("call c1 96101 02158880000")
        telco.expect("answered", id="c1")
        time.sleep(0.2)
        telco.send(f"play c1 tone {DIGIT['3']} 0.12")   # 3: leave a message
        time.sleep(2.0)
        telco.send("play c1 tone 400 1.0")             # the "message"
        time.sleep(1.5)
        telco.send("hangup c1 16")
        telco.expect("released", id="c1")
        db = connect(data / "box.db")
        call = wait_until(lambda: db.execute("SELECT * FROM calls").fetchone(), what="the call record")
        assert call["outcome"] == "message" and call["digits"] == "3" and call["ended_by"] == "caller"
        case = db.execute("SELECT * FROM case_events").fetchone()
        assert case["case_id"] == call["case_id"] == "pbx-call-001:1" and case["type"] == "created"
        body = json.loads(case["body"])
        assert (body["kind"], body["caller"], body["recording_id"]) == \
            ("complaint", "02158880000", call["message_recording_id"])
        msg = db.execute("SELECT * FROM recordings WHERE recording_id = ?",
                         (body["recording_id"],)).fetchone()
        assert msg["kind"] == "message" and msg["state"] == "complete" and msg["case_id"] == case["case_id"]
        assert msg["path"].endswith(".arec") and msg["duration_s"] > 0.5
        keyring = load_keyring(tmp_path / "secrets" / "rec.keys", recordings_dir=data / "recordings")
        with RecordingReader(msg["path"], keyring) as reader:
            left, right = reader.read_all()
        heard = alaw_to_linear(np.frombuffer(left, dtype=np.uint8)).astype(float)
        spectrum = np.abs(np.fft.rfft(heard))
        assert abs(np.argmax(spectrum) * 8000 / len(heard) - 400) < 10  # the caller's tone, kept
        assert set(right) == {0xD5}  # a message has one voice: the other channel is silence
        kinds = sorted(r[0] for r in db.execute("SELECT kind FROM outbox WHERE lane = 'bulk' AND kind NOT IN "
                                                "('queue_event', 'agent_event')"))
        assert kinds == ["call", "case_event", "recording", "recording"]  # the call's and the message's


def test_missing_prompts_stop_pbxd_with_the_command_to_fix_it(tmp_path: Path) -> None:
    span_dir = Path(tempfile.mkdtemp(prefix="anxin-pbxc-", dir="/tmp"))
    data = Path(tempfile.mkdtemp(prefix="anxin-pbxcd-", dir="/tmp"))
    config = load_config(box_config(tmp_path, span_dir, span_dir / "fxs1", data, prompts=False))
    with pytest.raises(CallPathError, match=r"prompts missing .*main_menu.*anxin-box prompts generate"):
        Pbxd(config)


ACD_AGENT = general_queue()


def test_an_agent_logs_in_with_a_feature_code_and_takes_the_call(tmp_path: Path) -> None:
    with running_box(tmp_path, ACD_AGENT) as box:
        telco, data, port = box.telco, box.data, box.port
        phone = box.handset()
        phone.send("off")
        assert phone.expect("tone", timeout=5)["name"] == "dial"
        phone.send("dtmf *11001*1111#")                       # wrong PIN: congestion, still logged out
        assert phone.expect("tone", name="congestion", timeout=5)
        phone.send("on")
        phone.send("off")
        phone.send("dtmf *11001*2468#")
        assert phone.expect("tone", name="ringback", timeout=5)  # accepted
        phone.send("on")
        box.wait_trunk_up()
        telco.send("call c1 96101 13800138000")
        telco.expect("answered", id="c1")
        assert phone.expect("cid", timeout=20)["number"] == "13800138000"
        phone.send("off")
        time.sleep(0.5)
        telco.send("hangup c1 16")
        telco.expect("released", id="c1")
        phone.send("on")
        db = connect(data / "box.db")
        call = wait_until(lambda: db.execute("SELECT * FROM calls").fetchone(), what="the call record")
        assert (call["agent"], call["outcome"], call["ended_by"]) == ("1001", "agent", "caller")
        login = db.execute("SELECT * FROM queue_log WHERE kind = 'logged_in'").fetchone()
        assert login["agent_id"] == "1001" and json.loads(login["data"])["device"] == f"sim://{port}"
        done = json.loads(db.execute("SELECT data FROM queue_log WHERE kind = 'completed'").fetchone()[0])
        assert done["by"] == "caller"
