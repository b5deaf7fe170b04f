"""Run a private Mosquitto broker: config file, process, readiness.

Used by the demo district and the test fixtures; the same config writer will serve
the hub's production broker (ACL per box) when provisioning grows.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

MOSQUITTO_CANDIDATES = ("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


class BrokerError(RuntimeError):
    """The broker could not be found or did not start."""


def find_mosquitto() -> str:
    for candidate in MOSQUITTO_CANDIDATES:
        path = shutil.which(candidate)
        if path:
            return path
    raise BrokerError(
        "mosquitto not found: install it (apt-get install mosquitto) — "
        "the project's ./anxin.sh does this for you"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def write_config(directory: Path, port: int, host: str = "127.0.0.1") -> Path:
    """A minimal broker config: one listener, anonymous (LAN/test only), no persistence.

    Persistence is off on purpose: delivery is guaranteed by the box outbox and the
    hub's ack, never by the broker (CONTRACTS §6).
    """
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        f"listener {port} {host}",
        "allow_anonymous true",
        "persistence false",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "max_queued_messages 100000",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Mosquitto drops root to user "mosquitto" by default; a private broker in a
        # temporary directory has no reason to switch users.
        lines.append("user root")
    path = directory / "mosquitto.conf"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise BrokerError(f"nothing listens on {host}:{port} after {timeout}s: {exc}") from exc
            time.sleep(0.05)


@dataclass
class Broker:
    """A running private Mosquitto."""

    process: subprocess.Popen
    host: str
    port: int
    config: Path

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def __enter__(self) -> Broker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_broker(directory: Path, port: int | None = None, host: str = "127.0.0.1",
                 log_path: Path | None = None) -> Broker:
    """Start Mosquitto with its own config in DIRECTORY on PORT (free port if None)."""
    exe = find_mosquitto()
    port = port or free_port(host)
    config = write_config(directory, port, host)
    log = open(log_path or directory / "mosquitto.log", "ab")  # noqa: SIM115 - owned by process
    try:
        process = subprocess.Popen([exe, "-c", str(config)], stdout=log, stderr=log,
                                   stdin=subprocess.DEVNULL)
    finally:
        log.close()
    broker = Broker(process, host, port, config)
    try:
        wait_for_port(host, port)
    except BrokerError:
        broker.stop()
        raise
    if process.poll() is not None:
        raise BrokerError(f"mosquitto exited with {process.returncode}; see {directory}")
    return broker
