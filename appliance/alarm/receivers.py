"""One alarm receiver on a serial line: read, parse, commit, then ACK (CONTRACTS §5).

Runs in its own thread with blocking pyserial I/O: the critical path is read → commit
(fsync) → write ACK, with nothing else in between. Port failures (unplugged USB
adapter, missing pty) are retried forever and show in the daemon's status.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import serial

from appliance.alarm.devices import DeviceSupervisor
from appliance.alarm.intake import (
    SignalFacts,
    TroubleRequest,
    count_repeat,
    note_damaged,
    note_heartbeat,
    set_trouble,
    store_signal,
)
from appliance.alarm.protocols import serial_parser
from appliance.alarm.supervision import LinkSupervisor
from appliance.clock import now_local
from appliance.config import AlarmReceiverConfig
from appliance.logs import fields
from appliance.registry import lookup
from appliance.store import connect
from drivers.alarm_phone import surgard

log = logging.getLogger("receiver")

REOPEN_DELAY = 2.0
# A copy of a frame that reaches us less than this after we ACKed the original was sent
# before our ACK could arrive (we were busy committing): the receiver already took our
# one ACK as its answer, so answering the copy would ACK its *next* frame before that
# one is committed. A real retransmission after a lost ACK comes only after the
# receiver's 4 s ACK timeout, well outside this window, and is answered.
STALE_REPEAT_WINDOW = 1.0


@dataclass
class ReceiverState:
    """What the daemon reports about one receiver."""

    port_open: bool = False
    link_up: bool = True
    last_error: str = ""
    signals: int = 0
    heartbeats: int = 0
    damaged: int = 0
    repeats: int = 0


class ReceiverWorker(threading.Thread):
    def __init__(self, cfg: AlarmReceiverConfig, box_id: str, db_path: Any,
                 stop: threading.Event, on_signal: Callable[[dict], None] | None = None,
                 on_trouble: Callable[[dict], None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = now_local) -> None:
        super().__init__(name=f"receiver-{cfg.name}", daemon=True)
        self.cfg = cfg
        self._check_protocol()
        self.box_id, self.db_path, self.stop = box_id, db_path, stop
        self.on_signal, self.on_trouble = on_signal, on_trouble
        self.clock, self.wall = clock, wall
        self.state = ReceiverState()
        self.supervisor = LinkSupervisor(cfg.heartbeat_interval, clock())
        self.devices = DeviceSupervisor(cfg.test_interval, cfg.test_grace)
        self.busy_timeout_ms = 10_000
        self.stale_repeat_window = STALE_REPEAT_WINDOW
        self._last_stored: tuple[bytes, float, str] | None = None  # raw, ACKed at, signal_id

    def _check_protocol(self) -> None:
        try:
            serial_parser(self.cfg.protocol)  # refuse an unsupported protocol at start, by name
        except ValueError as exc:
            raise ValueError(f"receiver {self.cfg.name!r}: {exc}") from None

    # -- thread ------------------------------------------------------------------------
    def run(self) -> None:
        conn = connect(self.db_path, busy_timeout_ms=self.busy_timeout_ms)
        self._resume_trouble(conn)
        self._resume_last_signal(conn)
        self._resume_devices(conn)
        try:
            while not self.stop.is_set():
                port = self._open()
                if port is None:
                    self._supervise(conn)
                    self.stop.wait(REOPEN_DELAY)
                    continue
                try:
                    self._serve(port, conn)
                except (serial.SerialException, OSError) as exc:
                    self._port_failed(f"I/O error: {exc}")
                except Exception:  # never let one bad moment end alarm intake
                    log.exception("receiver loop failed; reopening the port",
                                  extra=fields(receiver=self.cfg.name))
                    self.stop.wait(REOPEN_DELAY)
                finally:
                    port.close()
                    self.state.port_open = False
        finally:
            conn.close()

    def _resume_last_signal(self, conn: sqlite3.Connection) -> None:
        """Remember the last stored frame across a restart.

        Stop-and-wait means at most one frame can have been committed without its ACK
        reaching the receiver (killed between commit and ACK); its retransmission must
        be recognised as a repeat, not stored twice.
        """
        row = conn.execute("SELECT raw, received_at, signal_id FROM alarm_signals WHERE receiver = ?"
                           " ORDER BY id DESC LIMIT 1", (self.cfg.name,)).fetchone()
        if row is None:
            return
        try:
            age = (self.wall() - datetime.fromisoformat(row[1])).total_seconds()
        except ValueError:
            return
        if 0 <= age <= self.cfg.repeat_window:
            self._last_stored = (bytes(row[0]), self.clock() - age, row[2])

    def _resume_devices(self, conn: sqlite3.Connection) -> None:
        """Each device's last periodic test, and which are already overdue, from box.db."""
        prefix = f"{self.cfg.name}:"
        overdue = {r[0][len(prefix):] for r in conn.execute(
            "SELECT subject FROM device_troubles WHERE type = 'fail_to_check_in' AND "
            "closed_at IS NULL AND subject LIKE ?", (prefix + "%",))}
        for account, last in conn.execute(
                "SELECT account, MAX(received_at) FROM alarm_signals WHERE receiver = ? AND "
                "event_code IN ('602', '603') GROUP BY account", (self.cfg.name,)):
            at = datetime.fromisoformat(last).timestamp()
            self.devices.restore(account, at, overdue=account in overdue)

    def _resume_trouble(self, conn: sqlite3.Connection) -> None:
        """A link trouble still open from before a restart is closed by the next frame."""
        row = conn.execute("SELECT 1 FROM device_troubles WHERE type = 'receiver_link' AND "
                           "subject = ? AND closed_at IS NULL", (self.cfg.name,)).fetchone()
        if row:
            self.supervisor.down = True
            self.state.link_up = False

    def _open(self) -> serial.SerialBase | None:
        try:
            port = serial.serial_for_url(self.cfg.port, baudrate=self.cfg.baudrate, timeout=0.2,
                                         write_timeout=2)
        except (serial.SerialException, OSError, ValueError) as exc:
            self._port_failed(f"opening {self.cfg.port}: {exc}")
            return None
        self.state.port_open, self.state.last_error = True, ""
        log.info("receiver port open", extra=fields(receiver=self.cfg.name, port=self.cfg.port))
        return port

    def _port_failed(self, why: str) -> None:
        if why != self.state.last_error:
            log.error("receiver port unavailable, retrying every %ss", REOPEN_DELAY,
                      extra=fields(receiver=self.cfg.name, error=why))
        self.state.port_open, self.state.last_error = False, why

    def _serve(self, port: serial.SerialBase, conn: sqlite3.Connection) -> None:
        parser = serial_parser(self.cfg.protocol)
        while not self.stop.is_set():
            data = port.read(max(1, port.in_waiting))
            if data:
                parser.receive_data(data)
                while (event := parser.next_event()) is not None:
                    reply = self._decide(conn, event)
                    if reply:
                        port.write(reply)
                        port.flush()
                        self._answered(event)
            self._supervise(conn)

    def _decide(self, conn: sqlite3.Connection, event: surgard.SurGardEvent) -> bytes | None:
        """`handle`, where a failed commit means no answer at all."""
        try:
            return self.handle(conn, event)
        except sqlite3.Error as exc:
            # Not committed, so no ACK; and no NAK either: the receiver retransmits
            # after its timeout, when the store may work again.
            self.state.last_error = f"box.db: {exc}"
            log.error("cannot commit signal; not acknowledging",
                      extra=fields(receiver=self.cfg.name, error=str(exc)))
            return None

    def _answered(self, event: surgard.SurGardEvent) -> None:
        """Our answer to EVENT has gone out: copies arriving soon after are stale."""
        if self._last_stored and self._last_stored[0] == event.raw:
            self._last_stored = (event.raw, self.clock(), self._last_stored[2])

    # -- decisions ---------------------------------------------------------------------
    def handle(self, conn: sqlite3.Connection, event: surgard.SurGardEvent) -> bytes | None:
        """Commit what EVENT says, then return the byte to answer (ACK/NAK)."""
        now = self.clock()
        name = self.cfg.name
        if isinstance(event, surgard.Damaged):
            self.state.damaged += 1
            log.warning("damaged frame, NAK", extra=fields(receiver=name, reason=event.reason,
                                                           raw=event.raw.hex()))
            note_damaged(conn, name)
            return surgard.NAK
        self._link_seen(conn, now)
        if isinstance(event, surgard.Heartbeat):
            self.state.heartbeats += 1
            note_heartbeat(conn, name, self.wall())
            return surgard.ACK
        last = self._last_stored
        if last and last[0] == event.raw and now - last[1] <= self.cfg.repeat_window:
            count_repeat(conn, last[2])
            self.state.repeats += 1
            if now - last[1] < self.stale_repeat_window:
                log.info("copy sent before our ACK arrived; not answered",
                         extra=fields(receiver=name, signal_id=last[2]))
                return None
            # The receiver repeats a frame whose ACK it missed: ACK again, store once.
            log.info("repeat of a stored signal (lost ACK), ACK again",
                     extra=fields(receiver=name, signal_id=last[2]))
            return surgard.ACK
        if isinstance(event, surgard.Signal):
            elder = lookup(conn, name, event.message.account, event.line)
            facts = SignalFacts(name, self.cfg.protocol, event.raw, event.message,
                                receiver_no=event.receiver, line=event.line, elder=elder,
                                note=None if elder else "未登记设备 unregistered device")
        else:  # Unrecognised: stored and ACKed, raised to the operator (CONTRACTS §5)
            facts = SignalFacts(name, self.cfg.protocol, event.raw, None,
                                note=getattr(event, "reason", "unrecognised"))
        received_at = self.wall()
        troubles: tuple[TroubleRequest, ...] = ()
        if facts.message is not None:
            msg = facts.message
            troubles = tuple(
                TroubleRequest(c.type, f"{name}:{c.account}", c.open, c.detail, c.account)
                for c in self.devices.on_signal(msg.account, msg.event_code, msg.qualifier,
                                                received_at.timestamp()))
        # Durable when it returns, together with the troubles this signal opens or closes.
        stored = store_signal(conn, facts, received_at, box_id=self.box_id, troubles=troubles)
        self._last_stored = (event.raw, now, stored.signal_id)
        self.state.signals += 1
        body = stored.body
        log.info("alarm signal stored", extra=fields(
            receiver=name, seq=stored.seq, account=body["account"], code=body["event_code"],
            qualifier=body["qualifier"], zone=body["zone"], recognised=body["recognised"]))
        if self.on_signal:
            self.on_signal(body)
        if self.on_trouble:
            for trouble in stored.troubles:
                self.on_trouble(trouble)
        return surgard.ACK

    def _link_seen(self, conn: sqlite3.Connection, now: float) -> None:
        change = self.supervisor.frame_seen(now)
        if change:
            self._trouble(conn, open=False, detail=f"link back after {change.silent_for:.0f}s")

    def _supervise(self, conn: sqlite3.Connection) -> None:
        wall = self.wall()
        for c in self.devices.poll(wall.timestamp()):
            try:
                body = set_trouble(conn, box_id=self.box_id, type=c.type,
                                   subject=f"{self.cfg.name}:{c.account}", open=c.open, at=wall,
                                   detail=c.detail, account=c.account)
            except sqlite3.Error:
                self.devices.not_recorded(c)
                raise
            if body:
                log.warning("device trouble %s", c.type, extra=fields(
                    receiver=self.cfg.name, account=c.account, detail=c.detail))
                if self.on_trouble:
                    self.on_trouble(body)
        change = self.supervisor.poll(self.clock())
        if change:
            detail = f"no frame or heartbeat for {change.silent_for:.0f}s"
            if not self.state.port_open:
                detail += f" ({self.state.last_error})"
            self._trouble(conn, open=True, detail=detail)

    def _trouble(self, conn: sqlite3.Connection, *, open: bool, detail: str) -> None:
        self.state.link_up = not open
        body = set_trouble(conn, box_id=self.box_id, type="receiver_link", subject=self.cfg.name,
                           open=open, at=self.wall(), detail=detail)
        if body:
            (log.error if open else log.info)(
                "receiver link trouble %s", "opened" if open else "closed",
                extra=fields(receiver=self.cfg.name, detail=detail))
            if self.on_trouble:
                self.on_trouble(body)
