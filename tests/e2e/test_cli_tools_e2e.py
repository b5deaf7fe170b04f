"""The command-line tools as a technician uses them: anxin-sim, anxin-box all, anxin-demo."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from provisioning.district import District

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def test_sim_receiver_and_box_all_deliver_to_hub(district: District, tmp_path: Path) -> None:
    sim = subprocess.Popen(
        [sys.executable, "-m", "drivers.sim_cli", "alarm-receiver", "--port", "pty",
         "--contact-id", "5678 18 1101 00 001 1", "--frame", "5011 181234R30101003",
         "--heartbeat", "2", "--exit-when-done"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    box = None
    try:
        first = sim.stdout.readline()
        match = re.search(r"receiver on pty: (\S+)", first)
        assert match, first
        config = tmp_path / "box.toml"
        config.write_text(
            f'[box]\nid = "weicheng-all"\ndata_dir = "{tmp_path / "data"}"\n'
            f'[hub]\nmqtt_url = "{district.broker.url}"\n'
            f'[bus]\nmqtt_url = "{district.broker.url}"\n'
            f'[sync]\npoll_interval = 0.02\n'
            f'[[alarm.receivers]]\nname = "main"\nprotocol = "surgard"\n'
            f'port = "{match.group(1)}"\n', encoding="utf-8")
        box = subprocess.Popen([sys.executable, "-m", "appliance.cli", "all", "--config",
                                str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
        out, _ = sim.communicate(timeout=60)  # exits once both frames were ACKed
        assert sim.returncode == 0, out
        assert out.count("ACK  已确认") >= 2, out
        deadline = time.monotonic() + 30
        while len(district.alarms("weicheng-all")) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        got = sorted((a["account"], a["event_code"], a["qualifier"], a["zone"])
                     for a in district.alarms("weicheng-all"))
        assert got == [("1234", "301", "restore", "003"), ("5678", "101", "new", "001")]
    finally:
        if sim.poll() is None:
            sim.kill()
        if box is not None:
            box.send_signal(signal.SIGTERM)
            _, err = box.communicate(timeout=30)
            assert box.returncode == 0, err


def test_demo_runs_and_alarms_reach_the_hub(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "provisioning.demo", "--workdir", str(tmp_path), "--duration",
         "12", "--interval", "1", "--seed", "7"],
        capture_output=True, text=True, timeout=90, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"http://127\.0\.0\.1:\d+/alarms", done.stdout)
    match = re.search(r"(\d+) signals acknowledged by the boxes, (\d+) alarms at the hub",
                      done.stdout)
    assert match, done.stdout
    assert int(match.group(1)) >= 3 and int(match.group(2)) >= 3


@pytest.mark.parametrize(("fmt", "args", "expected"), [
    ("ademco685", ["--contact-id", "7777 18 1101 00 015 4"], ("7777", "101", "new", "015")),
    ("surgard", ["--sia", "1234:MA:2"], ("1234", "100", "new", "002")),
])
def test_each_receiver_format_simulated_into_alarmd(tmp_path: Path, fmt: str, args: list[str],
                                                    expected: tuple) -> None:
    from appliance.store import connect

    sim = subprocess.Popen(
        [sys.executable, "-m", "drivers.sim_cli", "alarm-receiver", "--port", "pty", "--format",
         fmt, *args, "--heartbeat", "0", "--exit-when-done"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    alarmd = None
    try:
        match = re.search(r"receiver on pty: (\S+)", sim.stdout.readline())
        assert match
        config = tmp_path / "box.toml"
        config.write_text(
            f'[box]\nid = "fmt-test"\ndata_dir = "{tmp_path / "data"}"\n'
            '[bus]\nmqtt_url = "mqtt://127.0.0.1:9"\n'
            f'[[alarm.receivers]]\nname = "main"\nprotocol = "{fmt}"\nport = "{match.group(1)}"\n',
            encoding="utf-8")
        alarmd = subprocess.Popen([sys.executable, "-m", "appliance.cli", "alarmd", "--config",
                                   str(config)], stderr=subprocess.PIPE, text=True)
        out, _ = sim.communicate(timeout=60)
        assert sim.returncode == 0 and "ACK  已确认" in out, out
        row = connect(tmp_path / "data" / "box.db").execute(
            "SELECT account, event_code, qualifier, zone FROM alarm_signals").fetchone()
        assert tuple(row) == expected
    finally:
        if sim.poll() is None:
            sim.kill()
        if alarmd is not None:
            alarmd.send_signal(signal.SIGTERM)
            alarmd.communicate(timeout=30)
