"""A simulated district on one machine: Mosquitto, the hub (serve + ingest), boxes.

Every part runs as the real process it is in production (the same commands systemd
starts); only the hardware is simulated: alarm receivers on ptys and, for a box with a
trunk, the carrier's side of its E1 (`anxin-sim telco`) and its agents' phones
(`anxin-sim handset`), both driven through stdin with their JSON events read back.
Used by `anxin-demo`, the end-to-end tests and the benches.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from drivers.alarm_phone.simulator import Pty
from provisioning.mosquitto import Broker, free_port, start_broker
from provisioning.sim_tools import matches, parse_event


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


SimEvent = dict[str, Any]
EVENT_HISTORY = 500  # events a SimDevice keeps for wait_for (startup waits, tests)


@dataclass
class SimDevice(Proc):
    """A simulator (`anxin-sim telco` / `handset`): commands on stdin, one JSON event a line out.

    Each event goes to the log (beside the tool's stderr), into ``history`` (the last
    EVENT_HISTORY, for ``wait_for``) and to every callable in ``listeners``, which run on
    the reader thread and must not block.
    """

    listeners: list[Callable[[SimEvent], None]] = field(default_factory=list)
    history: deque[SimEvent] = field(default_factory=lambda: deque(maxlen=EVENT_HISTORY))
    _cond: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _send_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _reader: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            self.process = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=log)
        finally:
            log.close()
        self._reader = threading.Thread(target=self._read, args=(self.process,),
                                        name=f"{self.name}-events", daemon=True)
        self._reader.start()

    def _read(self, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        with open(self.log_path, "ab", buffering=0) as log:
            for raw in process.stdout:
                log.write(raw)  # one write per line: it does not tear the tool's own stderr lines
                event = parse_event(raw)
                with self._cond:
                    self.history.append(event)
                    self._cond.notify_all()
                for listener in list(self.listeners):
                    try:
                        listener(event)
                    except Exception as exc:  # noqa: BLE001 - a listener's bug must not stop the events
                        log.write(f"# listener failed on {event}: {exc!r}\n".encode())
        with self._cond:
            self._cond.notify_all()  # the tool is gone: wake wait_for

    def send(self, line: str) -> None:
        """One command line to the tool (DistrictError when it is not running)."""
        p = self.process
        if p is None or p.poll() is not None or p.stdin is None:
            raise DistrictError(f"{self.name} is not running (command {line!r})")
        try:
            with self._send_lock:
                p.stdin.write(line.encode("utf-8") + b"\n")
                p.stdin.flush()
        except OSError as exc:
            raise DistrictError(f"{self.name}: command {line!r}: {exc}") from exc

    def wait_for(self, event: str, timeout: float = 10.0, **match: object) -> SimEvent | None:
        """The first EVENT matching MATCH in the history (or arriving within TIMEOUT), else None."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for item in self.history:
                    if matches(item, event, match):
                        return item
                left = deadline - time.monotonic()
                if left <= 0 or not self.running:
                    return None
                self._cond.wait(min(left, 0.2))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        p = self.process
        if p is not None and p.poll() is None and p.stdin is not None:
            try:
                p.stdin.close()  # end of input: the tool quits by itself (command_feed)
                p.wait(min(timeout, 3.0))
            except (OSError, subprocess.TimeoutExpired):
                pass
        code = super().stop(sig, timeout)
        if self._reader is not None:
            self._reader.join(2.0)
        return code


@dataclass
class AgentPhone:
    """An agent's analog phone: `anxin-sim handset` on one of the box's FXS ports."""

    extension: str
    port: Path
    handset: SimDevice


@dataclass
class Box:
    box_id: str
    config_path: Path
    data_dir: Path
    receiver: Pty
    alarmd: Proc
    syncd: Proc
    # With a simulated E1: the carrier's side (anxin-sim telco), the box's pbxd and the
    # agents' phones on its FXS ports.
    telco: SimDevice | None = None
    pbxd: Proc | None = None
    span_dir: Path | None = None
    phones: list[AgentPhone] = field(default_factory=list)
    keys_file: Path | None = None

    @property
    def db_path(self) -> Path:
        return self.data_dir / "box.db"

    @property
    def prompt_dir(self) -> Path:
        return self.data_dir / "prompts"

    @property
    def procs(self) -> list[Proc]:
        """Every process of the box (start_box starts the phones once pbxd listens)."""
        procs = [p for p in (self.telco, self.alarmd, self.pbxd) if p is not None]
        return procs + [phone.handset for phone in self.phones] + [self.syncd]


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
                ack_timeout: float = 2.0, start: bool = True, trunk: bool = False,
                phones: int | None = None, answer_after: float = 1.5,
                emergency_numbers: Sequence[str] = ()) -> Box:
        """A box with its alarm receiver; with TRUNK a simulated E1 and PHONES agents' phones.

        PHONES defaults to 2 with a trunk (0 without: calls only come in on a trunk).
        Phone K is extension 800K on port ``<span dir>/fxsK`` and lifts ANSWER_AFTER + K-1
        seconds after it starts ringing, so two phones rung for one call do not lift together.
        EMERGENCY_NUMBERS become ``[acd] emergency_numbers``: calls to them are alarms.
        """
        phones = (2 if trunk else 0) if phones is None else phones
        if not 0 <= phones <= 99:
            raise ValueError(f"phones must be 0..99 (extensions 8001…8099), got {phones}")
        if phones and not trunk:
            raise ValueError("phones need trunk=True: calls reach the agents' phones from the E1 trunk")
        if emergency_numbers and not trunk:
            raise ValueError("emergency_numbers need trunk=True: emergency phones call in on the E1 trunk")
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
        # AF_UNIX paths are short (108 bytes): the span's and the phones' sockets live under /tmp.
        span_dir = Path(tempfile.mkdtemp(prefix=f"anxin-{box_id[-12:]}-", dir="/tmp")) if trunk else None
        ports = [span_dir / f"fxs{k}" for k in range(1, phones + 1)] if span_dir else []
        keys_file = self._recording_keys(box_id) if phones else None
        if span_dir is not None:
            with config.open("a", encoding="utf-8") as f:
                f.write(f'\n[[telephony.spans]]\nname = "span1"\nurl = "sim://{span_dir}"\n'
                        f'area_code = "29"\n')
                for k, port in enumerate(ports, start=1):
                    f.write(f'\n[[telephony.fxs]]\nurl = "sim://{port}"\nextension = "{8000 + k}"\n')
                if keys_file is not None:
                    f.write(f'\n[recording]\nkeys_file = "{keys_file}"\n')
                if emergency_numbers:
                    # A JSON list of digit strings is a TOML array as it stands.
                    f.write(f"\n[acd]\nemergency_numbers = {json.dumps(list(emergency_numbers))}\n")
        if phones:
            self._generate_prompts(config)  # pbxd refuses to start without them
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        box = Box(box_id, config, data, receiver,
                  Proc(f"{box_id}-alarmd", _python_module("appliance.cli", "alarmd", "--config",
                                                          str(config)), env, data / "alarmd.log"),
                  Proc(f"{box_id}-syncd", _python_module("appliance.cli", "syncd", "--config",
                                                         str(config)), env, data / "syncd.log"),
                  keys_file=keys_file)
        if span_dir is not None:
            box.span_dir = span_dir
            box.telco = SimDevice(f"{box_id}-telco", _python_module(
                "drivers.sim_cli", "telco", "--dir", str(span_dir),
                "--capture", str(data / "telco-span1.pcap")), env, data / "telco.log")
            box.pbxd = Proc(f"{box_id}-pbxd", _python_module("appliance.cli", "pbxd", "--config",
                                                              str(config)), env, data / "pbxd.log")
            for k, port in enumerate(ports, start=1):
                extension = str(8000 + k)
                # The handset retries until pbxd listens on the port (pbxd owns it).
                box.phones.append(AgentPhone(extension, port, SimDevice(
                    f"{box_id}-phone-{extension}", _python_module(
                        "drivers.sim_cli", "handset", "--port", str(port),
                        "--answer-after", f"{answer_after + k - 1:g}"),
                    env, data / f"phone-{extension}.log")))
        self.boxes[box_id] = box
        if start:
            self.start_box(box)
        return box

    def start_box(self, box: Box) -> None:
        """Start the box's processes; the phones once pbxd listens on their ports."""
        for proc in (box.telco, box.alarmd, box.pbxd, box.syncd):
            if proc is not None:
                proc.start()
        if box.phones and box.pbxd is not None:
            # pbxd creates the ports when it listens. The handsets would retry anyway; waiting
            # keeps their logs clean. Bounded: a pbxd that fails is in its log, not a hang here.
            deadline = time.monotonic() + 15.0
            while (not all(phone.port.exists() for phone in box.phones) and box.pbxd.running
                   and time.monotonic() < deadline):
                time.sleep(0.05)
        for phone in box.phones:
            phone.handset.start()

    def _recording_keys(self, box_id: str) -> Path:
        """The box's recording key file, issued once, kept outside its data (never beside the audio)."""
        from appliance.recording.keys import Keyring, generate_key, write_keyring

        secrets = self.workdir / "secrets" / box_id
        secrets.mkdir(parents=True, exist_ok=True)
        for d in (secrets.parent, secrets):
            d.chmod(0o700)
        path = secrets / "recording.keys"
        if not path.exists():  # a rerun in the same workdir must still open its old recordings
            write_keyring(path, Keyring([generate_key(1)]),
                          comment=f"Anxin recording keys of box {box_id}, issued {date.today()} "
                                  "by the demo district (provisioning/district.py).")
        return path

    def _generate_prompts(self, config: Path) -> None:
        """The IVR's Mandarin prompts, by the install step a technician runs."""
        done = subprocess.run(_python_module("appliance.cli", "prompts", "generate", "--config",
                                             str(config)), capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise DistrictError(f"anxin-box prompts generate --config {config} failed: "
                                f"{(done.stderr or done.stdout).strip()}")

    def import_registry(self, box_id: str, csv_path: Path) -> str:
        """Residents and their devices into the box's registry, by the technician's step
        (`anxin-box import-registry`); what it printed."""
        box = self.boxes[box_id]
        done = subprocess.run(_python_module("appliance.cli", "import-registry", "--config",
                                             str(box.config_path), str(csv_path)),
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise DistrictError(f"anxin-box import-registry --config {box.config_path} {csv_path} failed: "
                                f"{(done.stderr or done.stdout).strip()}")
        return done.stdout.strip()

    def wait_phones(self, box_id: str, timeout: float = 15.0) -> list[str]:
        """The extensions of the box whose handsets connected to their port within TIMEOUT."""
        deadline = time.monotonic() + timeout
        return [phone.extension for phone in self.boxes[box_id].phones
                if phone.handset.wait_for("connected", max(0.0, deadline - time.monotonic()))]

    def call_records(self, box_id: str) -> list[dict[str, Any]]:
        """The box's call records (table `calls` of its box.db), oldest first; [] before any."""
        return self._box_rows(box_id, "SELECT * FROM calls ORDER BY started_at")

    def alarm_signals(self, box_id: str) -> list[dict[str, Any]]:
        """The alarm signals the box stored (table `alarm_signals`), oldest first; [] before any."""
        return self._box_rows(box_id, "SELECT * FROM alarm_signals ORDER BY received_at")

    def _box_rows(self, box_id: str, query: str) -> list[dict[str, Any]]:
        path = self.boxes[box_id].db_path
        if not path.exists():
            return []
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
        except sqlite3.Error:
            return []
        try:
            conn.row_factory = sqlite3.Row
            rows = conn.execute(query).fetchall()
        except sqlite3.OperationalError:  # the daemons have not created the table yet
            return []
        finally:
            conn.close()
        return [dict(row) for row in rows]

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
            if box.span_dir is not None:  # only the span's and the phones' sockets
                shutil.rmtree(box.span_dir, ignore_errors=True)
        for proc in (self.ingest, self.serve):
            if proc:
                proc.stop()
        if self.broker:
            self.broker.stop()

    def __enter__(self) -> District:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
