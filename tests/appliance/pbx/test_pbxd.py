"""pbxd's trunk service against the real telco simulator process: the D-channel comes up
from the config, a technician reads trunk state and switches the signalling trace while
the line runs, calls are refused with 34 until call control is loaded, and a telco that
goes away and comes back finds the trunk re-established."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.config import load_config
from appliance.pbx import control
from appliance.pbx.pbxd import CALL_COMMANDS, Pbxd
from drivers.e1_card.pcap import read_lapd_pcap
from provisioning.sim_tools import SimTool

pytestmark = pytest.mark.timeout(90)


def wait_until(check, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def span_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="anxin-pbx-", dir="/tmp"))


@pytest.fixture
def box(tmp_path: Path, span_dir: Path) -> Iterator[tuple[Pbxd, Path]]:
    config = tmp_path / "box.toml"
    data = Path(tempfile.mkdtemp(prefix="anxin-pbxdata-", dir="/tmp"))
    config.write_text(
        f'[box]\nid = "pbx-test-001"\ndata_dir = "{data}"\n'
        f'[bus]\nmqtt_url = "mqtt://127.0.0.1:1"\n'
        f'[[telephony.spans]]\nname = "span1"\nurl = "sim://{span_dir}"\narea_code = "29"\n',
        encoding="utf-8")
    daemon = Pbxd(load_config(config))
    try:
        yield daemon, config
    finally:
        daemon.stop()


def status(daemon: Pbxd) -> dict:
    return control.request(daemon.control_path, {"cmd": "status"})["trunks"][0]


def test_trunk_up_capture_by_command_and_calls_refused(box, span_dir: Path, tmp_path: Path) -> None:
    daemon, config = box
    telco = SimTool("telco", "--dir", str(span_dir))
    try:
        telco.expect("ready")
        daemon.start()
        wait_until(lambda: status(daemon)["d_channel"] == "up", what="D-channel up")
        assert "span1: D-channel up" in daemon.status()
        trace = tmp_path / "trace.pcap"
        cli = [sys.executable, "-m", "appliance.cli", "pri", "--config", str(config)]
        out = subprocess.run([*cli, "capture", "span1", "on", "--file", str(trace)],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert f"capture {trace}" in out.stdout
        telco.send("call c1 96101 88881234")
        released = telco.expect("released", id="c1")
        assert released["cause"] == 34 and status(daemon)["calls_refused"] == 1
        out = subprocess.run([*cli, "capture", "span1", "off"], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and "capture off" in out.stdout
        frames = read_lapd_pcap(trace)
        assert len(frames) >= 2 and {f.sent for f in frames} == {True, False}
        out = subprocess.run([*cli, "status"], capture_output=True, text=True, timeout=30)
        assert "span1: D信道 D-channel up" in out.stdout and "calls in 1" in out.stdout
        bad = subprocess.run([*cli, "capture", "span9", "on"], capture_output=True, text=True, timeout=30)
        assert bad.returncode == 2 and "no span named 'span9'" in bad.stderr
    finally:
        telco.stop()
    # The carrier went away: down; it comes back: the trunk re-establishes by itself.
    wait_until(lambda: status(daemon)["d_channel"] == "down", what="D-channel down")
    telco = SimTool("telco", "--dir", str(span_dir))
    try:
        wait_until(lambda: status(daemon)["d_channel"] == "up", timeout=15, what="D-channel back up")
    finally:
        telco.stop()


def test_pri_command_when_pbxd_is_not_running(box) -> None:
    _daemon, config = box
    out = subprocess.run([sys.executable, "-m", "appliance.cli", "pri", "--config", str(config), "status"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "pbxd is not running" in out.stderr


def test_a_span_that_will_not_open_is_a_trunk_down_not_a_dead_daemon(tmp_path: Path) -> None:
    config = tmp_path / "box.toml"
    data = Path(tempfile.mkdtemp(prefix="anxin-pbxdata-", dir="/tmp"))
    config.write_text(
        f'[box]\nid = "pbx-test-002"\ndata_dir = "{data}"\n[bus]\nmqtt_url = "mqtt://127.0.0.1:1"\n'
        f'[[telephony.spans]]\nname = "card"\nurl = "dahdi://1?dchan=16"\n', encoding="utf-8")
    daemon = Pbxd(load_config(config))
    try:
        daemon.start()  # no /dev/dahdi here: the trunk is down, the daemon runs
        assert daemon.healthy()
        trunk = status(daemon)
        assert trunk["d_channel"] == "down" and "/dev/dahdi" in trunk["last_change"]
        assert daemon.status() == "card: D-channel down"
        reply = control.request(daemon.control_path, {"cmd": "capture", "span": "card", "on": True})
        assert reply["ok"] is False and "is not open" in reply["error"]
    finally:
        daemon.stop()


def test_capture_to_an_unwritable_place_is_an_answer_not_a_crash(box, span_dir: Path) -> None:
    daemon, config = box
    telco = SimTool("telco", "--dir", str(span_dir))
    try:
        telco.expect("ready")
        daemon.start()
        out = subprocess.run([sys.executable, "-m", "appliance.cli", "pri", "--config", str(config),
                              "capture", "span1", "on", "--file", "/proc/anxin/x.pcap"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 2 and "anxin-box pri:" in out.stderr and "Traceback" not in out.stderr
        reply = control.request(daemon.control_path, {"cmd": "nonsense"})
        assert reply == {"ok": False, "error": "unknown command 'nonsense' "
                                               f"(status, capture, {', '.join(CALL_COMMANDS)})"}
        assert status(daemon)["name"] == "span1"  # still serving
    finally:
        telco.stop()
