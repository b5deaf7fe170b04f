import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.systemd import Notifier


def test_notifier_sends_to_notify_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000"})
        assert n.watchdog_interval == 4.0
        assert n.ready("2 receivers")
        assert sock.recv(100) == b"READY=1\nSTATUS=2 receivers"
        assert n.watchdog()
        assert sock.recv(100) == b"WATCHDOG=1"


def test_notifier_is_a_noop_outside_systemd() -> None:
    n = Notifier({})
    assert not n.enabled and not n.ready() and n.watchdog_interval is None


def test_watchdog_is_for_the_pid_systemd_started() -> None:
    assert Notifier({"WATCHDOG_USEC": "100", "WATCHDOG_PID": "1"}).watchdog_interval is None


@pytest.mark.timeout(30)
def test_daemon_reports_ready_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "box.toml"
    config.write_text(f'[box]\nid = "box-1"\ndata_dir = "{tmp_path}"\n'
                      '[hub]\nmqtt_url = "mqtt://127.0.0.1:1"\n'
                      '[bus]\nmqtt_url = "mqtt://127.0.0.1:1"\n')
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(15)
        proc = subprocess.Popen([sys.executable, "-m", "appliance.cli", "syncd", "--config",
                                 str(config)], env={**os.environ, "NOTIFY_SOCKET": path,
                                                    "WATCHDOG_USEC": "1000000"},
                                stderr=subprocess.PIPE, text=True)
        try:
            first = sock.recv(200).decode()
            assert first.startswith("READY=1")
            assert "WATCHDOG=1" in sock.recv(200).decode()  # pinged at half the period
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "syncd stopped" in err
