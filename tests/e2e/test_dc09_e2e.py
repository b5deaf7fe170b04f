"""DC-09 end to end: anxin-sim dc09-communicator → alarmd's DC-09 listener → syncd → hub."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from provisioning.district import District, Proc
from provisioning.mosquitto import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
KEY = "00112233445566778899AABBCCDDEEFF"


def test_communicator_to_hub(district: District, tmp_path: Path) -> None:
    port = free_port()
    keys = tmp_path / "dc09-keys.toml"
    keys.write_text(f'[keys]\n"4321" = "{KEY}"\n', encoding="utf-8")
    keys.chmod(0o600)
    config = tmp_path / "box.toml"
    config.write_text(
        f'[box]\nid = "yanta-ip-001"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[hub]\nmqtt_url = "{district.broker.url}"\n[bus]\nmqtt_url = "{district.broker.url}"\n'
        '[sync]\npoll_interval = 0.02\n'
        f'[[alarm.receivers]]\nname = "ip"\nprotocol = "dc09"\nport = "tcp://127.0.0.1:{port}"\n'
        f'keys_file = "{keys}"\n', encoding="utf-8")
    procs = [Proc(name, [sys.executable, "-m", "appliance.cli", name, "--config", str(config)],
                  dict(os.environ), tmp_path / f"{name}.log") for name in ("alarmd", "syncd")]
    for proc in procs:
        proc.start()
    try:
        done = None
        for _ in range(50):  # until alarmd listens
            done = subprocess.run(
                [sys.executable, "-m", "drivers.sim_cli", "dc09-communicator", "--target",
                 f"tcp://127.0.0.1:{port}", "--account", "4321", "--key", KEY, "--attempts", "1",
                 "--contact-id", "4321 18 1101 01 007 5"],
                capture_output=True, text=True, timeout=30)
            if "ACK" in done.stdout or "NAK" in done.stdout or "DUH" in done.stdout:
                break
            time.sleep(0.2)
        assert done is not None and done.returncode == 0, done.stdout + done.stderr
        assert "ADM-CID: ACK 已确认" in done.stdout
        deadline = time.monotonic() + 30
        while not district.alarms("yanta-ip-001") and time.monotonic() < deadline:
            time.sleep(0.2)
        [alarm] = district.alarms("yanta-ip-001")
        assert (alarm["account"], alarm["event_code"], alarm["qualifier"], alarm["zone"]) == (
            "4321", "101", "new", "007")
    finally:
        for proc in procs:
            proc.stop()
