"""Our USER side (the box: PriSpan over SimSpan) against libpri's NETWORK side.

libpri (tests/interop/pri_peer.c, EuroISDN E1, network role) listens at DIR/dchan as the
telco would; the box connects over SOCK_SEQPACKET (CONTRACTS §3). Every test captures
the D-channel on our side, and the ``pri_captures`` fixture has tshark check it after
the test. Scenarios: calls both ways answered, rejected (17, 21, 34), abandoned while
ringing, cleared from either side, offered on a busy channel; 30 calls on the 30
timeslots and a 31st refused; 300 calls 30 at a time; RESTART of one channel and of the
interface both ways; libpri's T203 keepalive over a minute of idle (the one slow test);
the data link lost and re-established with a call up, and lost for longer than T309.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pri_interop_kit import (
    B_CHANNELS,
    AsyncPeer,
    CaptureRegistry,
    SpanEvents,
    TraceRecord,
    call_flow,
    check_capture,
    frames_both_ways,
    link_summary,
    q931_summary,
    read_trace,
    restart_summary,
)

from drivers.e1_card.lapd.frames import FrameKind
from drivers.e1_card.pcap import LapdPcapWriter
from drivers.e1_card.q931 import events as ev
from drivers.e1_card.q931.states import CallStateValue
from drivers.e1_card.q931.timers import Q931Timers
from drivers.e1_card.sim import SimSpan
from drivers.e1_card.stack import LinkStateChanged, PriSpan

pytestmark = pytest.mark.timeout(60)

U, N = "U->N", "N->U"
CALLED, CALLING = "96101", "88881234"


@dataclass
class Line:
    """libpri's network side and our box, link up."""

    net: AsyncPeer
    box: PriSpan
    events: SpanEvents
    directory: Path
    capture: Path
    peer_capture: Path

    def trace(self, since: int = 0) -> list[TraceRecord]:
        """Our capture decoded, from record ``since`` on."""
        return read_trace(self.capture)[since:]

    def call_flow(self) -> list[tuple[str, str]]:
        return call_flow(self.trace())

    async def settle(self) -> None:
        """Let answers in flight arrive (a STATUS to our STATUS ENQUIRY …), then sync libpri."""
        await asyncio.sleep(0.3)
        await self.net.ping()


async def open_line(libpri_peer: Callable[..., Any], directory: Path, captures: CaptureRegistry, *,
                    net_options: dict[str, Any] | None = None, **span_options: Any) -> Line:
    peer_capture = captures.path("libpri-network")
    peer = libpri_peer("network", directory / "dchan", pcap=peer_capture, **(net_options or {}))
    capture = captures.path("box-user")
    box = PriSpan(SimSpan(f"sim://{directory}"), "user", name="box", capture=capture,
                  **{"reconnect_delay": 0.1, **span_options})
    await box.start()
    line = Line(AsyncPeer(peer), box, SpanEvents(box), directory, capture, peer_capture)
    await box.wait_link_up(timeout=5)
    await line.net.expect("UP")
    await line.events.expect(LinkStateChanged, up=True)
    return line


@pytest.fixture
async def line(libpri_peer: Callable[..., Any], pri_dir: Path, pri_captures: CaptureRegistry
               ) -> AsyncIterator[Line]:
    opened = await open_line(libpri_peer, pri_dir, pri_captures)
    try:
        yield opened
    finally:
        await opened.box.close()


async def box_call_answered(line: Line) -> tuple[int, int, int]:
    """The box calls, libpri proceeds, alerts and answers: (our call id, libpri id, timeslot)."""
    call_id = line.box.setup(CALLED, CALLING)
    ring = await line.net.expect("RING", called=CALLED, calling=CALLING)
    peer_id, ts = ring.int("id"), ring.int("channel")
    assert ring.int("requested") == -1 and ts in B_CHANNELS  # we let the network choose
    await line.net.proceeding(peer_id)
    assert (await line.events.expect(ev.Proceeding, call_id=call_id)).timeslot == ts
    await line.net.alerting(peer_id)
    await line.events.expect(ev.Ringing, call_id=call_id)
    await line.net.answer(peer_id)
    await line.events.expect(ev.Answered, call_id=call_id)
    assert line.box.q931.call_state(call_id) is CallStateValue.ACTIVE
    assert line.box.q931.channel_of(call_id) == ts
    return call_id, peer_id, ts


async def network_call_answered(line: Line, ts: int = 7, peer_id: int = 1) -> int:
    """libpri calls the box on timeslot ``ts`` (exclusive); the box answers: our call id."""
    await line.net.call(peer_id, CALLED, CALLING, channel=ts, exclusive=True)
    incoming = await line.events.expect(ev.IncomingCall)
    assert (incoming.called, incoming.calling, incoming.timeslot, incoming.exclusive) == (
        CALLED, CALLING, ts, True)
    line.box.proceeding(incoming.call_id)
    await line.net.expect("PROCEEDING", id=peer_id, channel=ts)
    line.box.alerting(incoming.call_id)
    await line.net.expect("RINGING", id=peer_id)
    line.box.answer(incoming.call_id)
    await line.net.expect("ANSWER", id=peer_id, channel=ts)
    await line.events.expect(ev.Answered, call_id=incoming.call_id)  # CONNECT ACK from libpri
    assert line.box.q931.call_state(incoming.call_id) is CallStateValue.ACTIVE
    return incoming.call_id


# ------------------------------------------------------------------------------ link and calls

async def test_link_comes_up_with_sabme_ua_both_ways(line: Line) -> None:
    assert await line.net.status() == {"up": 1, "connected": 1, "calls": 0}
    await line.net.ping()
    # Both sides send SABME at once (P=1) and each answers the other's with UA (F=1).
    kinds = {(r.direction, r.frame.kind, r.frame.command, r.frame.pf) for r in line.trace()}
    assert kinds == {(U, FrameKind.SABME, True, True), (N, FrameKind.UA, False, True),
                     (N, FrameKind.SABME, True, True), (U, FrameKind.UA, False, True)}
    assert line.box.link_up and line.box.q931.idle_timeslots() == B_CHANNELS


async def test_our_capture_and_libpris_agree_frame_for_frame(line: Line) -> None:
    """What our capture says we sent is what libpri received, and the other way round."""
    call_id, peer_id, _ = await box_call_answered(line)
    line.box.hangup(call_id)
    await line.events.expect(ev.Released, call_id=call_id)
    await line.net.expect("CLEARED", id=peer_id)
    await line.net.ping()
    ours_sent, ours_received = frames_both_ways(line.capture)
    theirs_sent, theirs_received = frames_both_ways(line.peer_capture)
    assert len(ours_sent) >= 8 and ours_sent == theirs_received
    assert ours_received == theirs_sent


def test_the_capture_check_refuses_malformed_one_way_and_empty_captures(tmp_path: Path) -> None:
    """Negative controls for check_capture(), the check pri_captures runs after each test."""
    sabme, ua = bytes([0x00, 0x01, 0x7F]), bytes([0x00, 0x01, 0x73])
    bad_setup = bytes([0x00, 0x01, 0x00, 0x00]) + bytes.fromhex("0802000105 0403")  # bearer IE cut short
    good = tmp_path / "good.pcap"
    with LapdPcapWriter(good) as capture:
        capture.write(sabme, sent=True, role="user")
        capture.write(ua, sent=False, role="user")
    assert check_capture(good).directions == {"0": 1, "1": 1}
    malformed = tmp_path / "malformed.pcap"
    with LapdPcapWriter(malformed) as capture:
        capture.write(sabme, sent=True, role="user")
        capture.write(ua, sent=False, role="user")
        capture.write(bad_setup, sent=True, role="user")
    with pytest.raises(AssertionError, match="frame 3.*Malformed"):
        check_capture(malformed)
    one_way = tmp_path / "one_way.pcap"
    with LapdPcapWriter(one_way) as capture:
        capture.write(sabme, sent=True, role="user")
    with pytest.raises(AssertionError, match="no Network->User frame"):
        check_capture(one_way)
    empty = tmp_path / "empty.pcap"
    LapdPcapWriter(empty).close()
    with pytest.raises(AssertionError, match="missing or empty"):
        check_capture(empty)


@pytest.mark.parametrize("clearing", ["box", "network"])
async def test_box_call_answered_then_cleared(line: Line, clearing: str) -> None:
    call_id, peer_id, ts = await box_call_answered(line)
    if clearing == "box":
        line.box.hangup(call_id, 16)
        assert (await line.net.expect("HANGUP_REQ", id=peer_id)).int("cause") == 16
        await line.net.expect("HANGUP_ACK", id=peer_id)
        tail = [(U, "DISCONNECT"), (N, "RELEASE"), (U, "RELEASE COMPLETE")]
    else:
        await line.net.hangup(peer_id, 16)
        hangup = await line.events.expect(ev.Hangup, call_id=call_id)
        assert hangup.cause == 16
        assert (await line.net.expect("HANGUP", id=peer_id)).int("cause") == 16
        tail = [(N, "DISCONNECT"), (U, "RELEASE"), (N, "RELEASE COMPLETE")]
    assert (await line.events.expect(ev.Released, call_id=call_id)).cause == 16
    await line.net.expect("CLEARED", id=peer_id)
    assert ts in line.box.q931.idle_timeslots()
    assert line.call_flow() == [(U, "SETUP"), (N, "CALL PROCEEDING"), (N, "ALERTING"), (N, "CONNECT"),
                                (U, "CONNECT ACKNOWLEDGE"), *tail]


@pytest.mark.parametrize("clearing", ["box", "network"])
async def test_network_call_answered_then_cleared(line: Line, clearing: str) -> None:
    call_id = await network_call_answered(line, ts=7)
    if clearing == "box":
        line.box.hangup(call_id, 16)
        assert (await line.net.expect("HANGUP_REQ", id=1)).int("cause") == 16
        await line.net.expect("HANGUP_ACK", id=1)
        tail = [(U, "DISCONNECT"), (N, "RELEASE"), (U, "RELEASE COMPLETE")]
    else:
        await line.net.hangup(1, 16)
        assert (await line.events.expect(ev.Hangup, call_id=call_id)).cause == 16
        assert (await line.net.expect("HANGUP", id=1)).int("cause") == 16
        tail = [(N, "DISCONNECT"), (U, "RELEASE"), (N, "RELEASE COMPLETE")]
    assert (await line.events.expect(ev.Released, call_id=call_id)).cause == 16
    await line.net.expect("CLEARED", id=1)
    assert 7 in line.box.q931.idle_timeslots()
    assert line.call_flow() == [(N, "SETUP"), (U, "CALL PROCEEDING"), (U, "ALERTING"), (U, "CONNECT"),
                                (N, "CONNECT ACKNOWLEDGE"), *tail]


async def test_network_call_on_a_busy_channel_moves_if_preferred_and_gets_44_if_exclusive(line: Line) -> None:
    """Q.931 5.2.3.1: a preferred channel that is busy here — the box names another in its
    first answer, which libpri accepts; an exclusive one is refused with cause 44."""
    await network_call_answered(line, ts=7, peer_id=1)
    await line.net.call(2, CALLED, CALLING, channel=7)  # preferred
    incoming = await line.events.expect(ev.IncomingCall)
    assert incoming.timeslot in B_CHANNELS and incoming.timeslot != 7 and not incoming.exclusive
    line.box.answer(incoming.call_id)
    assert (await line.net.expect("ANSWER", id=2)).int("channel") == incoming.timeslot
    await line.events.expect(ev.Answered, call_id=incoming.call_id)

    await line.net.call(3, CALLED, CALLING, channel=7, exclusive=True)
    assert (await line.net.expect("HANGUP", id=3)).int("cause") == 44
    await line.net.expect("CLEARED", id=3)
    assert line.events.pending(ev.IncomingCall) == []
    assert line.call_flow()[-2:] == [(N, "SETUP"), (U, "RELEASE COMPLETE")]


# ------------------------------------------------------------------------------ rejected, abandoned

@pytest.mark.parametrize("cause", [17, 21, 34])
async def test_box_call_rejected_by_network(line: Line, cause: int) -> None:
    call_id = line.box.setup(CALLED, CALLING)
    peer_id = (await line.net.expect("RING", called=CALLED)).int("id")
    await line.net.hangup(peer_id, cause)
    released = await line.events.expect(ev.Released, call_id=call_id)
    assert released.cause == cause
    await line.net.expect("CLEARED", id=peer_id)
    if cause == 34:  # libpri refuses a SETUP with 34 by RELEASE COMPLETE at once
        assert line.events.seen(ev.Hangup) == []
        assert line.call_flow() == [(U, "SETUP"), (N, "RELEASE COMPLETE")]
    else:  # the harness proceeds first (libpri sends nothing else), then DISCONNECT
        assert [e.cause for e in line.events.seen(ev.Hangup, call_id=call_id)] == [cause]
        assert (await line.net.expect("HANGUP", id=peer_id)).int("cause") == cause
        assert line.call_flow() == [(U, "SETUP"), (N, "CALL PROCEEDING"), (N, "DISCONNECT"),
                                    (U, "RELEASE"), (N, "RELEASE COMPLETE")]
    assert line.box.q931.idle_timeslots() == B_CHANNELS


@pytest.mark.parametrize("cause", [17, 21, 34])
async def test_network_call_rejected_by_box(line: Line, cause: int) -> None:
    await line.net.call(1, CALLED, CALLING, channel=3, exclusive=True)
    incoming = await line.events.expect(ev.IncomingCall)
    line.box.hangup(incoming.call_id, cause)
    assert (await line.events.expect(ev.Released, call_id=incoming.call_id)).cause == cause
    assert (await line.net.expect("HANGUP", id=1)).int("cause") == cause
    await line.net.expect("CLEARED", id=1)
    assert q931_summary(line.trace()) == [(N, "SETUP", None, None), (U, "RELEASE COMPLETE", cause, None)]
    assert 3 in line.box.q931.idle_timeslots()


async def test_box_call_abandoned_while_ringing(line: Line) -> None:
    call_id = line.box.setup(CALLED, CALLING)
    peer_id = (await line.net.expect("RING")).int("id")
    await line.net.proceeding(peer_id)
    await line.net.alerting(peer_id)
    await line.events.expect(ev.Ringing, call_id=call_id)
    line.box.hangup(call_id, 16)  # the caller gives up before the answer
    assert (await line.net.expect("HANGUP_REQ", id=peer_id)).int("cause") == 16
    await line.net.expect("CLEARED", id=peer_id)
    assert (await line.events.expect(ev.Released, call_id=call_id)).cause == 16
    assert line.events.seen(ev.Answered) == []
    assert line.call_flow() == [(U, "SETUP"), (N, "CALL PROCEEDING"), (N, "ALERTING"), (U, "DISCONNECT"),
                                (N, "RELEASE"), (U, "RELEASE COMPLETE")]


async def test_network_call_abandoned_while_ringing(line: Line) -> None:
    await line.net.call(1, CALLED, CALLING, channel=9, exclusive=True)
    incoming = await line.events.expect(ev.IncomingCall)
    line.box.alerting(incoming.call_id)
    await line.net.expect("RINGING", id=1)
    await line.net.hangup(1, 16)  # the far caller gives up while the box rings
    assert (await line.events.expect(ev.Hangup, call_id=incoming.call_id)).cause == 16
    assert (await line.events.expect(ev.Released, call_id=incoming.call_id)).cause == 16
    await line.net.expect("CLEARED", id=1)
    assert 9 in line.box.q931.idle_timeslots()
    assert line.call_flow() == [(N, "SETUP"), (U, "ALERTING"), (N, "DISCONNECT"), (U, "RELEASE"),
                                (N, "RELEASE COMPLETE")]


# ------------------------------------------------------------------------------ 30 calls at once

async def test_thirty_box_calls_use_every_timeslot_once_and_a_31st_is_refused(line: Line) -> None:
    ours = [line.box.setup(CALLED, f"{CALLING}{n:02d}") for n in range(30)]
    rings = [await line.net.expect("RING") for _ in ours]
    for ring in rings:
        await line.net.answer(ring.int("id"))
    slots = {}
    for call_id in ours:
        await line.events.expect(ev.Answered, call_id=call_id)
        slots[call_id] = line.box.q931.channel_of(call_id)
    assert sorted(slots.values()) == list(B_CHANNELS)  # all 30 timeslots, each once
    assert sorted(r.int("channel") for r in rings) == list(B_CHANNELS)
    assert line.box.q931.idle_timeslots() == ()

    extra = line.box.setup(CALLED, CALLING)  # nothing left: refused here, nothing sent
    assert (await line.events.expect(ev.Released, call_id=extra)).cause == 34
    await line.net.ping()
    assert len([f for f in line.call_flow() if f == (U, "SETUP")]) == 30

    for call_id in ours:
        line.box.hangup(call_id, 16)
    for call_id in ours:
        await line.events.expect(ev.Released, call_id=call_id)
    for ring in rings:
        await line.net.expect("CLEARED", id=ring.int("id"))
    assert line.box.q931.idle_timeslots() == B_CHANNELS


async def test_thirty_network_calls_fill_the_box_and_a_31st_gets_34(line: Line) -> None:
    for n in range(1, 31):
        await line.net.call(n, CALLED, f"{CALLING}{n:02d}")  # any channel: the box picks
    incoming = [await line.events.expect(ev.IncomingCall) for _ in range(30)]
    assert sorted(c.timeslot for c in incoming) == list(B_CHANNELS)
    for call in incoming:
        line.box.answer(call.call_id)
    for n in range(1, 31):
        await line.net.expect("ANSWER", id=n)
    assert line.box.q931.idle_timeslots() == ()

    await line.net.call(31, CALLED, CALLING)
    assert (await line.net.expect("HANGUP", id=31)).int("cause") == 34
    await line.net.expect("CLEARED", id=31)
    assert line.events.pending(ev.IncomingCall) == []
    assert q931_summary(line.trace())[-2:] == [(N, "SETUP", None, None), (U, "RELEASE COMPLETE", 34, None)]

    assert (await line.net.status())["calls"] == 30
    for n in range(1, 31):
        await line.net.hangup(n, 16)
    for call in incoming:
        await line.events.expect(ev.Released, call_id=call.call_id)
    assert line.box.q931.idle_timeslots() == B_CHANNELS


# ------------------------------------------------------------------------------ RESTART

async def test_box_restarts_one_channel_with_a_call_on_it(line: Line) -> None:
    call_id, peer_id, ts = await box_call_answered(line)
    line.box.restart((ts,))
    assert (await line.events.expect(ev.Released, call_id=call_id)).cause == 16
    await line.net.expect("RESTART", channel=ts)
    await line.net.expect("CLEARED", id=peer_id)
    assert (await line.events.expect(ev.Restarted)).timeslots == (ts,)
    assert line.box.q931.idle_timeslots() == B_CHANNELS
    assert restart_summary(line.trace()) == [(U, "RESTART", 0, (ts,)), (N, "RESTART ACKNOWLEDGE", 0, (ts,))]
    await box_call_answered(line)  # the channel is usable again


async def test_box_restarts_the_whole_interface_with_class_7(line: Line) -> None:
    call_id, peer_id, _ = await box_call_answered(line)
    line.box.restart(None)
    assert (await line.events.expect(ev.Released, call_id=call_id)).cause == 16
    await line.net.expect("RESTART", channel=-1)  # libpri: the whole interface
    await line.net.expect("CLEARED", id=peer_id)
    assert (await line.events.expect(ev.Restarted)).timeslots == B_CHANNELS
    assert line.box.q931.idle_timeslots() == B_CHANNELS
    assert restart_summary(line.trace()) == [(U, "RESTART", 7, ()), (N, "RESTART ACKNOWLEDGE", 7, ())]
    await box_call_answered(line)


async def test_network_resets_one_channel_with_a_call_on_it(line: Line) -> None:
    call_id = await network_call_answered(line, ts=12)
    await line.net.reset(12)
    assert (await line.events.expect(ev.Released, call_id=call_id)).cause == 16
    assert (await line.events.expect(ev.Restarted)).timeslots == (12,)
    await line.net.expect("RESTART_ACK", channel=12)
    await line.net.expect("CLEARED", id=1)
    assert line.box.q931.idle_timeslots() == B_CHANNELS
    assert restart_summary(line.trace()) == [(N, "RESTART", 0, (12,)), (U, "RESTART ACKNOWLEDGE", 0, (12,))]


async def test_network_restarts_every_channel_in_turn(line: Line) -> None:
    """libpri 1.6 cannot send a class-7 RESTART: the harness restarts the 30 channels in turn."""
    call_id = await network_call_answered(line, ts=20)
    await line.net.restart()
    await line.net.expect("RESTART_DONE", timeout=20)
    assert [e.int("channel") for e in line.net.seen("RESTART_ACK")] == list(B_CHANNELS)
    assert (await line.events.expect(ev.Released, call_id=call_id)).cause == 16
    restarted = [(await line.events.expect(ev.Restarted)).timeslots for _ in B_CHANNELS]
    assert restarted == [(ts,) for ts in B_CHANNELS]
    assert line.box.q931.idle_timeslots() == B_CHANNELS
    assert restart_summary(line.trace()) == [m for ts in B_CHANNELS for m in (
        (N, "RESTART", 0, (ts,)), (U, "RESTART ACKNOWLEDGE", 0, (ts,)))]


# ------------------------------------------------------------------------------ T203 keepalive

@pytest.mark.timeout(120)
async def test_libpri_t203_keepalive_over_a_minute_of_idle(libpri_peer: Callable[..., Any], pri_dir: Path,
                                                          pri_captures: CaptureRegistry) -> None:
    """Real time: 61 s of an idle link. libpri polls with RR P=1 every T203 (its default,
    10 s); our T203 is set to 25 s so every poll seen is libpri's, and since each poll it
    receives restarts our T203 (Q.921 Annex B: any I or S frame received), we never poll."""
    line = await open_line(libpri_peer, pri_dir, pri_captures, lapd_options={"t203": 25.0})
    try:
        established = len(line.trace())
        await asyncio.sleep(61)  # real time: the point of the test
        await line.net.ping()
        assert await line.net.status() == {"up": 1, "connected": 1, "calls": 0}
        assert line.net.seen("DOWN") == [] and line.net.seen("UP") != []
        assert line.events.seen(LinkStateChanged, up=False) == []
        assert line.box.link_up

        idle = line.trace(established)
        polls = [i for i, r in enumerate(idle)
                 if r.frame.kind is FrameKind.RR and r.frame.command and r.frame.pf]
        assert len(polls) >= 5, [r.frame.summary() for r in idle]
        assert all(idle[i].direction == N for i in polls), "the box polled: its T203 was not restarted"
        for i in polls:
            poll = idle[i]
            answer = next(r for r in idle[i + 1:] if r.direction == U)
            answered_as = (answer.frame.kind, answer.frame.command, answer.frame.pf)
            assert answered_as == (FrameKind.RR, False, True), (poll.frame.summary(), answer.frame.summary())
            assert answer.ts - poll.ts < 1.0
            assert poll.frame.nr == answer.frame.nr == 0  # no I-frame was ever sent either way
        times = [idle[i].ts for i in polls]
        gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
        assert all(9.0 < gap < 11.5 for gap in gaps), gaps  # libpri's T203 = 10 s, restarted by our answer
        assert [r.frame.summary() for r in idle if r.frame.kind is not FrameKind.RR] == []  # never reset

        call_id, peer_id, _ = await box_call_answered(line)  # and it still carries calls
        line.box.hangup(call_id)
        await line.events.expect(ev.Released, call_id=call_id)
        await line.net.expect("CLEARED", id=peer_id)
    finally:
        await line.box.close()


# ------------------------------------------------------------------------------ data link lost mid-call

async def test_box_drops_the_link_mid_call_and_the_call_survives(line: Line) -> None:
    """Q.931 5.8.9: an active call survives a data-link release that ends within T309.
    Both sides start T309; once the link is back we ask STATUS ENQUIRY and libpri (on its
    own, q931_dl_event) sends STATUS 31 with its state; both find the other in Active."""
    call_id, peer_id, ts = await box_call_answered(line)
    before = len(line.trace())
    line.box.drop_link()  # DISC, as a line fault would; the shell re-establishes at once
    assert (await line.events.expect(LinkStateChanged)).up is False
    assert (await line.events.expect(LinkStateChanged)).up is True
    await line.net.expect("DOWN")
    await line.net.expect("UP")
    await line.settle()
    assert sorted(q931_summary(line.trace(before))) == [
        (N, "STATUS", 30, 10), (N, "STATUS", 31, 10), (U, "STATUS ENQUIRY", None, None)]
    assert link_summary(line.trace(before)) == [(U, "DISC"), (N, "UA"), (U, "SABME"), (N, "UA")]
    assert line.box.q931.call_state(call_id) is CallStateValue.ACTIVE
    assert line.events.seen(ev.Released) == [] and line.events.seen(ev.Hangup) == []

    await line.net.hangup(peer_id, 16)  # the call still clears normally from the far end
    assert (await line.events.expect(ev.Hangup, call_id=call_id)).cause == 16
    assert (await line.events.expect(ev.Released, call_id=call_id)).cause == 16
    await line.net.expect("CLEARED", id=peer_id)
    assert ts in line.box.q931.idle_timeslots()


async def test_libpri_restarted_mid_call_the_link_returns_and_the_lost_call_is_cleared(
        line: Line, libpri_peer: Callable[..., Any], pri_captures: CaptureRegistry) -> None:
    """The telco's side dies (socket closed) and comes back within T309 with no memory of
    the call. Our STATUS ENQUIRY for it is answered RELEASE COMPLETE 81 (libpri's choice
    for an unknown call reference; Q.931 5.8.3.2 f would say STATUS, Null state) and the
    call is released here with that cause; the link is up again and new calls work."""
    call_id, peer_id, ts = await box_call_answered(line)
    line.net.peer.stop()  # killed: the box sees the D-channel socket close
    assert (await line.events.expect(LinkStateChanged)).up is False
    assert line.box.q931.call_state(call_id) is CallStateValue.ACTIVE  # T309 runs
    before = len(line.trace())
    line.net = AsyncPeer(libpri_peer("network", line.directory / "dchan",
                                     pcap=pri_captures.path("libpri-network-2")))
    assert (await line.events.expect(LinkStateChanged)).up is True
    await line.net.expect("UP")
    assert (await line.events.expect(ev.Released, call_id=call_id, timeout=3)).cause == 81
    assert line.events.seen(ev.Hangup) == []
    await line.net.ping()
    assert q931_summary(line.trace(before)) == [(U, "STATUS ENQUIRY", None, None),
                                                (N, "RELEASE COMPLETE", 81, None)]
    assert ts in line.box.q931.idle_timeslots()
    await box_call_answered(line)


async def test_link_down_longer_than_t309_clears_the_call_then_recovers(
        libpri_peer: Callable[..., Any], pri_dir: Path, pri_captures: CaptureRegistry) -> None:
    """Q.931 5.8.9: T309 expiring with the link still down releases the call (cause 41)
    without any message; when the telco returns, nothing about the old call is sent."""
    line = await open_line(libpri_peer, pri_dir, pri_captures,
                           q931_options={"timers": Q931Timers(t309=1.0)})
    try:
        call_id, _, ts = await box_call_answered(line)
        line.net.peer.stop()
        await line.events.expect(LinkStateChanged, up=False)
        lost_at = asyncio.get_running_loop().time()
        released = await line.events.expect(ev.Released, call_id=call_id, timeout=3)
        assert released.cause == 41
        assert 0.8 < asyncio.get_running_loop().time() - lost_at < 2.0  # after T309, not at once
        assert not line.box.link_up and line.events.seen(ev.Hangup) == []
        assert ts in line.box.q931.idle_timeslots()
        before = len(line.trace())
        line.net = AsyncPeer(libpri_peer("network", pri_dir / "dchan",
                                         pcap=pri_captures.path("libpri-network-2")))
        await line.events.expect(LinkStateChanged, up=True)
        await line.net.expect("UP")
        await line.settle()
        assert q931_summary(line.trace(before)) == []  # nothing about the old call
        await box_call_answered(line)
        assert q931_summary(line.trace(before))[0] == (U, "SETUP", None, None)
    finally:
        await line.box.close()


# ------------------------------------------------------------------------------ load

async def test_box_load_of_300_calls_30_at_a_time_against_auto_answering_libpri(line: Line) -> None:
    """The box places 300 calls, 30 in flight, clearing each once answered (libpri answers
    every SETUP at once): bursts far beyond the window (k = 7) both ways, nothing lost."""
    await line.net.auto("answer")
    placed = released = 0
    in_flight: set[int] = set()
    while released < 300:
        while placed < 300 and len(in_flight) < 30:
            in_flight.add(line.box.setup(CALLED, CALLING))
            placed += 1
        event = await line.events.expect((ev.Answered, ev.Released), timeout=10)
        if isinstance(event, ev.Answered):
            line.box.hangup(event.call_id, 16)
        else:
            assert event.cause == 16, event
            in_flight.discard(event.call_id)
            released += 1
    assert line.events.seen(ev.ProtocolErrorReported) == []
    assert line.events.seen(LinkStateChanged, up=False) == []
    assert len(line.events.seen(ev.Answered)) == 300
    assert line.box.q931.idle_timeslots() == B_CHANNELS
    await line.net.ping()
    assert (await line.net.status())["calls"] == 0
    assert len(line.net.seen("RING")) == 300 and len(line.net.seen("CLEARED")) == 300
