"""The whole stack on the simulated span: our telco (network role) ↔ a box PriSpan (user role).

Both in one event loop over real SOCK_SEQPACKET sockets (CONTRACTS §3), media clocked
by the telco every 20 ms. What a call does end to end: signalling both ways, audio on
the timeslot both ways, number translation at the box's edge, link loss and recovery.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.e1_card import g711
from drivers.e1_card.errors import LocalProtocolError
from drivers.e1_card.numbering import china_local_plan
from drivers.e1_card.q931 import events as ev
from drivers.e1_card.sim import SimSpan
from drivers.e1_card.span import SLOT_BYTES
from drivers.e1_card.stack import LinkStateChanged, PriSpan
from drivers.e1_card.telco import TelcoSim

pytestmark = pytest.mark.timeout(60)


class Lines:
    """A file-like sink for the telco's JSON event lines that tests can wait on."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self._changed = asyncio.Event()

    def write(self, text: str) -> None:
        for line in text.splitlines():
            if line.strip():
                self.events.append(json.loads(line))
                self._changed.set()

    def flush(self) -> None:
        pass

    async def wait_for(self, event: str, timeout: float = 10.0, **match: object) -> dict:
        async def look() -> dict:
            seen = 0
            while True:
                for item in self.events[seen:]:
                    if item["event"] == event and all(item.get(k) == v for k, v in match.items()):
                        return item
                seen = len(self.events)
                self._changed.clear()
                await self._changed.wait()
        return await asyncio.wait_for(look(), timeout)


async def box_event(span: PriSpan, kind: type, timeout: float = 10.0, **match: object) -> object:
    async def look() -> object:
        while True:
            event = await span.events.get()
            if isinstance(event, kind) and all(getattr(event, k) == v for k, v in match.items()):
                return event
    return await asyncio.wait_for(look(), timeout)


@pytest.fixture
async def line() -> AsyncIterator[tuple[TelcoSim, Lines, PriSpan]]:
    directory = Path(tempfile.mkdtemp(prefix="anxin-span-", dir="/tmp"))
    out = Lines()
    telco = TelcoSim(directory, out=out, answer_after=0.1)
    commands: asyncio.Queue[str] = asyncio.Queue()
    runner = asyncio.ensure_future(telco.run(commands))
    await out.wait_for("ready")
    box = PriSpan(SimSpan(f"sim://{directory}"), "user", name="span1", numbering=china_local_plan("29"))
    await box.start()
    await box.wait_link_up()
    await out.wait_for("link", up=True)
    telco.commands = commands  # type: ignore[attr-defined]
    try:
        yield telco, out, box
    finally:
        await box.close()
        telco.stop()
        await asyncio.wait_for(runner, 5)


def tone_in(frames: list[bytes], timeslot: int) -> bytes:
    return b"".join(f[timeslot * SLOT_BYTES:(timeslot + 1) * SLOT_BYTES] for f in frames)


async def test_incoming_call_answered_with_audio_both_ways(line, tmp_path: Path) -> None:
    telco, out, box = line
    await telco.execute("call c1 96101 88881234 ton=subscriber")
    incoming = await box_event(box, ev.IncomingCall)
    assert isinstance(incoming, ev.IncomingCall)
    # A local subscriber arrives as 8 digits; the box's rules make it dialable: 029…
    assert incoming.called == "96101"
    assert (incoming.calling, incoming.calling_ton) == ("02988881234", "unknown")
    ts = incoming.timeslot
    assert ts in range(1, 32) and ts != 16
    box.proceeding(incoming.call_id)
    box.alerting(incoming.call_id)
    await out.wait_for("ringing", id="c1")
    box.answer(incoming.call_id)
    answered = await out.wait_for("answered", id="c1")
    assert answered["timeslot"] == ts

    heard: list[bytes] = []
    box.media_taps.append(heard.append)
    await telco.execute("play c1 tone 450 0.6")
    await telco.execute(f"record c1 {tmp_path / 'box.wav'}")
    box.play(ts, g711.tone((950.0,), 0.6))
    await asyncio.sleep(1.0)
    await telco.execute("stop c1")
    audio = tone_in(heard, ts)
    assert g711.dominant_frequency(audio[:4000], (450.0, 950.0, 1400.0)) == 450.0
    with wave.open(str(tmp_path / "box.wav")) as wav:
        pcm = wav.readframes(wav.getnframes())
    recorded = g711.linear_to_alaw(g711.array("h", pcm))
    assert len(recorded) >= 4000
    assert g711.dominant_frequency(recorded[:4000], (450.0, 950.0, 1400.0)) == 950.0
    # Other timeslots stayed idle in the box's direction.
    other = 1 if ts != 1 else 2
    assert set(tone_in(heard, other)) == {g711.ALAW_IDLE}

    await telco.execute("hangup c1 16")
    hangup = await box_event(box, ev.Hangup)
    assert hangup.cause == 16
    box.hangup(incoming.call_id, 16)
    await box_event(box, ev.Released)
    await out.wait_for("released", id="c1")


async def test_outbound_call_strips_local_area_code_and_is_answered(line) -> None:
    telco, out, box = line
    call_id = box.setup("02988881234", "96101")
    incoming = await out.wait_for("incoming")
    assert incoming["called"] == "88881234"
    await box_event(box, ev.Answered)
    box.hangup(call_id, 16)
    await box_event(box, ev.Released)
    await out.wait_for("released", id=incoming["id"])


async def test_link_drop_comes_back_and_restart_clears_calls(line) -> None:
    telco, out, box = line
    await telco.execute("drop")
    await box_event(box, LinkStateChanged, up=False)
    await box.wait_link_up(timeout=10)
    await telco.execute("call c2 96101 13800138000")
    incoming = await box_event(box, ev.IncomingCall)
    box.answer(incoming.call_id)
    await out.wait_for("answered", id="c2")
    await telco.execute("restart")
    released = await box_event(box, ev.Released)
    assert released.call_id == incoming.call_id
    await out.wait_for("restarted")
    assert incoming.timeslot in box.q931.idle_timeslots()


async def test_busy_line_refuses_with_17(tmp_path: Path) -> None:
    directory = Path(tempfile.mkdtemp(prefix="anxin-span-", dir="/tmp"))
    out = Lines()
    telco = TelcoSim(directory, out=out, answer="busy")
    runner = asyncio.ensure_future(telco.run(asyncio.Queue()))
    await out.wait_for("ready")
    box = PriSpan(SimSpan(f"sim://{directory}"), "user", name="span1")
    await box.start()
    try:
        await box.wait_link_up()
        call_id = box.setup("88881234")
        # A busy line: DISCONNECT 17 (then we release) or at once RELEASE COMPLETE 17.
        event = await box_event(box, (ev.Hangup, ev.Released), call_id=call_id)
        assert event.cause == 17
        if isinstance(event, ev.Hangup):
            box.hangup(call_id)
            await box_event(box, ev.Released, call_id=call_id)
    finally:
        await box.close()
        telco.stop()
        await asyncio.wait_for(runner, 5)


async def test_caller_from_another_area_and_a_mobile(line) -> None:
    telco, _out, box = line
    await telco.execute("call c3 96101 1088881234 ton=national")
    first = await box_event(box, ev.IncomingCall)
    await telco.execute("call c4 96101 13800138000 ton=national")
    second = await box_event(box, ev.IncomingCall)
    assert (first.calling, second.calling) == ("01088881234", "13800138000")


async def test_operator_mistakes_are_reported_and_the_line_keeps_running(line, tmp_path: Path) -> None:
    telco, out, box = line
    for bad in ("hangup", "hangup c9 16", "call c5 96101 88881234 ts=abc", "call c5",
                f"play c9 file {tmp_path / 'none.wav'}", "call c5 96101 1 ton=local", "restart 99"):
        await telco.commands.put(bad)
        error = await out.wait_for("error", command=bad)
        assert error["message"]
    await telco.commands.put("status")
    status = await out.wait_for("status")
    assert status["link_up"] is True and status["calls"] == {}
    await telco.execute("call c6 96101 13800138000")
    await box_event(box, ev.IncomingCall)


async def test_a_message_too_long_for_one_frame_is_refused_before_anything_changes(line) -> None:
    _telco, _out, box = line
    with pytest.raises(LocalProtocolError, match="more than one I-frame"):
        box.setup("9" * 120, "1" * 120, display="x" * 40)
    assert len(box.q931.idle_timeslots()) == 30
    with pytest.raises(ValueError, match="not a B-channel"):
        box.play(16, b"\xd5" * 160)
