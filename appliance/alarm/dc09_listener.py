"""A DC-09 receiver on TCP or UDP: IP/GSM communicators report here (CONTRACTS §2).

One thread with a selector. Every connection has its own frame splitter; the decisions
(keys, timestamp window, supervision) are one shared sans-I/O Dc09Receiver. The rule is
the serial link's: a message is committed to box.db before its ACK leaves.
"""

from __future__ import annotations

import logging
import selectors
import socket
import sqlite3
import stat
import threading
import time
import tomllib
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from appliance.alarm.intake import SignalFacts, TroubleRequest, set_trouble, store_signal
from appliance.alarm.receivers import REOPEN_DELAY, ReceiverState
from appliance.clock import now_local
from appliance.config import AlarmReceiverConfig
from appliance.logs import fields
from appliance.registry import lookup
from appliance.store import connect
from drivers.alarm_phone.dc09 import Dc09Message, Dc09Receiver, Poll, Rejected
from drivers.alarm_phone.dc09.framing import FrameSplitter
from drivers.alarm_phone.sia_codes import contact_id_for

log = logging.getLogger("dc09")

RECENT = 256  # (account, seq, payload) of recent messages: a retransmission is ACKed once more


def load_keys(path: Path) -> dict[str, str]:
    """`[keys]` table of account = "hex AES key" (TOML). Warns when others can read it."""
    try:
        mode = path.stat().st_mode
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"DC-09 keys file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"DC-09 keys file {path}: not valid TOML: {exc}") from exc
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning("DC-09 keys file %s is readable by others; it should be mode 0600", path)
    keys = data.get("keys")
    if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
        raise ValueError(f"DC-09 keys file {path}: expected a [keys] table of account = \"hex key\"")
    return keys


class Dc09Listener(threading.Thread):
    def __init__(self, cfg: AlarmReceiverConfig, box_id: str, db_path: Any, stop: threading.Event,
                 on_signal: Callable[[dict], None] | None = None,
                 on_trouble: Callable[[dict], None] | None = None,
                 clock: Callable[[], float] = time.time,
                 wall: Callable[[], datetime] = now_local) -> None:
        super().__init__(name=f"dc09-{cfg.name}", daemon=True)
        url = urlsplit(cfg.port)
        self.transport, self.address = url.scheme, (url.hostname or "0.0.0.0", url.port or 0)
        keys = load_keys(cfg.keys_file) if cfg.keys_file else {}
        intervals = dict.fromkeys(keys, cfg.poll_interval) if cfg.poll_interval else None
        self.core = Dc09Receiver(keys=keys, require_encryption=cfg.require_encryption,
                                 null_intervals=intervals)
        self.cfg, self.box_id, self.db_path, self.stop = cfg, box_id, db_path, stop
        self.on_signal, self.on_trouble = on_signal, on_trouble
        self.clock, self.wall = clock, wall
        self.state = ReceiverState()
        self.bound_port: int | None = None
        self._recent: OrderedDict[tuple[str, str, str], float] = OrderedDict()
        self._overdue: set[str] = set()

    # -- thread ------------------------------------------------------------------------
    def run(self) -> None:
        conn = connect(self.db_path)
        try:
            while not self.stop.is_set():
                try:
                    listener = self._bind()
                except OSError as exc:
                    self.state.port_open, self.state.last_error = False, f"binding {self.cfg.port}: {exc}"
                    log.error("cannot listen", extra=fields(receiver=self.cfg.name, error=str(exc)))
                    self.stop.wait(REOPEN_DELAY)
                    continue
                try:
                    self._serve(listener, conn)
                except Exception:  # keep listening whatever one message did
                    log.exception("DC-09 loop failed; listening again", extra=fields(
                        receiver=self.cfg.name))
                finally:
                    listener.close()
                    self.state.port_open = False
        finally:
            conn.close()

    def _bind(self) -> socket.socket:
        kind = socket.SOCK_STREAM if self.transport == "tcp" else socket.SOCK_DGRAM
        sock = socket.socket(socket.AF_INET, kind)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(self.address)
        if self.transport == "tcp":
            sock.listen(64)
        sock.setblocking(False)
        self.bound_port = sock.getsockname()[1]
        self.state.port_open, self.state.last_error = True, ""
        log.info("DC-09 receiver listening", extra=fields(receiver=self.cfg.name,
                                                          url=f"{self.transport}://{self.address[0]}:{self.bound_port}"))
        return sock

    def _serve(self, listener: socket.socket, conn: sqlite3.Connection) -> None:
        sel = selectors.DefaultSelector()
        sel.register(listener, selectors.EVENT_READ, None)
        try:
            while not self.stop.is_set():
                for key, _ in sel.select(timeout=0.2):
                    if key.fileobj is listener and self.transport == "tcp":
                        client, peer = listener.accept()
                        client.setblocking(False)
                        sel.register(client, selectors.EVENT_READ, (FrameSplitter(), peer))
                    elif key.fileobj is listener:
                        data, peer = listener.recvfrom(65535)
                        for reply in self._frames(conn, data, None):
                            listener.sendto(reply, peer)
                    else:
                        self._read_connection(sel, key, conn)
                self._supervise(conn)
        finally:
            for key in list(sel.get_map().values()):
                if key.fileobj is not listener:
                    key.fileobj.close()
            sel.close()

    def _read_connection(self, sel: selectors.BaseSelector, key: selectors.SelectorKey,
                         conn: sqlite3.Connection) -> None:
        sock: socket.socket = key.fileobj  # type: ignore[assignment]
        splitter, _peer = key.data
        try:
            data = sock.recv(4096)
        except (ConnectionError, BlockingIOError):
            data = b""
        if not data:
            sel.unregister(sock)
            sock.close()
            return
        for reply in self._frames(conn, data, splitter):
            sock.setblocking(True)
            try:
                sock.sendall(reply)
            except OSError as exc:
                log.warning("could not answer a communicator: %s", exc)
            finally:
                sock.setblocking(False)

    def _frames(self, conn: sqlite3.Connection, data: bytes, splitter: FrameSplitter | None
                ) -> list[bytes]:
        if splitter is None:  # UDP: one datagram, normally one frame
            items = [data]
        else:
            splitter.feed(data)
            items = []
            while (item := splitter.next_item()) is not None:
                items.append(item.raw)
            if splitter.pending() > 8192:  # cannot be a frame any more
                flushed = splitter.next_item(final=True)
                if flushed is not None:
                    items.append(flushed.raw)
        replies = []
        for raw in items:
            reply = self.handle(conn, raw)
            if reply:
                replies.append(reply)
        return replies

    # -- decisions ---------------------------------------------------------------------
    def handle(self, conn: sqlite3.Connection, raw: bytes) -> bytes | None:
        """Commit what one frame says; return the response to send (after the commit)."""
        now = self.clock()
        replies = []
        for event in self.core.receive_datagram(raw, now):
            if isinstance(event, Rejected):
                log.warning("DC-09 frame rejected", extra=fields(
                    receiver=self.cfg.name, reason=event.reason, raw=event.raw[:80].hex(),
                    answer=(event.response or b"(none)")[:12]))
                if event.response:
                    replies.append(event.response)
            elif isinstance(event, Poll):
                self._heard(conn, event.account)
                replies.append(event.response)
            elif isinstance(event, Dc09Message):
                replies.append(self._message(conn, event, now))
        return b"".join(replies) or None

    def _message(self, conn: sqlite3.Connection, msg: Dc09Message, now: float) -> bytes:
        key = (msg.account, msg.seq, msg.payload)
        if key in self._recent and now - self._recent[key] < self.cfg.repeat_window:
            self.state.repeats += 1
            log.info("DC-09 retransmission, ACK again", extra=fields(account=msg.account, seq=msg.seq))
            return msg.response
        notes = []
        if not msg.encrypted:
            notes.append("unencrypted")
        if msg.sia is not None:
            notes.append(f"SIA-DCS {msg.sia.code} zone {msg.sia.zone}: {msg.sia.text or ''}".strip())
        if not msg.recognised:
            notes.append(f"{msg.id_token} payload not decoded: {msg.payload[:80]}")
        message = msg.contact_id
        if message is None and msg.sia is not None:
            message = contact_id_for(msg.sia.code, msg.account, msg.sia.zone)
        elder = lookup(conn, self.cfg.name, msg.account, msg.prefix)
        if elder is None:
            notes.append("未登记设备 unregistered device")
        facts = SignalFacts(self.cfg.name, "dc09", msg.raw, message,
                            receiver_no=msg.receiver, line=msg.prefix,
                            note="; ".join(notes) or None, elder=elder)
        stored = store_signal(conn, facts, self.wall(), box_id=self.box_id,
                              troubles=self._close_overdue(msg.account))
        self._recent[key] = now
        while len(self._recent) > RECENT:
            self._recent.popitem(last=False)
        self.state.signals += 1
        log.info("DC-09 signal stored", extra=fields(
            receiver=self.cfg.name, account=msg.account, seq=msg.seq, encrypted=msg.encrypted,
            code=stored.body["event_code"]))
        if self.on_signal:
            self.on_signal(stored.body)
        return msg.response

    def _close_overdue(self, account: str) -> tuple[TroubleRequest, ...]:
        if account not in self._overdue:
            return ()
        self._overdue.discard(account)
        return (TroubleRequest("fail_to_check_in", f"{self.cfg.name}:{account}", False,
                               "heard again", account),)

    def _heard(self, conn: sqlite3.Connection, account: str) -> None:
        self.state.heartbeats += 1
        for req in self._close_overdue(account):
            self._set(conn, req)

    def _supervise(self, conn: sqlite3.Connection) -> None:
        for account in self.core.overdue(self.clock()):
            if account not in self._overdue:
                self._overdue.add(account)
                self._set(conn, TroubleRequest("fail_to_check_in", f"{self.cfg.name}:{account}",
                                               True, f"no DC-09 message for {self.cfg.poll_interval:.0f}s",
                                               account))

    def _set(self, conn: sqlite3.Connection, req: TroubleRequest) -> None:
        body = set_trouble(conn, box_id=self.box_id, type=req.type, subject=req.subject,
                           open=req.open, at=self.wall(), detail=req.detail, account=req.account)
        if body and self.on_trouble:
            self.on_trouble(body)


__all__ = ["Dc09Listener", "load_keys"]
