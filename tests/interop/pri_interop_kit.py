"""Shared pieces of the libpri interop suite (test_pri_interop_user.py, _network.py).

* ``SpanEvents`` / ``TelcoLines``: wait for (and consume) what our stack reports — the
  PriSpan's event queue, or the telco simulator's JSON event lines — keeping the whole
  history for "this never happened" assertions.
* ``AsyncPeer``: the blocking libpri harness (libpri_peer.LibpriPeer) made awaitable, so
  waiting on libpri never stalls the event loop our stack runs in.
* ``read_trace``: a capture decoded with our own codecs (LAPD frame + Q.931 message per
  record, direction from the pseudo-header), for exact assertions on what crossed the line.
* ``tshark_report`` / ``check_capture`` / ``CaptureRegistry``: Wireshark's verdict on a
  capture — no malformed packet, no expert error or warning (except the few listed in
  ``ALLOWED_WARNINGS``), both directions present. The ``pri_captures`` fixture (tests/
  conftest.py) runs it on every capture a test wrote, after the test.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.e1_card.errors import RemoteProtocolError
from drivers.e1_card.lapd.frames import Frame, FrameKind, decode_frame
from drivers.e1_card.pcap import read_lapd_pcap
from drivers.e1_card.q931.ies import CallState, Cause, ChannelIdentification, RestartIndicator
from drivers.e1_card.q931.messages import Message, decode_message
from drivers.e1_card.roles import B_TIMESLOTS

B_CHANNELS: tuple[int, ...] = tuple(B_TIMESLOTS)
TSHARK = shutil.which("tshark") or "/usr/bin/tshark"
PI_WARN, PI_ERROR = 0x00600000, 0x00800000  # _ws.expert.severity values
USER_TO_NETWORK, NETWORK_TO_USER = "0", "1"  # tshark's lapd.direction
# Expert warnings tolerated in our captures: none so far. Add (substring, why) pairs here
# only with a reason; anything else at warning level fails the test that wrote it.
ALLOWED_WARNINGS: tuple[tuple[str, str], ...] = ()


# ---------------------------------------------------------------------------- our stack's events

class SpanEvents:
    """Everything a PriSpan put on its ``events`` queue; ``expect`` consumes in order."""

    def __init__(self, span: Any) -> None:
        self.span = span
        self.history: list[object] = []
        self._pending: list[object] = []

    def _take(self, event: object) -> None:
        self.history.append(event)
        self._pending.append(event)

    def drain(self) -> None:
        while True:
            try:
                self._take(self.span.events.get_nowait())
            except asyncio.QueueEmpty:
                return

    def _match(self, kind: type | tuple[type, ...], match: dict[str, object]) -> object | None:
        for i, event in enumerate(self._pending):
            if isinstance(event, kind) and all(getattr(event, k, None) == v for k, v in match.items()):
                return self._pending.pop(i)
        return None

    async def expect(self, kind: type | tuple[type, ...], timeout: float = 5.0, **match: object) -> Any:
        """The first pending event of ``kind`` whose attributes equal ``match`` (consumed)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self.drain()
            found = self._match(kind, match)
            if found is not None:
                return found
            left = deadline - loop.time()
            if left <= 0:
                recent = "\n".join(map(repr, self.history[-25:]))
                raise AssertionError(f"{self.span.name}: no {_kind_name(kind)} {match or ''} within "
                                     f"{timeout} s; last events:\n{recent}")
            try:
                self._take(await asyncio.wait_for(self.span.events.get(), left))
            except TimeoutError:
                pass

    def pending(self, kind: type | tuple[type, ...] = object) -> list[Any]:
        self.drain()
        return [e for e in self._pending if isinstance(e, kind)]

    def seen(self, kind: type | tuple[type, ...], **match: object) -> list[Any]:
        """Every event of ``kind`` so far (consumed or not) matching ``match``."""
        self.drain()
        return [e for e in self.history
                if isinstance(e, kind) and all(getattr(e, k, None) == v for k, v in match.items())]


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return "/".join(k.__name__ for k in kind) if isinstance(kind, tuple) else kind.__name__


class TelcoLines:
    """The telco simulator's stdout (one JSON event per line) as a waitable event list."""

    def __init__(self) -> None:
        self.history: list[dict[str, Any]] = []
        self._pending: list[dict[str, Any]] = []
        self._changed = asyncio.Event()

    def write(self, text: str) -> None:
        for line in text.splitlines():
            if line.strip():
                event = json.loads(line)
                self.history.append(event)
                self._pending.append(event)
                self._changed.set()

    def flush(self) -> None:
        pass

    def _match(self, event: str, match: dict[str, object]) -> dict[str, Any] | None:
        for i, item in enumerate(self._pending):
            if item["event"] == event and all(item.get(k) == v for k, v in match.items()):
                return self._pending.pop(i)
        return None

    async def expect(self, event: str, timeout: float = 5.0, **match: object) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = self._match(event, match)
            if found is not None:
                return found
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"telco: no {event} {match or ''} within {timeout} s; last events:\n"
                                     + "\n".join(map(json.dumps, self.history[-25:])))
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                pass

    def pending(self, event: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self._pending if event is None or e["event"] == event]

    def seen(self, event: str, **match: object) -> list[dict[str, Any]]:
        return [e for e in self.history
                if e["event"] == event and all(e.get(k) == v for k, v in match.items())]


# ---------------------------------------------------------------------------- libpri, awaitable

class AsyncPeer:
    """A started LibpriPeer whose blocking calls run in a worker thread."""

    def __init__(self, peer: Any) -> None:
        self.peer = peer

    async def _run(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(method, *args, **kwargs)

    async def expect(self, kind: str, timeout: float = 5.0, **fields: object) -> Any:
        return await self._run(self.peer.expect, kind, timeout, **fields)

    async def command(self, line: str) -> Any:
        return await self._run(self.peer.command, line)

    async def ping(self) -> None:
        await self._run(self.peer.ping)

    async def status(self) -> dict[str, int]:
        return await self._run(self.peer.status)

    async def call(self, call_id: int, called: str, calling: str | None = None, *,
                   channel: int | None = None, exclusive: bool = False) -> None:
        await self._run(self.peer.call, call_id, called, calling, channel=channel, exclusive=exclusive)

    async def proceeding(self, call_id: int) -> None:
        await self._run(self.peer.proceeding, call_id)

    async def alerting(self, call_id: int, inband: bool = False) -> None:
        await self._run(self.peer.alerting, call_id, inband)

    async def answer(self, call_id: int) -> None:
        await self._run(self.peer.answer, call_id)

    async def hangup(self, call_id: int, cause: int = 16) -> None:
        await self._run(self.peer.hangup, call_id, cause)

    async def reset(self, channel: int) -> None:
        await self._run(self.peer.reset, channel)

    async def restart(self) -> None:
        await self._run(self.peer.restart)

    async def auto(self, mode: str, cause: int | None = None) -> None:
        await self._run(self.peer.auto, mode, cause)

    def pending(self, kind: str | None = None) -> list[Any]:
        return self.peer.pending(kind)

    def seen(self, kind: str, **fields: object) -> list[Any]:
        wanted = {k: str(v) for k, v in fields.items()}
        return [e for e in list(self.peer.events)
                if e.kind == kind and all(e.fields.get(k) == v for k, v in wanted.items())]


# ---------------------------------------------------------------------------- captures, our decoding

@dataclass(frozen=True)
class TraceRecord:
    """One captured frame: when, which way, the LAPD frame and (I/UI frames) its Q.931 message."""

    ts: float
    sent: bool  # by the side that wrote the capture
    user_to_network: bool
    frame: Frame
    message: Message | None = None

    @property
    def direction(self) -> str:
        return "U->N" if self.user_to_network else "N->U"

    @property
    def name(self) -> str:
        return self.message.name if self.message is not None else self.frame.kind.name


def read_trace(path: Path) -> list[TraceRecord]:
    """Every record of a LINUX_LAPD capture decoded with our codecs (bad frames fail loudly)."""
    out = []
    for record in read_lapd_pcap(path):
        receiver = "network" if record.user_to_network else "user"
        frame = decode_frame(record.frame, receiver)
        message = None
        if frame.kind in (FrameKind.I, FrameKind.UI) and frame.info:
            try:
                message = decode_message(frame.info, sender="user" if record.user_to_network else "network")
            except RemoteProtocolError as exc:
                raise AssertionError(f"{path}: undecodable Q.931 in {frame.summary()}: {exc}") from exc
        out.append(TraceRecord(record.ts, record.sent, record.user_to_network, frame, message))
    return out


def frames_both_ways(path: Path) -> tuple[list[bytes], list[bytes]]:
    """(frames the capturing side sent, frames it received), each in capture order."""
    records = read_lapd_pcap(path)
    return [r.frame for r in records if r.sent], [r.frame for r in records if not r.sent]


def call_flow(trace: Iterable[TraceRecord]) -> list[tuple[str, str]]:
    """(direction, message name) of each Q.931 message of a call (not the global reference)."""
    return [(r.direction, r.message.name) for r in trace if r.message is not None and r.message.call_ref != 0]


def q931_summary(trace: Iterable[TraceRecord]) -> list[tuple[str, str, int | None, int | None]]:
    """(direction, message name, cause value, call state value) of each Q.931 message."""
    out = []
    for r in trace:
        if r.message is not None:
            cause, state = r.message.get(Cause), r.message.get(CallState)
            out.append((r.direction, r.message.name, cause.value if cause else None,
                        state.value if state else None))
    return out


def restart_summary(trace: Iterable[TraceRecord]) -> list[tuple[str, str, int | None, tuple[int, ...]]]:
    """(direction, message name, restart class, timeslots) on the global call reference."""
    out = []
    for r in trace:
        if r.message is not None and r.message.call_ref == 0:
            indicator, channel = r.message.get(RestartIndicator), r.message.get(ChannelIdentification)
            out.append((r.direction, r.message.name, indicator.restart_class if indicator else None,
                        channel.timeslots if channel else ()))
    return out


def link_summary(trace: Iterable[TraceRecord]) -> list[tuple[str, str]]:
    """(direction, frame kind) of the link-control frames: everything but I, RR, RNR, REJ."""
    data = (FrameKind.I, FrameKind.RR, FrameKind.RNR, FrameKind.REJ)
    return [(r.direction, r.frame.kind.name) for r in trace if r.frame.kind not in data]


# ---------------------------------------------------------------------------- captures, tshark's verdict

@dataclass
class TsharkReport:
    path: Path
    frames: int = 0
    directions: dict[str, int] = field(default_factory=dict)
    malformed: list[str] = field(default_factory=list)  # "frame N: info"
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)  # warnings ALLOWED_WARNINGS let through


def tshark_report(path: Path, *, allowed: Iterable[tuple[str, str]] = ALLOWED_WARNINGS) -> TsharkReport:
    """Decode the capture with tshark; sort its expert items by severity."""
    env = {**os.environ, "HOME": str(path.parent)}  # no personal Wireshark preferences
    proc = subprocess.run(
        [TSHARK, "-n", "-r", str(path), "-o", "lapd.use_gsm_sapi_values:FALSE", "-T", "json",
         "-e", "frame.number", "-e", "lapd.direction", "-e", "_ws.col.Info", "-e", "_ws.malformed",
         "-e", "_ws.expert.severity", "-e", "_ws.expert.message"],
        capture_output=True, text=True, env=env, timeout=60)
    complaints = [line for line in proc.stderr.splitlines()
                  if line.strip() and "Running as user" not in line]
    if proc.returncode != 0 or complaints:
        raise AssertionError(f"tshark failed on {path} (rc {proc.returncode}):\n{proc.stderr}")
    report = TsharkReport(path)
    allowed = tuple(allowed)
    for packet in json.loads(proc.stdout or "[]"):
        layers = packet["_source"]["layers"]
        number = layers["frame.number"][0]
        info = " ".join(layers.get("_ws.col.Info", []))
        report.frames += 1
        for direction in layers.get("lapd.direction", []):
            report.directions[direction] = report.directions.get(direction, 0) + 1
        if layers.get("_ws.malformed"):
            report.malformed.append(f"frame {number}: {info}")
        severities = layers.get("_ws.expert.severity", [])
        texts = layers.get("_ws.expert.message", [])
        for severity, text in zip(severities, texts, strict=False):
            item = f"frame {number} ({info}): {text}"
            if int(severity) >= PI_ERROR:
                report.errors.append(item)
            elif int(severity) >= PI_WARN:
                if any(pattern in text for pattern, _why in allowed):
                    report.allowed.append(item)
                else:
                    report.warnings.append(item)
    return report


def check_capture(path: Path) -> TsharkReport:
    """Assert tshark finds the capture clean and two-way (see the module docstring)."""
    assert path.exists() and path.stat().st_size > 24, f"{path}: capture missing or empty"
    report = tshark_report(path)
    assert report.frames > 0, f"{path}: tshark sees no frames"
    problems = report.malformed + report.errors + report.warnings
    assert not problems, f"{path}: tshark reports:\n" + "\n".join(problems)
    assert report.directions.get(USER_TO_NETWORK, 0) > 0, f"{path}: no User->Network frame"
    assert report.directions.get(NETWORK_TO_USER, 0) > 0, f"{path}: no Network->User frame"
    assert sum(report.directions.values()) == report.frames, f"{path}: frames without a LAPD direction"
    return report


class CaptureRegistry:
    """Hands out capture paths for a test and checks every one of them afterwards."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.paths: list[Path] = []

    def path(self, name: str) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{name}.pcap"
        assert path not in self.paths, f"capture {name} handed out twice"
        self.paths.append(path)
        return path

    def check_all(self) -> list[TsharkReport]:
        assert self.paths, "the test wrote no capture (every interop test must)"
        with ThreadPoolExecutor(max_workers=len(self.paths)) as pool:  # one tshark each, at once
            return list(pool.map(check_capture, self.paths))
