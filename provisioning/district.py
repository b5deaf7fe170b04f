"""A simulated district on one machine: Mosquitto, the hub (serve + ingest), boxes.

Every part runs as the real process it is in production (the same commands systemd
starts); only the hardware is simulated (alarm receivers on ptys). Used by
`anxin-demo`, the end-to-end tests and the benches.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.alarm_phone.simulator import Pty
from provisioning.mosquitto import Broker, free_port, start_broker


class DistrictError(RuntimeError):
    pass


def _python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            self.process = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=log,
                                            stdin=subprocess.DEVNULL)
        finally:
            log.close()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        p = self.process
        if p is None or p.poll() is not None:
            return p.returncode if p else None
        p.send_signal(sig)
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            return p.wait(5)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


@dataclass
class Box:
    box_id: str
    config_path: Path
    data_dir: Path
    receiver: Pty
    alarmd: Proc
    syncd: Proc
    # With a simulated E1: the carrier's side (anxin-sim telco) and the box's pbxd.
    telco: Proc | None = None
    pbxd: Proc | None = None
    span_dir: Path | None = None

    @property
    def db_path(self) -> Path:
        return self.data_dir / "box.db"

    @property
    def procs(self) -> list[Proc]:
        return [p for p in (self.telco, self.alarmd, self.pbxd, self.syncd) if p is not None]


@dataclass
class District:
    workdir: Path
    broker: Broker | None = None
    hub_env: dict[str, str] = field(default_factory=dict)
    hub_url: str = ""
    token: str = ""
    serve: Proc | None = None
    ingest: Proc | None = None
    boxes: dict[str, Box] = field(default_factory=dict)

    # -- broker ------------------------------------------------------------------------
    def start_broker(self, port: int | None = None) -> Broker:
        self.broker = start_broker(self.workdir / "mosquitto", port=port)
        return self.broker

    def restart_broker(self) -> None:
        port = self.broker.port
        self.broker.stop()
        self.broker = start_broker(self.workdir / "mosquitto", port=port)

    # -- hub ---------------------------------------------------------------------------
    def start_hub(self, database_url: str | None = None) -> None:
        data = self.workdir / "hub"
        data.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "ANXIN_HUB_DATA_DIR": str(data),
               "ANXIN_HUB_MQTT_URL": self.broker.url, "PYTHONUNBUFFERED": "1"}
        if database_url:
            env["ANXIN_HUB_DATABASE_URL"] = database_url
        self.hub_env = env
        self._hub_cli("init-db")
        self.token = self._hub_cli("create-token", "--role", "admin", "--name", "district")
        port = free_port()
        self.hub_url = f"http://127.0.0.1:{port}"
        self.serve = Proc("hub-serve", _python_module("hub.cli", "serve", "--listen",
                                                      f"127.0.0.1:{port}"), env,
                          self.workdir / "hub-serve.log")
        self.serve.start()
        self.start_ingest()
        self._wait(lambda: self.health(), f"hub web at {self.hub_url}", self.serve)

    def start_ingest(self) -> None:
        self.ingest = Proc("hub-ingest", _python_module("hub.cli", "ingest"), self.hub_env,
                           self.workdir / "hub-ingest.log")
        self.ingest.start()

    def _hub_cli(self, *args: str) -> str:
        done = subprocess.run(_python_module("hub.cli", *args), env=self.hub_env,
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise DistrictError(f"anxin-hub {' '.join(args)} failed: {done.stderr.strip()}")
        lines = done.stdout.strip().splitlines()
        return lines[-1] if lines else ""

    def hub_cli(self, *args: str) -> str:
        return self._hub_cli(*args)

    def health(self) -> bool:
        try:
            return bool(self.api("/api/v1/health", auth=False).get("ok"))
        except (OSError, ValueError):
            return False

    def api(self, path: str, auth: bool = True, timeout: float = 5.0) -> Any:
        req = urllib.request.Request(self.hub_url + path)
        if auth:
            req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())

    def alarms(self, box_id: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Every alarm the hub API lists (follows `next` pages)."""
        items: list[dict[str, Any]] = []
        query = f"limit={limit}" + (f"&box_id={box_id}" if box_id else "")
        page = self.api(f"/api/v1/alarms?{query}")
        items += page["items"]
        while page.get("next"):
            page = self.api(f"/api/v1/alarms?{query}&cursor={page['next']}")
            items += page["items"]
        return items

    # -- boxes -------------------------------------------------------------------------
    def add_box(self, box_id: str, *, heartbeat_interval: float = 30.0,
                ack_timeout: float = 2.0, start: bool = True, trunk: bool = False) -> Box:
        data = self.workdir / "boxes" / box_id
        data.mkdir(parents=True, exist_ok=True)
        receiver = Pty.open()
        config = data / "box.toml"
        config.write_text(
            f'[box]\nid = "{box_id}"\ndata_dir = "{data}"\n\n'
            f'[hub]\nmqtt_url = "{self.broker.url}"\n\n'
            f'[bus]\nmqtt_url = "{self.broker.url}"\n\n'
            f"[sync]\nack_timeout = {ack_timeout}\nack_timeout_max = {max(ack_timeout, 4.0)}\n"
            f"poll_interval = 0.02\n\n"
            f'[[alarm.receivers]]\nname = "main"\nprotocol = "surgard"\nport = "{receiver.path}"\n'
            f"baudrate = 9600\nheartbeat_interval = {heartbeat_interval}\n",
            encoding="utf-8")
        # AF_UNIX paths are short (108 bytes): the span's sockets live under /tmp.
        span_dir = Path(tempfile.mkdtemp(prefix=f"anxin-{box_id[-12:]}-", dir="/tmp")) if trunk else None
        if span_dir is not None:
            with config.open("a", encoding="utf-8") as f:
                f.write(f'\n[[telephony.spans]]\nname = "span1"\nurl = "sim://{span_dir}"\n'
                        f'area_code = "29"\n')
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        box = Box(box_id, config, data, receiver,
                  Proc(f"{box_id}-alarmd", _python_module("appliance.cli", "alarmd", "--config",
                                                          str(config)), env, data / "alarmd.log"),
                  Proc(f"{box_id}-syncd", _python_module("appliance.cli", "syncd", "--config",
                                                         str(config)), env, data / "syncd.log"))
        if span_dir is not None:
            box.span_dir = span_dir
            box.telco = Proc(f"{box_id}-telco", _python_module(
                "drivers.sim_cli", "telco", "--dir", str(span_dir), "--no-stdin",
                "--capture", str(data / "telco-span1.pcap")), env, data / "telco.log")
            box.pbxd = Proc(f"{box_id}-pbxd", _python_module("appliance.cli", "pbxd", "--config",
                                                              str(config)), env, data / "pbxd.log")
        self.boxes[box_id] = box
        if start:
            for proc in box.procs:
                proc.start()
        return box

    def trunk_status(self, box_id: str) -> str:
        """What `anxin-box pri status` says about the box's trunks."""
        box = self.boxes[box_id]
        out = subprocess.run(_python_module("appliance.cli", "pri", "--config", str(box.config_path),
                                            "status"), capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).strip()

    # -- all ---------------------------------------------------------------------------
    def _wait(self, check: Any, what: str, proc: Proc, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if not proc.running:
                raise DistrictError(f"{proc.name} exited while waiting for {what}:\n"
                                    f"{proc.log_tail()}")
            if time.monotonic() > deadline:
                raise DistrictError(f"timed out waiting for {what}:\n{proc.log_tail()}")
            time.sleep(0.1)

    def logs(self) -> str:
        procs = [p for p in (self.serve, self.ingest) if p]
        for box in self.boxes.values():
            procs += box.procs
        return "\n".join(f"--- {p.name} ---\n{p.log_tail()}" for p in procs)

    def stop(self) -> None:
        for box in self.boxes.values():
            for proc in reversed(box.procs):
                proc.stop()
            box.receiver.close()
        for proc in (self.ingest, self.serve):
            if proc:
                proc.stop()
        if self.broker:
            self.broker.stop()

    def __enter__(self) -> District:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
