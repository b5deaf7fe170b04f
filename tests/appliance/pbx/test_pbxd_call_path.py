"""pbxd with an agent's phone: a carrier call goes through the IVR to the phone, recorded.

Real processes around the daemon: `anxin-sim telco` on the span, `anxin-sim handset` on
the FXS port (it lifts after 0.3 s of ringing); pbxd itself runs in this process. The
flow is the test's own (no business-hours node), so the wall clock does not matter.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest

from appliance.config import load_config
from appliance.ivr.prompts import DEFAULT_PROMPTS, generate_prompts
from appliance.pbx import control
from appliance.pbx.call_path import CallPathError
from appliance.pbx.pbxd import Pbxd
from appliance.recording.keys import Keyring, generate_key, write_keyring
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
[ivr.flows.t.nodes.agent]
type = "queue"
queue = "general"
"""


def wait_until(check, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def box_config(tmp_path: Path, span_dir: Path, port: Path, data: Path, *, prompts: bool = True) -> Path:
    if prompts:
        generate_prompts({"main_menu": DEFAULT_PROMPTS["main_menu"]}, data / "prompts", speed=450)
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


def test_call_reaches_the_agents_phone_through_the_ivr_and_is_recorded(tmp_path: Path) -> None:
    span_dir = Path(tempfile.mkdtemp(prefix="anxin-pbxc-", dir="/tmp"))
    data = Path(tempfile.mkdtemp(prefix="anxin-pbxcd-", dir="/tmp"))
    port = span_dir / "fxs1"
    daemon = Pbxd(load_config(box_config(tmp_path, span_dir, port, data)))
    telco = SimTool("telco", "--dir", str(span_dir))
    phone = None
    try:
        telco.expect("ready")
        daemon.start()
        phone = SimTool("handset", "--port", str(port), "--answer-after", "0.3")
        phone.expect("connected")
        wait_until(lambda: control.request(daemon.control_path, {"cmd": "status"})["trunks"][0]["d_channel"]
                   == "up", what="D-channel up")
        telco.send("call c1 96101 13800138000")
        telco.expect("answered", id="c1")
        # The menu times out to the agents' queue: the phone rings with the caller's number.
        assert phone.expect("cid", timeout=20)["number"] == "13800138000"
        phone.expect("hook", state="off", timeout=10)
        time.sleep(0.5)
        telco.send("hangup c1 16")
        telco.expect("released", id="c1")
        phone.send("on")
        recordings = wait_until(lambda: list((data / "recordings").glob("*.arec")), what="a recording")
        assert recordings[0].stat().st_size > 0
    finally:
        if phone is not None:
            phone.stop()
        telco.stop()
        daemon.stop()


def test_missing_prompts_stop_pbxd_with_the_command_to_fix_it(tmp_path: Path) -> None:
    span_dir = Path(tempfile.mkdtemp(prefix="anxin-pbxc-", dir="/tmp"))
    data = Path(tempfile.mkdtemp(prefix="anxin-pbxcd-", dir="/tmp"))
    config = load_config(box_config(tmp_path, span_dir, span_dir / "fxs1", data, prompts=False))
    with pytest.raises(CallPathError, match=r"prompts missing .*main_menu.*anxin-box prompts generate"):
        Pbxd(config)
