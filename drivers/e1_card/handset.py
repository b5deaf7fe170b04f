"""An agent's analog phone on a simulated FXS port (``anxin-sim handset --port PATH``).

It connects to the box's port (CONTRACTS §4), answers every 20 ms audio datagram of the
box with one of its own (so the box's clock drives it, as a real line would), and does
what it is told, one command per line on stdin or from ``--script``:

    off | on | flash | dtmf DIGITS | play tone FREQ[+FREQ] SECONDS | play file PATH
    record PATH | stop | wait SECONDS | status | quit

It reports what the box does as JSON lines on stdout: ``{"event":"ring","on":true}``,
``{"event":"cid","number":…,"name":…}``, ``{"event":"tone","name":"dial"}``.
``--answer-after S`` lifts the handset S seconds after ringing starts, like an agent
who picks up; ``--hangup-after S`` puts it down S seconds after lifting it.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
from pathlib import Path
from typing import Any, TextIO

from drivers.e1_card import g711
from drivers.e1_card.command_feed import CommandError
from drivers.e1_card.errors import SpanError
from drivers.e1_card.fxs import FRAME_BYTES, Audio
from drivers.e1_card.sim_audio import Recorder, read_alaw
from drivers.e1_card.sim_fxs import CallerId, Ring, SimHandsetLink, Tone

RECONNECT_DELAY = 0.5


class Handset:
    """The simulated phone: a SimHandsetLink plus hook state, a player and a recorder."""

    def __init__(self, port: Path, *, answer_after: float | None = None,
                 hangup_after: float | None = None, out: TextIO | None = None) -> None:
        self.port = port
        self.answer_after, self.hangup_after = answer_after, hangup_after
        self.out = out or sys.stdout
        self.link: SimHandsetLink | None = None
        self.off_hook = False
        self.ringing = False
        self.player = bytearray()
        self.recorder: Recorder | None = None
        self.frames_heard = 0
        self._stopping = asyncio.Event()
        self._pending: asyncio.TimerHandle | None = None

    def emit(self, event: str, **fields: Any) -> None:
        print(json.dumps({"event": event, **fields}, ensure_ascii=False), file=self.out, flush=True)

    async def run(self, commands: asyncio.Queue[str] | None = None) -> None:
        loop = asyncio.get_running_loop()
        while self.link is None:
            try:
                self.link = SimHandsetLink(self.port)
            except SpanError as exc:
                self.emit("waiting", message=str(exc))
                await asyncio.sleep(RECONNECT_DELAY)
        loop.add_reader(self.link.fileno(), self._on_readable)
        self.emit("connected", port=str(self.port))
        task = asyncio.ensure_future(self._commands(commands)) if commands is not None else None
        try:
            await self._stopping.wait()
        finally:
            if task:
                task.cancel()
            loop.remove_reader(self.link.fileno())
            if self.recorder:
                self.recorder.close()
            self.link.close()

    def stop(self) -> None:
        self._stopping.set()

    async def _commands(self, queue: asyncio.Queue[str]) -> None:
        while True:
            line = await queue.get()
            try:
                await self.execute(line)
            except (CommandError, SpanError, ValueError, OSError) as exc:
                # A typo or a missing file is the operator's; the phone keeps working.
                self.emit("error", command=line.strip(), message=f"{type(exc).__name__}: {exc}")

    async def execute(self, line: str) -> None:
        if line.lstrip().startswith("#"):
            return  # a comment line; '#' inside a line is a DTMF digit
        try:
            words = shlex.split(line.strip())
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if not words:
            return
        verb, args = words[0], words[1:]
        link = self._link()
        if verb == "off":
            self.lift()
        elif verb == "on":
            self.hang_up()
        elif verb == "flash":
            link.flash()
        elif verb == "dtmf" and len(args) == 1:
            link.dtmf(args[0])
        elif verb == "play" and len(args) == 3 and args[0] == "tone":
            self.player += g711.tone(tuple(float(f) for f in args[1].split("+")), float(args[2]))
        elif verb == "play" and len(args) == 2 and args[0] == "file":
            self.player += read_alaw(Path(args[1]))
        elif verb == "record" and len(args) == 1:
            if self.recorder:
                self.recorder.close()
            self.recorder = Recorder(Path(args[0]))
        elif verb == "stop":
            self.player.clear()
            if self.recorder:
                self.recorder.close()
                self.recorder = None
        elif verb == "wait" and len(args) == 1:
            await asyncio.sleep(float(args[0]))
        elif verb == "status":
            self.emit("status", off_hook=self.off_hook, ringing=self.ringing, frames_heard=self.frames_heard)
        elif verb == "quit":
            self.stop()
        else:
            raise CommandError(f"unknown command {line.strip()!r}")

    def lift(self) -> None:
        self._link().hook_off()
        self.off_hook = True
        self.emit("hook", state="off")
        if self.hangup_after is not None:
            self._schedule(self.hangup_after, self.hang_up)

    def hang_up(self) -> None:
        self._link().hook_on()
        self.off_hook = False
        self.emit("hook", state="on")

    def _schedule(self, delay: float, action: Any) -> None:
        if self._pending:
            self._pending.cancel()
        self._pending = asyncio.get_running_loop().call_later(delay, action)

    def _link(self) -> SimHandsetLink:
        if self.link is None:
            raise CommandError("not connected to the port yet")
        return self.link

    def _on_readable(self) -> None:
        link = self._link()
        try:
            while (event := link.read_event()) is not None:
                self._on_event(event)
        except SpanError as exc:
            self.emit("disconnected", message=str(exc))
            self.stop()

    def _on_event(self, event: object) -> None:
        if isinstance(event, Audio):
            self.frames_heard += 1
            if self.recorder is not None and self.off_hook:
                self.recorder.write(event.samples)
            chunk = bytes(self.player[:FRAME_BYTES])
            del self.player[:FRAME_BYTES]
            # One datagram back per tick: the box's clock drives the phone.
            self._link().write_audio(chunk.ljust(FRAME_BYTES, bytes([g711.ALAW_IDLE])))
        elif isinstance(event, Ring):
            self.ringing = event.on
            self.emit("ring", on=event.on)
            if event.on and not self.off_hook and self.answer_after is not None:
                self._schedule(self.answer_after, lambda: self.lift() if self.ringing else None)
        elif isinstance(event, CallerId):
            self.emit("cid", number=event.number, name=event.name)
        elif isinstance(event, Tone):
            self.emit("tone", name=event.name)
