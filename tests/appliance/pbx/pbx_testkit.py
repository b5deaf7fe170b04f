"""A running box for pbxd tests: pbxd in this process, a real `anxin-sim telco` on its span
and `anxin-sim handset`s on its FXS ports (test_pbxd_call_path.py, test_pbxd_call_control.py).
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from appliance.config import load_config
from appliance.ivr.prompts import DEFAULT_PROMPTS, generate_prompts
from appliance.pbx import control
from appliance.pbx.pbxd import Pbxd
from appliance.recording.keys import Keyring, generate_key, write_keyring
from provisioning.demo import DTMF
from provisioning.sim_tools import SimTool

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
PROMPTS = ("main_menu", "survey", "survey_thanks", "leave_message", "message_saved", "callback_confirm")
DIGIT = DTMF  # keys as the telco plays them in-band (`play ID tone LOW+HIGH`)


def wait_until(check, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def box_config(tmp_path: Path, span_dir: Path, port: Path, data: Path, *, prompts: bool = True,
               flow: str = FLOW, ports: int = 1, extra_prompts: tuple[str, ...] = (),
               bus_url: str = "mqtt://127.0.0.1:1") -> Path:
    if prompts:
        generate_prompts({name: DEFAULT_PROMPTS[name] for name in (*PROMPTS, *extra_prompts)},
                         data / "prompts", speed=450)
    keys = tmp_path / "secrets" / "rec.keys"
    keys.parent.mkdir()
    write_keyring(keys, Keyring([generate_key(1)]))
    config = tmp_path / "box.toml"
    config.write_text(
        f'[box]\nid = "pbx-call-001"\ndata_dir = "{data}"\n[bus]\nmqtt_url = "{bus_url}"\n'
        f'[recording]\nkeys_file = "{keys}"\n'
        f'[[telephony.spans]]\nname = "span1"\nurl = "sim://{span_dir}"\n'
        + "".join(f'[[telephony.fxs]]\nurl = "sim://{port_path(port, i)}"\nextension = "{8001 + i}"\n'
                  for i in range(ports)) + flow, encoding="utf-8")
    return config


def port_path(first: Path, i: int) -> Path:
    """The I-th FXS port's socket (0 = FIRST, then fxs2, fxs3 … beside it)."""
    return first if i == 0 else first.with_name(f"fxs{i + 1}")


@dataclass
class RunningBox:
    """pbxd (in this process) on a span whose carrier side is a real `anxin-sim telco`."""

    daemon: Pbxd
    telco: SimTool
    data: Path
    port: Path
    phones: list[SimTool] = field(default_factory=list)

    def handset(self, *args: str, port: int = 0) -> SimTool:
        """An `anxin-sim handset` on the box's FXS port PORT (0 = extension 8001), connected;
        stopped with the box."""
        phone = SimTool("handset", "--port", str(port_path(self.port, port)), *args)
        self.phones.append(phone)
        phone.expect("connected")
        return phone

    def call_in(self, caller: str = "13800138000", called: str = "96101", call_id: str = "c1") -> None:
        """Trunk up, the carrier places CALL_ID from CALLER, the box answers it."""
        self.wait_trunk_up()
        self.telco.send(f"call {call_id} {called} {caller}")
        self.telco.expect("answered", id=call_id)

    def wait_trunk_up(self) -> None:
        wait_until(lambda: control.request(self.daemon.control_path, {"cmd": "status"})["trunks"][0]
                   ["d_channel"] == "up", what="D-channel up")


@contextmanager
def running_box(tmp_path: Path, extra_config: str = "", *, flow: str = FLOW, ports: int = 1,
                telco_args: tuple[str, ...] = (), extra_prompts: tuple[str, ...] = (),
                bus_url: str = "mqtt://127.0.0.1:1") -> Iterator[RunningBox]:
    """pbxd with its span's carrier; BUS_URL is its local bus (by default none: port 1)."""
    span_dir = Path(tempfile.mkdtemp(prefix="anxin-pbxc-", dir="/tmp"))
    data = Path(tempfile.mkdtemp(prefix="anxin-pbxcd-", dir="/tmp"))
    port = span_dir / "fxs1"
    config = box_config(tmp_path, span_dir, port, data, flow=flow, ports=ports, extra_prompts=extra_prompts,
                        bus_url=bus_url)
    config.write_text(config.read_text(encoding="utf-8") + extra_config, encoding="utf-8")
    telco = SimTool("telco", "--dir", str(span_dir), *telco_args)
    box = RunningBox(Pbxd(load_config(config)), telco, data, port)
    try:
        box.telco.expect("ready")
        box.daemon.start()
        yield box
    finally:
        for phone in box.phones:
            phone.stop()
        box.telco.stop()
        box.daemon.stop()


def general_queue(*settings: str) -> str:
    """[acd] with one queue "general" (SETTINGS: its extra TOML lines) and agent 1001 王芳,
    PIN 2468, who logs in from a phone with *11001*2468#."""
    lines = "".join(f"{line}\n" for line in settings)
    return ('\n[[acd.queues]]\nname = "general"\n' + lines +
            '[[acd.agents]]\nagent_id = "1001"\nname = "王芳"\npin = "2468"\nskills = { general = 0 }\n')


def dial_code(phone: SimTool, code: str) -> None:
    """A feature code on an idle phone, accepted (the box answers it with ringback), then on hook."""
    phone.send("off")
    phone.expect("tone", name="dial", timeout=5)
    phone.send(f"dtmf {code}")
    phone.expect("tone", name="ringback", timeout=5)
    phone.send("on")


def wait_queued(db: sqlite3.Connection) -> None:
    """Until a call has joined a queue (after the test flow's menu prompt and its timeout)."""
    wait_until(lambda: db.execute("SELECT 1 FROM queue_log WHERE kind = 'joined'").fetchone(),
               what="the caller waiting in the queue")

