"""pbxd: owns the E1 spans (and, with call control, the FXS ports).

The daemon frame (appliance/daemon.py) calls start/healthy/status/stop from its own
thread; the telephony runs in one asyncio loop on a thread of its own, so no device I/O
ever waits on the frame, the bus or the hub.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

from appliance.acd.engine import AcdError
from appliance.acd.missed import MissedCallError
from appliance.bus import LocalBus
from appliance.config import Config
from appliance.pbx import control
from appliance.pbx.callback_tasks import task_body
from appliance.pbx.phone_sessions import PhoneSessionError
from appliance.pbx.trunks import TrunkService

log = logging.getLogger("pbxd")

RETENTION_FIRST = 60.0       # seconds after start: the first retention run (not during start-up)
RETENTION_INTERVAL = 3600.0  # then hourly; a run takes well under a second on a box's disk
LIVE_INTERVAL = 2.0          # seconds between wallboard snapshots on the local bus
CALL_COMMANDS = ("live", "agent_state", "supervise", "dial", "tasks", "task_close", "task_reassign",
                 "task_dial")


class Pbxd:
    name = "pbxd"

    def __init__(self, config: Config) -> None:
        self.config = config
        self.bus = LocalBus(config.bus.mqtt_url, "pbxd")
        # With agents' phones the calls go through the IVR to them; without, trunks refuse (34).
        self.call_path = None
        if config.fxs:
            from appliance.pbx.call_path import CallPath
            self.call_path = CallPath(config)  # CallPathError (a ValueError) names what to fix
            self.call_path.on_alarm = self._alarm
            self.call_path.publish = self.bus.publish   # queue events, agent states
        self.trunks = TrunkService(config.spans, on_state=self._publish, call_path=self.call_path)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="pbxd-loop", daemon=True)
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._server: asyncio.AbstractServer | None = None
        self._retention: asyncio.Future[None] | None = None
        self._live: asyncio.Future[None] | None = None
        self.control_path = control.socket_path(config.box.data_dir)

    def start(self) -> None:
        self.config.box.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.config.spans:
            log.warning("no [[telephony.spans]] configured: pbxd has no trunk to bring up")
        self.bus.start()
        self._thread.start()
        if not self._ready.wait(10):
            raise ValueError("pbxd: the telephony loop did not start within 10 s")
        if self._failed is not None:
            raise ValueError(f"pbxd: {self._failed}")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._start())
        except Exception as exc:  # noqa: BLE001 - reported to start() and the exit status
            self._failed = exc
            self.loop.run_until_complete(self.trunks.stop())  # what did start is closed
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.trunks.stop())
        self.loop.close()

    async def _start(self) -> None:
        await self.trunks.start()
        self._server = await control.serve(self.control_path, self._command)
        log.info("control socket %s", self.control_path)
        if self.call_path is not None:
            self._retention = asyncio.ensure_future(self._retention_job())
            self._live = asyncio.ensure_future(self._live_job())

    async def _live_job(self) -> None:
        """The supervisors' wallboard on the local bus (`pbx/live`), every LIVE_INTERVAL."""
        assert self.call_path is not None
        while True:
            await asyncio.sleep(LIVE_INTERVAL)
            try:
                view = self.call_path.acd.live_view()
                view |= {"box_id": self.config.box.id, "trunks": self.trunks.states()}
                self.bus.publish("pbx/live", view)
            except Exception:  # the wallboard may miss a beat; calls must not
                log.exception("live view")

    async def _retention_job(self) -> None:
        """Recording retention, off the loop's thread (it unlinks files and writes box.db)."""
        assert self.call_path is not None
        await asyncio.sleep(RETENTION_FIRST)
        while True:
            try:
                run = await self.loop.run_in_executor(None, self.call_path.run_retention)
                if run.deleted:
                    log.info("录音清理: 删除 %d 条", len(run.deleted))
            except Exception:  # the job must come back next hour, whatever failed
                log.exception("录音清理失败 (retention run failed)")
            await asyncio.sleep(RETENTION_INTERVAL)

    def _alarm(self, alarm: dict[str, Any]) -> None:
        """To the supervisor's console (from the retention worker thread: bus publish is thread-safe)."""
        self.bus.publish(f"pbx/alarm/{alarm['alarm']}", alarm)

    def _command(self, request: dict[str, Any]) -> dict[str, Any]:
        cmd = request.get("cmd")
        if cmd == "status":
            return {"trunks": self.trunks.states()}
        if cmd == "capture":
            span = request.get("span")
            if not isinstance(span, str):
                raise ValueError("capture needs \"span\": the span's name")
            file = request.get("file")
            state = self.trunks.capture(span, bool(request.get("on")), Path(file) if file else None,
                                        self.config.box.data_dir / "traces")
            return {"trunk": state}
        if cmd in CALL_COMMANDS:
            if self.call_path is None:
                raise ValueError(f"{cmd}: this box has no agents' phones ([[telephony.fxs]])")
            return self._call_command(cmd, request)
        raise ValueError(f"unknown command {cmd!r} (status, capture, {', '.join(CALL_COMMANDS)})")

    def _call_command(self, cmd: str, request: dict[str, Any]) -> dict[str, Any]:
        """Supervisors' and the console's requests (班长席), on the loop's thread."""
        assert self.call_path is not None
        acd = self.call_path.acd

        def field(name: str) -> str:
            value = request.get(name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{cmd} needs {name!r} (a string)")
            return value

        by = request.get("by") if isinstance(request.get("by"), str) else None
        try:
            if cmd == "live":
                return acd.live_view()
            if cmd == "agent_state" and request.get("state") == "mobile":
                number = acd.login_mobile(field("agent"), request.get("number") or None, by=by)
                return {"agent_id": request["agent"], "state": "ready", "mobile": number}
            if cmd == "agent_state":
                phone = request.get("phone") if isinstance(request.get("phone"), str) else None
                return acd.set_agent_state(field("agent"), field("state"), reason=request.get("reason"),
                                           by=by, phone=phone)
            if cmd == "supervise":
                session = acd.sessions.supervise(field("mode"), field("agent"), field("phone"), by=by)
                return {"phone": session.url, "mode": session.mode, "state": session.state,
                        "call_id": session.call_id}
            if cmd == "dial":
                session = acd.sessions.click_to_call(field("phone"), field("number"), by=by)
                return {"phone": session.url, "number": session.number, "state": session.state}
            if cmd == "tasks":
                agent = request.get("agent") if isinstance(request.get("agent"), str) else None
                return {"tasks": [task_body(t) for t in acd.tasks.open_tasks(agent)],
                        "response_rate": acd.tasks.response_rate()}
            if cmd == "task_close":
                closed = acd.close_task(field("task"), field("outcome"), by=by or "supervisor")
                return {"task": task_body(closed)}
            if cmd == "task_reassign":
                return {"task": task_body(acd.reassign_task(field("task"), field("agent"),
                                                            by=by or "supervisor"))}
            if cmd == "task_dial":
                task = acd.tasks.task(field("task"))
                if not task.open:
                    raise MissedCallError(f"task {task.task_id} is closed ({task.outcome})")
                session = acd.sessions.click_to_call(field("phone"), task.number, by=by, task_id=task.task_id)
                return {"phone": session.url, "number": session.number, "task_id": task.task_id}
        except (AcdError, PhoneSessionError, MissedCallError, KeyError) as exc:
            raise ValueError(str(exc)) from exc
        raise AssertionError(cmd)

    def _publish(self, state: dict[str, Any]) -> None:
        self.bus.publish(f"pbx/trunk/{state['name']}", state)

    def healthy(self) -> bool:
        """The loop runs and every trunk is watched. A fault caught in one call's handling
        (trunks.failures, logged) is not a reason for systemd to restart pbxd and drop the
        others' calls."""
        return self._thread.is_alive() and self._failed is None and self.trunks.watching()

    def status(self) -> str:
        """From the loop's snapshot: the frame's thread never touches a device."""
        if not self._ready.is_set():
            return "starting"
        trunks = self.trunks.snapshot()
        return "; ".join(f"{t['name']}: D-channel {t['d_channel']}" for t in trunks) or "no spans"

    def stop(self) -> None:
        if not self._thread.is_alive() and not self._ready.is_set():
            return  # never started
        if self.loop.is_running():
            if self._server is not None:
                self.loop.call_soon_threadsafe(self._server.close)
            for job in (self._retention, self._live):
                if job is not None:
                    self.loop.call_soon_threadsafe(job.cancel)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if self.call_path is not None:
            self.call_path.close()
        self.control_path.unlink(missing_ok=True)
        self.bus.stop()
