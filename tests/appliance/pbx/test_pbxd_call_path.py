"""pbxd with an agent's phone: a carrier call goes through the IVR to the phone, recorded.

Real processes around the daemon: `anxin-sim telco` on the span, `anxin-sim handset` on
the FXS port (it lifts after 0.3 s of ringing); pbxd itself runs in this process. The
flow is the test's own (no business-hours node), so the wall clock does not matter.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from appliance.config import load_config
from appliance.ivr.prompts import DEFAULT_PROMPTS, generate_prompts
from appliance.media.g711 import alaw_to_linear
from appliance.pbx import control
from appliance.pbx.call_path import CallPathError
from appliance.pbx.pbxd import Pbxd
from appliance.recording.container import RecordingReader
from appliance.recording.keys import Keyring, generate_key, load_keyring, write_keyring
from appliance.store import connect
from provisioning.demo import DTMF
from provisioning.sim_tools import SimTool

pytestmark = pytest.mark.timeout(90)

FLOW = """
[ivr]
default_flow = "t"
[ivr.flows.t]
start = "menu"
[ivr.flows.t.nodes.menu]
type = "menu"
prompt = "main_menu"
timeout = 0.5
retries = 0
timeout_next = "agent"
[ivr.flows.t.nodes.menu.options]
2 = "agent"
3 = "message"
[ivr.flows.t.nodes.agent]
type = "queue"
queue = "general"
after_agent = "survey"
[ivr.flows.t.nodes.survey]
type = "survey"
prompt = "survey"
timeout = 3
retries = 0
next = "bye"
[ivr.flows.t.nodes.survey.choices]
1 = "满意"
2 = "不满意"
[ivr.flows.t.nodes.bye]
type = "hangup"
prompt = "survey_thanks"
[ivr.flows.t.nodes.message]
type = "message"
prompt = "leave_message"
max_seconds = 3
case_kind = "complaint"
next = "saved"
[ivr.flows.t.nodes.saved]
type = "hangup"
prompt = "message_saved"
"""
PROMPTS = ("main_menu", "survey", "survey_thanks", "leave_message", "message_saved")
DIGIT = DTMF  # keys as the telco plays them in-band (`play ID tone LOW+HIGH`)


def wait_until(check, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def box_config(tmp_path: Path, span_dir: Path, port: Path, data: Path, *, prompts: bool = True) -> Path:
    if prompts:
        generate_prompts({name: DEFAULT_PROMPTS[name] for name in PROMPTS}, data / "prompts", speed=450)
    keys = tmp_path / "secrets" / "rec.keys"
    keys.parent.mkdir()
    write_keyring(keys, Keyring([generate_key(1)]))
    config = tmp_path / "box.toml"
    config.write_text(
        f'[box]\nid = "pbx-call-001"\ndata_dir = "{data}"\n[bus]\nmqtt_url = "mqtt://127.0.0.1:1"\n'
        f'[recording]\nkeys_file = "{keys}"\n'
        f'[[telephony.spans]]\nname = "span1"\nurl = "sim://{span_dir}"\n'
        f'[[telephony.fxs]]\nurl = "sim://{port}"\nextension = "8001"\n' + FLOW, encoding="utf-8")
    return config


@dataclass
class RunningBox:
    """pbxd (in this process) on a span whose carrier side is a real `anxin-sim telco`."""

    daemon: Pbxd
    telco: SimTool
    data: Path
    port: Path
    phones: list[SimTool] = field(default_factory=list)

    def handset(self, *args: str) -> SimTool:
        """An `anxin-sim handset` on the box's FXS port, connected; stopped with the box."""
        phone = SimTool("handset", "--port", str(self.port), *args)
        self.phones.append(phone)
        phone.expect("connected")
        return phone

    def wait_trunk_up(self) -> None:
        wait_until(lambda: control.request(self.daemon.control_path, {"cmd": "status"})["trunks"][0]
                   ["d_channel"] == "up", what="D-channel up")


@contextmanager
def running_box(tmp_path: Path, extra_config: str = "") -> Iterator[RunningBox]:
    span_dir = Path(tempfile.mkdtemp(prefix="anxin-pbxc-", dir="/tmp"))
    data = Path(tempfile.mkdtemp(prefix="anxin-pbxcd-", dir="/tmp"))
    port = span_dir / "fxs1"
    config = box_config(tmp_path, span_dir, port, data)
    config.write_text(config.read_text(encoding="utf-8") + extra_config, encoding="utf-8")
    box = RunningBox(Pbxd(load_config(config)), SimTool("telco", "--dir", str(span_dir)), data, port)
    try:
        box.telco.expect("ready")
        box.daemon.start()
        yield box
    finally:
        for phone in box.phones:
            phone.stop()
        box.telco.stop()
        box.daemon.stop()


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


ACD_AGENT = """
[[acd.queues]]
name = "general"
[[acd.agents]]
agent_id = "1001"
name = "王芳"
pin = "2468"
skills = { general = 0 }
"""


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
