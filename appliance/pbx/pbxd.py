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

from appliance.bus import LocalBus
from appliance.config import Config
from appliance.pbx import control
from appliance.pbx.trunks import TrunkService

log = logging.getLogger("pbxd")

RETENTION_FIRST = 60.0       # seconds after start: the first retention run (not during start-up)
RETENTION_INTERVAL = 3600.0  # then hourly; a run takes well under a second on a box's disk


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
        raise ValueError(f"unknown command {cmd!r} (status, capture)")

    def _publish(self, state: dict[str, Any]) -> None:
        self.bus.publish(f"pbx/trunk/{state['name']}", state)

    def healthy(self) -> bool:
        return self._thread.is_alive() and self._failed is None and self.trunks.failures == 0

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
            if self._retention is not None:
                self.loop.call_soon_threadsafe(self._retention.cancel)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if self.call_path is not None:
            self.call_path.close()
        self.control_path.unlink(missing_ok=True)
        self.bus.stop()
