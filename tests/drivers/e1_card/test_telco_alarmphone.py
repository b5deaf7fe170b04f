"""The telco's `alarmphone` command: a simulated one-button emergency phone on a real span pair.

Our telco (network role) places a call to a box PriSpan (user role) over the simulated
span's sockets, with media clocked every 20 ms; the box side runs the in-band Contact ID
receiver on the call's timeslot exactly as pbxd's call handler would (per tick: feed
what came in, send what it gives). The box must get the messages and the telco must
report the kissoffs, and the call must stay up for voice afterwards.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_pri_stack_sim import Lines, box_event

from appliance.media.g711 import alaw_to_linear, linear_to_alaw
from drivers.alarm_phone.contact_id import ContactIdMessage, encode_dtmf
from drivers.alarm_phone.inband import Finished, InbandEvent, InbandReceiver, MessageReceived
from drivers.e1_card import g711
from drivers.e1_card.q931 import events as ev
from drivers.e1_card.sim import SimSpan
from drivers.e1_card.span import MediaFrame
from drivers.e1_card.stack import PriSpan
from drivers.e1_card.telco import TelcoSim

pytestmark = pytest.mark.timeout(60)

PANIC = ContactIdMessage("1234", "18", 1, "101", "00", "001")
HEX = ContactIdMessage("1B2C", "18", 3, "101", "0D", "0EF")


class BoxSide:
    """The box's end of one call: an InbandReceiver on TIMESLOT, ticked by the line's frames."""

    def __init__(self, box: PriSpan, timeslot: int) -> None:
        self.box, self.timeslot = box, timeslot
        self.ticks = 0
        self.receiver: InbandReceiver | None = None
        self.events: list[InbandEvent] = []
        self.heard: list[bytes] = []  # what the telco sent on the timeslot, after the exchange
        self.finished = asyncio.Event()

    def answer(self) -> None:
        self.receiver = InbandReceiver(self.ticks * 0.020)

    def tap(self, frame: bytes) -> None:
        self.ticks += 1
        now = self.ticks * 0.020  # the line's clock, as pbxd counts it
        audio = MediaFrame(frame)[self.timeslot]
        if self.receiver is None:
            return
        if self.receiver.finished:
            self.heard.append(audio)
            return
        self.receiver.feed(alaw_to_linear(audio), now)
        self.box.play(self.timeslot, linear_to_alaw(self.receiver.next_frame(now)).tobytes())
        self.events += self.receiver.events()
        if self.receiver.finished:
            self.finished.set()


@pytest.fixture
async def line() -> AsyncIterator[tuple[TelcoSim, Lines, PriSpan]]:
    directory = Path(tempfile.mkdtemp(prefix="anxin-span-", dir="/tmp"))
    out = Lines()
    telco = TelcoSim(directory, out=out)
    commands: asyncio.Queue[str] = asyncio.Queue()
    runner = asyncio.ensure_future(telco.run(commands))
    await out.wait_for("ready")
    box = PriSpan(SimSpan(f"sim://{directory}"), "user", name="span1")
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


async def test_alarm_phone_delivers_contact_id_then_the_call_carries_voice(line) -> None:
    telco, out, box = line
    messages = [encode_dtmf(PANIC), encode_dtmf(HEX)]
    await telco.execute("call c1 96101 13800138000")
    incoming = await box_event(box, ev.IncomingCall)
    # Armed before the answer: the phone starts listening for the handshake when answered.
    await telco.execute(f"alarmphone c1 {','.join(messages)}")
    side = BoxSide(box, incoming.timeslot)
    box.media_taps.append(side.tap)
    box.answer(incoming.call_id)
    side.answer()
    await out.wait_for("answered", id="c1")

    done = await out.wait_for("alarmphone_done", id="c1", timeout=20)
    assert (done["sent"], done["failed"]) == (2, 0)
    kissoffs = [e for e in out.events if e["event"] == "kissoff"]
    assert [(k["id"], k["digits"], k["attempt"]) for k in kissoffs] == [
        ("c1", messages[0], 1), ("c1", messages[1], 1)]
    await asyncio.wait_for(side.finished.wait(), 5)
    assert [e.message for e in side.events if isinstance(e, MessageReceived)] == [PANIC, HEX]
    (finished,) = [e for e in side.events if isinstance(e, Finished)]
    assert finished.reason == "complete"

    # The call is still up, and now it is a voice call: the telco's audio reaches the box.
    await telco.commands.put("status")
    status = await out.wait_for("status")
    assert "c1" in status["calls"]
    await telco.execute("play c1 tone 450 0.5")
    await asyncio.sleep(0.8)
    heard = b"".join(side.heard)
    start = next(i for i, code in enumerate(heard) if code != g711.ALAW_IDLE)
    assert len(heard) - start >= 3000
    assert g711.dominant_frequency(heard[start:start + 3000], (450.0, 1400.0, 2300.0)) == 450.0

    await telco.execute("hangup c1 16")
    await box_event(box, ev.Hangup)
    box.hangup(incoming.call_id, 16)
    await out.wait_for("released", id="c1")
    assert not any(e["event"] == "error" for e in out.events)


async def test_alarm_phone_armed_on_an_answered_call_and_one_that_is_never_acknowledged(line) -> None:
    """Armed after the answer it starts at once; with nobody sending kissoffs it gives up."""
    telco, out, box = line
    await telco.execute("call c2 96101 13800138000")
    incoming = await box_event(box, ev.IncomingCall)
    box.answer(incoming.call_id)
    await out.wait_for("answered", id="c2")
    heard: list[bytes] = []
    box.media_taps.append(heard.append)
    # A box that never handshakes: the phone waits (here 2 s, not its default 10) and gives up.
    await telco.execute(f"alarmphone c2 {encode_dtmf(PANIC)} wait=2")
    gave_up = await out.wait_for("alarmphone_gave_up", id="c2", timeout=10)
    assert gave_up["reason"] == "no_handshake"
    done = await out.wait_for("alarmphone_done", id="c2")
    assert (done["sent"], done["failed"]) == (0, 1)
    assert not any(e["event"] == "kissoff" for e in out.events)
    # Waiting for a handshake, the phone is silent on the line.
    ts = incoming.timeslot
    assert {b for f in heard for b in MediaFrame(f)[ts]} == {g711.ALAW_IDLE}


async def test_alarmphone_command_mistakes_are_reported(line) -> None:
    telco, out, box = line
    await telco.execute("call c3 96101 13800138000")
    await box_event(box, ev.IncomingCall)
    for bad in ("alarmphone c9 1234181101000012", "alarmphone c3 12341811", "alarmphone c3 123418110100001A",
                "alarmphone c3"):
        await telco.commands.put(bad)
        error = await out.wait_for("error", command=bad)
        assert error["message"]
    for bad in ("alarmphone c3 1234181101000012 wait=0", "alarmphone c3 1234181101000012 wait=x"):
        await telco.commands.put(bad)
        assert (await out.wait_for("error", command=bad))["message"]
    await telco.execute(f"alarmphone c3 {encode_dtmf(PANIC)}")
    # Not answered yet: armed, not started.
    assert telco.calls["c3"].alarm_messages == (encode_dtmf(PANIC),)
    assert telco.calls["c3"].alarmphone is None
    assert not any(e["event"].startswith("alarmphone") for e in out.events)
