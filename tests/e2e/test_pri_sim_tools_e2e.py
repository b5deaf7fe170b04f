"""`anxin-sim telco` and `anxin-sim handset` as a technician runs them: real processes,
commands on stdin, JSON events on stdout, against the box's side of the span and port."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import pytest

from drivers.e1_card import g711
from drivers.e1_card.fxs import Audio, Digit, HookOff, HookOn
from drivers.e1_card.pcap import read_lapd_pcap
from drivers.e1_card.q931 import events as ev
from drivers.e1_card.sim import SimFxsPort, SimSpan
from drivers.e1_card.stack import PriSpan
from provisioning.sim_tools import SimTool

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


class Tool(SimTool):
    """SimTool with an await-able expect (the test's loop keeps running the box side)."""

    async def expect(self, event: str, timeout: float = 10.0, **match: object) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.take(event, **match)
            if found is not None:
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {event} {match} within {timeout} s; saw {self.seen}; "
                             f"stderr: {self.stop()}")


async def next_of(span: PriSpan, kind: type, timeout: float = 10.0) -> object:
    async def look() -> object:
        while not isinstance(event := await span.events.get(), kind):
            pass
        return event
    return await asyncio.wait_for(look(), timeout)


async def test_telco_tool_places_a_call_plays_audio_and_captures(tmp_path: Path) -> None:
    directory = Path(tempfile.mkdtemp(prefix="anxin-telco-", dir="/tmp"))
    capture = tmp_path / "telco.pcap"
    telco = Tool("telco", "--dir", str(directory), "--capture", str(capture))
    box = None
    try:
        await telco.expect("ready")
        box = PriSpan(SimSpan(f"sim://{directory}"), "user", name="span1")
        heard: list[bytes] = []
        box.media_taps.append(heard.append)
        await box.start()
        await box.wait_link_up()
        await telco.expect("link", up=True)
        telco.send("call c1 96101 13800138000")
        incoming = await next_of(box, ev.IncomingCall)
        assert (incoming.called, incoming.calling) == ("96101", "13800138000")
        box.answer(incoming.call_id)
        await telco.expect("answered", id="c1", timeslot=incoming.timeslot)
        telco.send("play c1 tone 1400 0.5")
        await asyncio.sleep(0.8)
        ts = incoming.timeslot
        audio = b"".join(f[ts * 160:(ts + 1) * 160] for f in heard)
        assert g711.dominant_frequency(audio, (450.0, 1400.0, 2300.0)) == 1400.0
        telco.send("hangup c1 16")
        hangup = await next_of(box, ev.Hangup)
        assert hangup.cause == 16
        box.hangup(incoming.call_id)
        await telco.expect("released", id="c1")
        telco.send("bogus")
        error = await telco.expect("error")
        assert "unknown command" in error["message"]
    finally:
        if box is not None:
            await box.close()
        stderr = telco.stop()
    assert telco.proc.returncode == 0, stderr
    records = read_lapd_pcap(capture)
    assert len(records) >= 8  # SABME/UA, SETUP … RELEASE COMPLETE and their RRs
    assert {r.sent for r in records} == {True, False}


async def test_handset_tool_answers_rings_dials_and_hangs_up(tmp_path: Path) -> None:
    port_path = Path(tempfile.mkdtemp(prefix="anxin-fxs-", dir="/tmp")) / "port1"
    port = SimFxsPort(f"sim://{port_path}")
    phone = Tool("handset", "--port", str(port_path), "--answer-after", "0.2")
    loop = asyncio.get_running_loop()
    got: list[object] = []
    ready = asyncio.Event()

    def on_readable() -> None:
        while (event := port.read_event()) is not None:
            got.append(event)
            ready.set()

    loop.add_reader(port.fileno(), on_readable)

    async def wait_event(kind: type, timeout: float = 10.0) -> object:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for item in got:
                if isinstance(item, kind):
                    got.remove(item)
                    return item
            ready.clear()
            try:
                await asyncio.wait_for(ready.wait(), 0.2)
            except TimeoutError:
                pass
        raise AssertionError(f"no {kind.__name__}; got {got}")

    try:
        await phone.expect("connected")
        await asyncio.sleep(0.1)
        port.send_cid("13800138000", "张阿姨")
        port.ring(True)
        assert (await phone.expect("cid"))["name"] == "张阿姨"
        await phone.expect("ring", on=True)
        await wait_event(HookOff)  # the agent picked up after 0.2 s
        port.ring(False)
        phone.send("play tone 697+1209 0.2")
        # The box clocks the port: each of its frames gets one back.
        for _ in range(15):
            port.write_audio(bytes([g711.ALAW_IDLE]) * 160)
            await asyncio.sleep(0.02)
        frames = []
        while (audio := next((g for g in got if isinstance(g, Audio)), None)) is not None:
            got.remove(audio)
            frames.append(audio.samples)
        assert 10 <= len(frames) <= 15
        assert g711.dominant_frequency(b"".join(frames[:10]), (697.0, 941.0)) == 697.0
        phone.send("dtmf 5#")
        await asyncio.sleep(0.3)
        assert not [e for e in phone.seen if e["event"] == "error"], phone.seen
        assert [(await wait_event(Digit)).digit for _ in range(2)] == ["5", "#"]
        phone.send("on")
        await wait_event(HookOn)
    finally:
        loop.remove_reader(port.fileno())
        stderr = phone.stop()
        port.close()
    assert phone.proc.returncode == 0, stderr
