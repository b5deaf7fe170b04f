"""The carrier's side of a simulated E1 (``anxin-sim telco --dir DIR``).

A network-role PriSpan on the listening end of CONTRACTS §3: it owns DIR, waits for a
box, keeps the D-channel up, clocks the media every 20 ms, places calls with the given
caller and called numbers, answers (or refuses) the box's outbound calls, plays tones
or files into a call's timeslot and records what the box sends on it, sends RESTART,
drops the link and signals layer-1 alarms. It is driven by commands, one per line on
stdin (or from ``--script``), and reports each event as one JSON line on stdout, so a
test or a technician's script can follow it:

    call ID CALLED [CALLING] [ts=N] [pres=restricted]   ->  {"event":"proceeding",...}
    answer ID | ring ID | hangup ID [CAUSE] | restart [TS...] | drop | alarms [los ais rai]
    capture on PATH | capture off
    play ID tone FREQ[+FREQ] SECONDS | play ID file PATH | record ID PATH | stop ID
    alarmphone ID DIGITS[,DIGITS...] [wait=S]  ->  {"event":"kissoff",...} {"event":"alarmphone_done",...}
    wait SECONDS (scripts) | status | quit

``alarmphone`` makes call ID an elder's one-button emergency phone (一键通): once the call
is answered it waits for the box's Contact ID handshake, sends each 16-digit message
(SIA DC-05, in-band DTMF) on the call's timeslot, and reports each kissoff it hears as
``{"event":"kissoff","id":ID,"digits":...,"attempt":N}`` (a message it gave up on as
``{"event":"alarmphone_gave_up","id":ID,"digits":...,"reason":...}``), then
``{"event":"alarmphone_done","id":ID,"sent":N,"failed":M}``. The call then stays up as a
voice call (``play``, ``record``) until it is hung up. ``wait=S`` is how long the phone
waits for the handshake (10 s by default) before it gives every message up.

Lines starting with ``{`` are the same commands as JSON: ``{"cmd":"call","id":"c1",
"called":"96101","calling":"13800138000"}``. Events name the call by its ID; calls the
box places get ids ``b1``, ``b2``, ….
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from appliance.media.g711 import alaw_to_linear, linear_to_alaw
from drivers.alarm_phone.inband import GaveUp, InbandSender, KissoffHeard
from drivers.e1_card import g711
from drivers.e1_card.command_feed import CommandError
from drivers.e1_card.errors import LocalProtocolError, PriError
from drivers.e1_card.q931 import events as ev
from drivers.e1_card.q931.causes import cause_text
from drivers.e1_card.q931.ies import Presentation
from drivers.e1_card.q931.numbers import TypeOfNumber, ton_from_name
from drivers.e1_card.sim import SimSpanServer
from drivers.e1_card.sim_audio import Recorder, read_alaw
from drivers.e1_card.span import SLOT_BYTES, MediaFrame
from drivers.e1_card.stack import LinkStateChanged, PriSpan

log = logging.getLogger("anxin.telco")

TICK = 0.020


@dataclass
class TelcoCall:
    id: str
    call_id: int
    direction: str  # "in" = the carrier calls the box; "out" = the box calls out
    timeslot: int | None = None
    player: bytearray = field(default_factory=bytearray)
    recorder: Recorder | None = None
    recorded: int = 0
    answered: bool = False
    alarm_messages: tuple[str, ...] = ()  # `alarmphone`: what to send once answered
    alarm_wait: float = 10.0  # … and how long to wait for the box's handshake
    alarmphone: InbandSender | None = None
    alarm_done_reported: bool = False


class TelcoSim:
    """The simulated carrier for one span directory."""

    def __init__(self, directory: Path, *, answer: str = "auto", answer_after: float = 0.5,
                 out: TextIO | None = None, capture: Path | None = None, name: str = "telco") -> None:
        if answer not in ("auto", "manual", "busy", "reject"):
            raise ValueError(f"answer must be auto, manual, busy or reject, not {answer!r}")
        self.server = SimSpanServer(directory, name=name)
        self.span = PriSpan(self.server, "network", name=name, capture=capture,
                            reconnect_delay=0.05)  # a box that connects is served at once
        self.span.media_taps.append(self._on_box_media)
        self.answer_mode, self.answer_after = answer, answer_after
        self.out = out or sys.stdout
        self.calls: dict[str, TelcoCall] = {}
        self._by_call_id: dict[int, TelcoCall] = {}
        self._outbound = 0
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self.media_ticks = 0

    # -- running ---------------------------------------------------------------------------

    async def run(self, commands: asyncio.Queue[str] | None = None) -> None:
        await self.span.start()
        self.emit("ready", dir=str(self.server.directory))
        self._tasks = [asyncio.ensure_future(self._events()), asyncio.ensure_future(self._clock())]
        if commands is not None:
            self._tasks.append(asyncio.ensure_future(self._commands(commands)))
        try:
            await self._stopping.wait()
        finally:
            for task in self._tasks:
                task.cancel()
            for call in self.calls.values():
                self._close_recorder(call)
            await self.span.close()

    def stop(self) -> None:
        self._stopping.set()

    def emit(self, event: str, **fields: Any) -> None:
        print(json.dumps({"event": event, **fields}, ensure_ascii=False), file=self.out, flush=True)

    async def _commands(self, queue: asyncio.Queue[str]) -> None:
        while True:
            line = await queue.get()
            try:
                await self.execute(line)
            except (CommandError, LocalProtocolError, PriError, ValueError, TypeError, OSError) as exc:
                # A typo or a missing file is the operator's; the line keeps running.
                self.emit("error", command=line.strip(), message=f"{type(exc).__name__}: {exc}")

    # -- commands ----------------------------------------------------------------------------

    async def execute(self, line: str) -> None:
        words, options = _parse(line)
        if not words:
            return
        verb, args = words[0], words[1:]
        handler: Callable[..., Any] | None = getattr(self, f"cmd_{verb}", None)
        if handler is None:
            raise CommandError(f"unknown command {verb!r}")
        result = handler(*args, **options)
        if asyncio.iscoroutine(result):
            await result

    def cmd_call(self, call: str, called: str, calling: str | None = None, ts: str | None = None,
                 pres: str = "allowed", ton: str = "unknown", called_ton: str = "unknown",
                 **_: Any) -> None:
        """call ID CALLED [CALLING] [ts=N] [pres=restricted] [ton=national|subscriber|…]"""
        if call in self.calls:
            raise CommandError(f"call id {call!r} is in use")
        options: dict[str, Any] = {"calling_ton": _ton(ton), "called_ton": _ton(called_ton)}
        if ts is not None:
            options.update(timeslot=int(ts), exclusive=True)
        if pres != "allowed":
            options["calling_presentation"] = Presentation.RESTRICTED
        call_id = self.span.setup(called, calling, **options)
        self._add(TelcoCall(call, call_id, "in"))

    def cmd_answer(self, call: str, **_: Any) -> None:
        self._answer(self._call(call))

    def _answer(self, call: TelcoCall) -> None:
        # The network side's own CONNECT yields no Answered event from the core: say it here.
        self.span.answer(call.call_id)
        call.timeslot = call.timeslot or self.span.q931.channel_of(call.call_id)
        self.emit("answered", id=call.id, timeslot=call.timeslot)
        self._on_answered(call)

    def cmd_ring(self, call: str, **_: Any) -> None:
        self.span.alerting(self._call(call).call_id, inband=True)

    def cmd_hangup(self, call: str, cause: str = "16", **_: Any) -> None:
        self.span.hangup(self._call(call).call_id, int(cause))

    def cmd_restart(self, *timeslots: str, **_: Any) -> None:
        self.span.restart(tuple(int(t) for t in timeslots) or None)

    def cmd_drop(self, **_: Any) -> None:
        self.span.drop_link()

    def cmd_capture(self, what: str, path: str | None = None, **_: Any) -> None:
        """capture on PATH | capture off: the D-channel trace, switched while the line runs."""
        if what == "on" and path:
            self.span.start_capture(Path(path))
        elif what == "off":
            self.span.stop_capture()
        else:
            raise CommandError("capture on PATH | capture off")
        self.emit("capture", file=str(self.span.capturing) if self.span.capturing else None)

    def cmd_alarms(self, *names: str, **_: Any) -> None:
        self.server.send_alarms(names)
        self.emit("alarms", sent=list(names))

    def cmd_play(self, call: str, kind: str, *args: str, **_: Any) -> None:
        target = self._call(call)
        if kind == "tone" and len(args) == 2:
            freqs = tuple(float(f) for f in args[0].split("+"))
            target.player += g711.tone(freqs, float(args[1]))
        elif kind == "file" and len(args) == 1:
            target.player += read_alaw(Path(args[0]))
        else:
            raise CommandError("play ID tone FREQ[+FREQ] SECONDS | play ID file PATH")

    def cmd_record(self, call: str, path: str, **_: Any) -> None:
        target = self._call(call)
        self._close_recorder(target)
        target.recorder = Recorder(Path(path))

    def cmd_stop(self, call: str, **_: Any) -> None:
        target = self._call(call)
        target.player.clear()
        self._close_recorder(target)

    def cmd_alarmphone(self, call: str, digits: str, wait: str = "10", **_: Any) -> None:
        """alarmphone ID DIGITS[,DIGITS...] [wait=SECONDS]: call ID sends these Contact ID
        messages once answered; WAIT is how long it waits for the box's handshake."""
        target = self._call(call)
        messages = tuple(d for d in digits.split(",") if d)
        InbandSender(messages, 0.0, handshake_timeout=float(wait))  # a typo is reported, not sent
        if target.alarmphone is not None:
            raise CommandError(f"call {call!r} is already an alarm phone")
        target.alarm_messages = messages
        target.alarm_wait = float(wait)
        if target.answered:
            self._on_answered(target)

    async def cmd_wait(self, seconds: str, **_: Any) -> None:
        await asyncio.sleep(float(seconds))

    def cmd_status(self, **_: Any) -> None:
        self.emit("status", link_up=self.span.link_up, media_ticks=self.media_ticks,
                  calls={c.id: {"timeslot": c.timeslot, "direction": c.direction}
                         for c in self.calls.values()},
                  idle_timeslots=list(self.span.q931.idle_timeslots()))

    def cmd_quit(self, **_: Any) -> None:
        self.stop()

    # -- events from the stack -------------------------------------------------------------------

    async def _events(self) -> None:
        while True:
            event = await self.span.events.get()
            try:
                self._on_event(event)
            except PriError as exc:  # a request the call's state refused: say so, carry on
                self.emit("error", message=str(exc))
            except Exception as exc:  # a simulator bug must not silence the line
                log.exception("telco: handling %r", event)
                self.emit("error", message=f"internal: {type(exc).__name__}: {exc}")

    def _on_event(self, event: object) -> None:
        if isinstance(event, LinkStateChanged):
            self.emit("link", up=event.up, reason=event.reason)
            return
        if isinstance(event, ev.Restarted):
            self.emit("restarted", timeslots=list(event.timeslots))
            return
        if isinstance(event, ev.IncomingCall):
            self._outbound += 1
            call = self._add(TelcoCall(f"b{self._outbound}", event.call_id, "out", event.timeslot))
            self.emit("incoming", id=call.id, called=event.called, calling=event.calling,
                      timeslot=event.timeslot)
            self._auto_answer(call)
            return
        call = self._by_call_id.get(getattr(event, "call_id", -1))
        if call is None:
            if isinstance(event, ev.ProtocolErrorReported):
                self.emit("protocol_error", cause=event.cause, text=event.text)
            return
        if call.timeslot is None:  # the network chose it in SETUP, or the box in its answer
            call.timeslot = self.span.q931.channel_of(call.call_id)
        if isinstance(event, ev.Proceeding):
            call.timeslot = event.timeslot or call.timeslot
            self.emit("proceeding", id=call.id, timeslot=event.timeslot)
        elif isinstance(event, ev.Ringing):
            self.emit("ringing", id=call.id)
        elif isinstance(event, ev.Answered):
            self.emit("answered", id=call.id, timeslot=call.timeslot)
            self._on_answered(call)
        elif isinstance(event, ev.Digits):
            self.emit("digits", id=call.id, digits=event.digits)
        elif isinstance(event, ev.Hangup):
            self.emit("hangup", id=call.id, cause=event.cause, text=cause_text(event.cause))
            self.span.hangup(call.call_id, 16)
        elif isinstance(event, ev.Released):
            self._close_recorder(call)
            self.calls.pop(call.id, None)
            self._by_call_id.pop(call.call_id, None)
            self.emit("released", id=call.id, cause=event.cause,
                      text=cause_text(event.cause) if event.cause else "")
        elif isinstance(event, ev.ProtocolErrorReported):
            self.emit("protocol_error", id=call.id, cause=event.cause, text=event.text)

    def _auto_answer(self, call: TelcoCall) -> None:
        if self.answer_mode == "manual":
            self.span.proceeding(call.call_id)
            return
        if self.answer_mode in ("busy", "reject"):
            self.span.hangup(call.call_id, 17 if self.answer_mode == "busy" else 21)
            return
        self.span.proceeding(call.call_id)
        self.span.alerting(call.call_id, inband=True)

        def answer() -> None:
            if call.id in self.calls:
                try:
                    self._answer(call)
                except PriError as exc:
                    log.info("auto-answer %s: %s", call.id, exc)

        asyncio.get_running_loop().call_later(self.answer_after, answer)

    # -- media: the line clock ---------------------------------------------------------------------

    async def _clock(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            deadline += TICK
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            if loop.time() - deadline > 1.0:
                deadline = loop.time()  # suspended: do not burst to catch up
            frame = MediaFrame()
            for call in self.calls.values():
                if call.timeslot is not None and call.alarmphone is not None and not call.alarmphone.done:
                    audio = call.alarmphone.next_frame(self._media_now())
                    frame[call.timeslot] = linear_to_alaw(audio).tobytes()
                    self._report_alarmphone(call)
                elif call.timeslot is not None and call.player:
                    frame[call.timeslot] = bytes(call.player[:SLOT_BYTES]).ljust(
                        SLOT_BYTES, bytes([g711.ALAW_IDLE]))
                    del call.player[:SLOT_BYTES]
            if self.server.send_media(bytes(frame)):
                self.media_ticks += 1

    def _on_box_media(self, frame: bytes) -> None:
        received = MediaFrame(frame)
        for call in self.calls.values():
            if call.recorder is not None and call.timeslot is not None:
                call.recorder.write(received[call.timeslot])
                call.recorded += SLOT_BYTES
            if call.alarmphone is not None and call.timeslot is not None and not call.alarmphone.done:
                call.alarmphone.feed(alaw_to_linear(received[call.timeslot]), self._media_now())
                self._report_alarmphone(call)

    # -- the one-button emergency phone (`alarmphone`) -------------------------------------------

    def _media_now(self) -> float:
        # The line's own clock (20 ms a frame), not the loop's: the in-band timings
        # (50 ms digits, 1.25 s waits) then hold however late asyncio runs a tick.
        return self.media_ticks * TICK

    def _on_answered(self, call: TelcoCall) -> None:
        call.answered = True
        if call.alarm_messages and call.alarmphone is None:
            call.alarmphone = InbandSender(call.alarm_messages, self._media_now(),
                                           handshake_timeout=call.alarm_wait)

    def _report_alarmphone(self, call: TelcoCall) -> None:
        sender = call.alarmphone
        if sender is None:
            return
        for event in sender.events():
            if isinstance(event, KissoffHeard):
                self.emit("kissoff", id=call.id, digits=event.digits, attempt=event.attempt)
            elif isinstance(event, GaveUp):
                self.emit("alarmphone_gave_up", id=call.id, digits=event.digits, reason=event.reason)
        if sender.done and not call.alarm_done_reported:
            call.alarm_done_reported = True
            self.emit("alarmphone_done", id=call.id, sent=sender.sent, failed=sender.failed)

    # -- bookkeeping ---------------------------------------------------------------------------

    def _add(self, call: TelcoCall) -> TelcoCall:
        self.calls[call.id] = call
        self._by_call_id[call.call_id] = call
        return call

    def _call(self, call: str) -> TelcoCall:
        try:
            return self.calls[call]
        except KeyError:
            raise CommandError(f"no call {call!r} (calls: {', '.join(self.calls) or 'none'})") from None

    def _close_recorder(self, call: TelcoCall) -> None:
        if call.recorder is not None:
            call.recorder.close()
            call.recorder = None


def _parse(line: str) -> tuple[list[str], dict[str, str]]:
    """Words and key=value options of a command line (or the JSON form)."""
    line = line.strip()
    if not line or line.startswith("#"):
        return [], {}
    if line.startswith("{"):
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CommandError(f"bad JSON: {exc}") from exc
        if not isinstance(data, dict) or "cmd" not in data:
            raise CommandError('a JSON command is {"cmd": ..., ...}')
        words = [str(data.pop("cmd"))]
        for key in ("id", "called", "calling", "kind", "path"):
            if key in data:
                words.append(str(data.pop(key)))
        words += [str(x) for x in data.pop("args", [])]
        return words, {k: str(v) for k, v in data.items()}
    try:
        parts = shlex.split(line)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    words = [p for p in parts if "=" not in p]
    options = dict(p.split("=", 1) for p in parts if "=" in p)
    return words, options


def _ton(name: str) -> TypeOfNumber:
    try:
        return ton_from_name(name)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
