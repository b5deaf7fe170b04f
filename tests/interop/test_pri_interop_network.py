"""Our NETWORK side (the telco simulator, drivers/e1_card/telco.py) against libpri's USER side.

The simulator owns DIR and listens at DIR/dchan as the carrier; libpri (pri_peer.c, user
role, EuroISDN E1) connects like a box would. The simulator is driven through its own
command language (``execute("call c1 …")``) and observed through its JSON event lines, so
this is the tool technicians and the other test suites use, proven against a peer we did
not write. Every test captures the D-channel on our side (TelcoSim(capture=…)) and on
libpri's, and tshark checks both after the test (``pri_captures``).
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
    TelcoLines,
    TraceRecord,
    call_flow,
    frames_both_ways,
    link_summary,
    q931_summary,
    read_trace,
    restart_summary,
)

from drivers.e1_card.lapd.frames import FrameKind
from drivers.e1_card.q931.states import CallStateValue
from drivers.e1_card.telco import TelcoSim

pytestmark = pytest.mark.timeout(60)

U, N = "U->N", "N->U"
CALLED, CALLING = "96101", "13800138000"


@dataclass
class Telco:
    """Our telco simulator with libpri's user side connected, link up."""

    sim: TelcoSim
    out: TelcoLines
    user: AsyncPeer
    directory: Path
    capture: Path
    peer_capture: Path
    runner: asyncio.Future[None]

    async def do(self, command: str) -> None:
        await self.sim.execute(command)

    def trace(self, since: int = 0) -> list[TraceRecord]:
        """Our capture decoded, from record ``since`` on."""
        return read_trace(self.capture)[since:]

    def call_flow(self) -> list[tuple[str, str]]:
        return call_flow(self.trace())

    async def settle(self) -> None:
        """Let answers in flight arrive (a STATUS to our STATUS ENQUIRY …), then sync libpri."""
        await asyncio.sleep(0.3)
        await self.user.ping()

    def call_id(self, telco_id: str) -> int:
        return self.sim.calls[telco_id].call_id

    async def close(self) -> None:
        self.sim.stop()
        await asyncio.wait_for(self.runner, 5)


async def open_telco(libpri_peer: Callable[..., Any], directory: Path, captures: CaptureRegistry, *,
                     answer: str = "manual", user_options: dict[str, Any] | None = None) -> Telco:
    out = TelcoLines()
    capture = captures.path("telco-network")
    sim = TelcoSim(directory, answer=answer, answer_after=0.05, out=out, capture=capture)
    runner = asyncio.ensure_future(sim.run())
    await out.expect("ready")
    peer_capture = captures.path("libpri-user")
    peer = libpri_peer("user", directory / "dchan", listen=False, pcap=peer_capture, **(user_options or {}))
    telco = Telco(sim, out, AsyncPeer(peer), directory, capture, peer_capture, runner)
    await out.expect("link", up=True)
    await telco.user.expect("UP")
    return telco


@pytest.fixture
async def telco(libpri_peer: Callable[..., Any], pri_dir: Path, pri_captures: CaptureRegistry
                ) -> AsyncIterator[Telco]:
    opened = await open_telco(libpri_peer, pri_dir, pri_captures)
    try:
        yield opened
    finally:
        await opened.close()


async def telco_call_answered(telco: Telco, telco_id: str = "c1") -> tuple[int, int]:
    """The telco calls libpri; libpri proceeds, alerts, answers: (libpri id, timeslot)."""
    await telco.do(f"call {telco_id} {CALLED} {CALLING}")
    ring = await telco.user.expect("RING", called=CALLED, calling=CALLING)
    peer_id, ts = ring.int("id"), ring.int("channel")
    assert ts in B_CHANNELS and ring.int("requested") == ts and ring.int("exclusive") == 1
    await telco.user.proceeding(peer_id)
    assert (await telco.out.expect("proceeding", id=telco_id))["timeslot"] == ts
    await telco.user.alerting(peer_id)
    await telco.out.expect("ringing", id=telco_id)
    await telco.user.answer(peer_id)
    assert (await telco.out.expect("answered", id=telco_id))["timeslot"] == ts
    assert telco.sim.span.q931.call_state(telco.call_id(telco_id)) is CallStateValue.ACTIVE
    return peer_id, ts


async def user_call_answered(telco: Telco, peer_id: int = 1) -> tuple[str, int]:
    """libpri calls (any channel); the telco rings and answers: (telco id, timeslot)."""
    await telco.user.call(peer_id, CALLED, CALLING)
    incoming = await telco.out.expect("incoming", called=CALLED, calling=CALLING)
    telco_id, ts = incoming["id"], incoming["timeslot"]
    assert ts in B_CHANNELS
    await telco.user.expect("PROCEEDING", id=peer_id, channel=ts)  # manual mode proceeds at once
    await telco.do(f"ring {telco_id}")
    await telco.user.expect("RINGING", id=peer_id)
    await telco.do(f"answer {telco_id}")
    await telco.user.expect("ANSWER", id=peer_id, channel=ts)
    assert telco.sim.span.q931.call_state(telco.call_id(telco_id)) is CallStateValue.ACTIVE
    return telco_id, ts


# ------------------------------------------------------------------------------ link and calls

async def test_link_comes_up_and_libpri_sees_the_network(telco: Telco) -> None:
    assert await telco.user.status() == {"up": 1, "connected": 1, "calls": 0}
    await telco.user.ping()
    # Both sides send SABME at once (P=1) and each answers the other's with UA (F=1).
    kinds = {(r.direction, r.frame.kind, r.frame.command, r.frame.pf) for r in telco.trace()}
    assert kinds == {(U, FrameKind.SABME, True, True), (N, FrameKind.UA, False, True),
                     (N, FrameKind.SABME, True, True), (U, FrameKind.UA, False, True)}
    assert telco.sim.span.q931.idle_timeslots() == B_CHANNELS


async def test_our_capture_and_libpris_agree_frame_for_frame(telco: Telco) -> None:
    """What our capture says we sent is what libpri received, and the other way round."""
    peer_id, _ = await telco_call_answered(telco)
    await telco.do("hangup c1")
    await telco.out.expect("released", id="c1")
    await telco.user.expect("CLEARED", id=peer_id)
    await telco.user.ping()
    ours_sent, ours_received = frames_both_ways(telco.capture)
    theirs_sent, theirs_received = frames_both_ways(telco.peer_capture)
    # Only what reached the line is in our trace (a SABME tried before the box connected
    # is not): both captures hold the same frames.
    assert ours_received == theirs_sent
    assert len(ours_sent) >= 8 and ours_sent == theirs_received


@pytest.mark.parametrize("clearing", ["telco", "user"])
async def test_telco_call_answered_then_cleared(telco: Telco, clearing: str) -> None:
    peer_id, ts = await telco_call_answered(telco)
    if clearing == "telco":
        await telco.do("hangup c1 16")
        assert (await telco.user.expect("HANGUP_REQ", id=peer_id)).int("cause") == 16
        await telco.user.expect("HANGUP_ACK", id=peer_id)
        tail = [(N, "DISCONNECT"), (U, "RELEASE"), (N, "RELEASE COMPLETE")]
    else:
        await telco.user.hangup(peer_id, 16)
        assert (await telco.out.expect("hangup", id="c1"))["cause"] == 16
        assert (await telco.user.expect("HANGUP", id=peer_id)).int("cause") == 16
        tail = [(U, "DISCONNECT"), (N, "RELEASE"), (U, "RELEASE COMPLETE")]
    assert (await telco.out.expect("released", id="c1"))["cause"] == 16
    await telco.user.expect("CLEARED", id=peer_id)
    assert ts in telco.sim.span.q931.idle_timeslots()
    assert telco.call_flow() == [(N, "SETUP"), (U, "CALL PROCEEDING"), (U, "ALERTING"), (U, "CONNECT"),
                                 (N, "CONNECT ACKNOWLEDGE"), *tail]


@pytest.mark.parametrize("clearing", ["telco", "user"])
async def test_user_call_answered_then_cleared(telco: Telco, clearing: str) -> None:
    telco_id, ts = await user_call_answered(telco)
    if clearing == "telco":
        await telco.do(f"hangup {telco_id} 16")
        assert (await telco.user.expect("HANGUP_REQ", id=1)).int("cause") == 16
        await telco.user.expect("HANGUP_ACK", id=1)
        tail = [(N, "DISCONNECT"), (U, "RELEASE"), (N, "RELEASE COMPLETE")]
    else:
        await telco.user.hangup(1, 16)
        assert (await telco.out.expect("hangup", id=telco_id))["cause"] == 16
        assert (await telco.user.expect("HANGUP", id=1)).int("cause") == 16
        tail = [(U, "DISCONNECT"), (N, "RELEASE"), (U, "RELEASE COMPLETE")]
    assert (await telco.out.expect("released", id=telco_id))["cause"] == 16
    await telco.user.expect("CLEARED", id=1)
    assert ts in telco.sim.span.q931.idle_timeslots()
    assert telco.call_flow() == [(U, "SETUP"), (N, "CALL PROCEEDING"), (N, "ALERTING"), (N, "CONNECT"),
                                 (U, "CONNECT ACKNOWLEDGE"), *tail]


async def test_user_call_on_a_busy_channel_moves_if_preferred_and_gets_44_if_exclusive(telco: Telco) -> None:
    """Q.931 5.1.2: the network gives another channel for a busy preferred one (libpri
    takes it from our CALL PROCEEDING) and refuses a busy exclusive one with cause 44."""
    _, busy = await telco_call_answered(telco)  # the telco's own call holds a timeslot
    await telco.user.call(1, CALLED, CALLING, channel=busy)  # preferred
    incoming = await telco.out.expect("incoming")
    assert incoming["timeslot"] in B_CHANNELS and incoming["timeslot"] != busy
    await telco.user.expect("PROCEEDING", id=1, channel=incoming["timeslot"])
    await telco.do(f"answer {incoming['id']}")
    await telco.user.expect("ANSWER", id=1, channel=incoming["timeslot"])

    await telco.user.call(2, CALLED, CALLING, channel=busy, exclusive=True)
    assert (await telco.user.expect("HANGUP", id=2)).int("cause") == 44
    await telco.user.expect("CLEARED", id=2)
    assert telco.out.pending("incoming") == []
    assert q931_summary(telco.trace())[-2:] == [(U, "SETUP", None, None), (N, "RELEASE COMPLETE", 44, None)]


# ------------------------------------------------------------------------------ rejected, abandoned

@pytest.mark.parametrize("cause", [17, 21, 34])
async def test_telco_call_rejected_by_user(telco: Telco, cause: int) -> None:
    await telco.do(f"call c1 {CALLED} {CALLING}")
    peer_id = (await telco.user.expect("RING")).int("id")
    await telco.user.hangup(peer_id, cause)
    assert (await telco.out.expect("released", id="c1"))["cause"] == cause
    await telco.user.expect("CLEARED", id=peer_id)
    if cause == 34:  # libpri refuses with RELEASE COMPLETE at once
        assert telco.out.seen("hangup") == []
        assert telco.call_flow() == [(N, "SETUP"), (U, "RELEASE COMPLETE")]
    else:  # the harness proceeds first (libpri sends nothing else), then DISCONNECT
        assert [e["cause"] for e in telco.out.seen("hangup", id="c1")] == [cause]
        assert telco.call_flow() == [(N, "SETUP"), (U, "CALL PROCEEDING"), (U, "DISCONNECT"),
                                     (N, "RELEASE"), (U, "RELEASE COMPLETE")]
    assert telco.sim.span.q931.idle_timeslots() == B_CHANNELS


@pytest.mark.parametrize(("answer", "cause"), [("busy", 17), ("reject", 21)])
async def test_user_call_refused_by_a_busy_or_rejecting_telco(libpri_peer: Callable[..., Any], pri_dir: Path,
                                                             pri_captures: CaptureRegistry, answer: str,
                                                             cause: int) -> None:
    telco = await open_telco(libpri_peer, pri_dir, pri_captures, answer=answer)
    try:
        await telco.user.call(1, CALLED, CALLING)
        assert (await telco.user.expect("HANGUP", id=1)).int("cause") == cause
        await telco.user.expect("CLEARED", id=1)
        incoming = await telco.out.expect("incoming")
        assert (await telco.out.expect("released", id=incoming["id"]))["cause"] == cause
        assert q931_summary(telco.trace()) == [(U, "SETUP", None, None), (N, "RELEASE COMPLETE", cause, None)]
        assert telco.sim.span.q931.idle_timeslots() == B_CHANNELS
    finally:
        await telco.close()


async def test_user_call_cleared_by_the_telco_with_34_after_proceeding(telco: Telco) -> None:
    await telco.user.call(1, CALLED, CALLING)
    incoming = await telco.out.expect("incoming")
    await telco.user.expect("PROCEEDING", id=1)
    await telco.do(f"hangup {incoming['id']} 34")
    assert (await telco.user.expect("HANGUP_REQ", id=1)).int("cause") == 34
    assert (await telco.out.expect("released", id=incoming["id"]))["cause"] == 34
    await telco.user.expect("CLEARED", id=1)
    assert [m[:3] for m in q931_summary(telco.trace())] == [
        (U, "SETUP", None), (N, "CALL PROCEEDING", None), (N, "DISCONNECT", 34), (U, "RELEASE", 34),
        (N, "RELEASE COMPLETE", None)]  # the cause goes in the first clearing message only


async def test_telco_call_abandoned_while_ringing(telco: Telco) -> None:
    await telco.do(f"call c1 {CALLED} {CALLING}")
    peer_id = (await telco.user.expect("RING")).int("id")
    await telco.user.alerting(peer_id)
    await telco.out.expect("ringing", id="c1")
    await telco.do("hangup c1 16")  # the caller gives up before the answer
    assert (await telco.user.expect("HANGUP_REQ", id=peer_id)).int("cause") == 16
    assert (await telco.out.expect("released", id="c1"))["cause"] == 16
    await telco.user.expect("CLEARED", id=peer_id)
    assert telco.out.seen("answered") == []
    # libpri's pri_acknowledge() sends CALL PROCEEDING before ALERTING when it has not yet.
    assert telco.call_flow() == [(N, "SETUP"), (U, "CALL PROCEEDING"), (U, "ALERTING"), (N, "DISCONNECT"),
                                 (U, "RELEASE"), (N, "RELEASE COMPLETE")]


async def test_user_call_abandoned_while_ringing(telco: Telco) -> None:
    await telco.user.call(1, CALLED, CALLING)
    incoming = await telco.out.expect("incoming")
    await telco.do(f"ring {incoming['id']}")
    await telco.user.expect("RINGING", id=1)
    await telco.user.hangup(1, 16)  # the box's caller hangs up while the far end rings
    assert (await telco.out.expect("hangup", id=incoming["id"]))["cause"] == 16
    assert (await telco.out.expect("released", id=incoming["id"]))["cause"] == 16
    await telco.user.expect("CLEARED", id=1)
    assert telco.call_flow() == [(U, "SETUP"), (N, "CALL PROCEEDING"), (N, "ALERTING"), (U, "DISCONNECT"),
                                 (N, "RELEASE"), (U, "RELEASE COMPLETE")]


# ------------------------------------------------------------------------------ 30 calls at once

async def test_thirty_telco_calls_use_every_timeslot_once_and_a_31st_is_refused(telco: Telco) -> None:
    for n in range(1, 31):
        await telco.do(f"call c{n} {CALLED} {CALLING}")
    rings = [await telco.user.expect("RING") for _ in range(30)]
    assert sorted(r.int("channel") for r in rings) == list(B_CHANNELS)  # the network chose each once
    assert all(r.int("exclusive") == 1 for r in rings)
    for ring in rings:
        await telco.user.answer(ring.int("id"))
    answered = [await telco.out.expect("answered", id=f"c{n}") for n in range(1, 31)]
    assert sorted(a["timeslot"] for a in answered) == list(B_CHANNELS)
    assert telco.sim.span.q931.idle_timeslots() == ()

    await telco.do(f"call c31 {CALLED} {CALLING}")  # nothing left: refused here, nothing sent
    assert (await telco.out.expect("released", id="c31"))["cause"] == 34
    await telco.user.ping()
    assert [f for f in telco.call_flow() if f[1] == "SETUP"] == [(N, "SETUP")] * 30

    for n in range(1, 31):
        await telco.do(f"hangup c{n} 16")
    for n in range(1, 31):
        await telco.out.expect("released", id=f"c{n}")
    for ring in rings:
        await telco.user.expect("CLEARED", id=ring.int("id"))
    assert telco.sim.span.q931.idle_timeslots() == B_CHANNELS


async def test_thirty_user_calls_fill_the_span_and_a_31st_gets_34(telco: Telco) -> None:
    for n in range(1, 31):
        await telco.user.call(n, CALLED, f"{CALLING[:-2]}{n:02d}")  # any channel: the network picks
    incoming = [await telco.out.expect("incoming") for _ in range(30)]
    assert sorted(c["timeslot"] for c in incoming) == list(B_CHANNELS)
    for call in incoming:
        await telco.do(f"answer {call['id']}")
    for n in range(1, 31):
        await telco.user.expect("ANSWER", id=n)
    assert telco.sim.span.q931.idle_timeslots() == ()

    await telco.user.call(31, CALLED, CALLING)
    assert (await telco.user.expect("HANGUP", id=31)).int("cause") == 34
    await telco.user.expect("CLEARED", id=31)
    assert telco.out.pending("incoming") == []
    assert q931_summary(telco.trace())[-2:] == [(U, "SETUP", None, None), (N, "RELEASE COMPLETE", 34, None)]

    for n in range(1, 31):
        await telco.user.hangup(n, 16)
    for call in incoming:
        await telco.out.expect("released", id=call["id"])
    assert telco.sim.span.q931.idle_timeslots() == B_CHANNELS


# ------------------------------------------------------------------------------ RESTART

async def test_telco_restarts_one_channel_with_a_call_on_it(telco: Telco) -> None:
    peer_id, ts = await telco_call_answered(telco)
    await telco.do(f"restart {ts}")
    assert (await telco.out.expect("released", id="c1"))["cause"] == 16
    await telco.user.expect("RESTART", channel=ts)
    await telco.user.expect("CLEARED", id=peer_id)
    assert (await telco.out.expect("restarted"))["timeslots"] == [ts]
    assert restart_summary(telco.trace()) == [(N, "RESTART", 0, (ts,)), (U, "RESTART ACKNOWLEDGE", 0, (ts,))]
    assert telco.sim.span.q931.idle_timeslots() == B_CHANNELS
    await telco_call_answered(telco, "c2")


async def test_telco_restarts_the_whole_interface_with_class_7(telco: Telco) -> None:
    peer_id, _ = await telco_call_answered(telco)
    await telco.do("restart")
    assert (await telco.out.expect("released", id="c1"))["cause"] == 16
    await telco.user.expect("RESTART", channel=-1)
    await telco.user.expect("CLEARED", id=peer_id)
    assert (await telco.out.expect("restarted"))["timeslots"] == list(B_CHANNELS)
    assert restart_summary(telco.trace()) == [(N, "RESTART", 7, ()), (U, "RESTART ACKNOWLEDGE", 7, ())]
    assert telco.sim.span.q931.idle_timeslots() == B_CHANNELS
    await telco_call_answered(telco, "c2")


async def test_user_resets_one_channel_with_a_call_on_it(telco: Telco) -> None:
    telco_id, ts = await user_call_answered(telco)
    await telco.user.reset(ts)
    assert (await telco.out.expect("released", id=telco_id))["cause"] == 16
    assert (await telco.out.expect("restarted"))["timeslots"] == [ts]
    await telco.user.expect("RESTART_ACK", channel=ts)
    await telco.user.expect("CLEARED", id=1)
    assert restart_summary(telco.trace()) == [(U, "RESTART", 0, (ts,)), (N, "RESTART ACKNOWLEDGE", 0, (ts,))]
    assert telco.sim.span.q931.idle_timeslots() == B_CHANNELS


async def test_user_restarts_every_channel_in_turn(telco: Telco) -> None:
    """libpri 1.6 cannot send a class-7 RESTART: the harness restarts the 30 channels in turn."""
    telco_id, _ = await user_call_answered(telco)
    await telco.user.restart()
    await telco.user.expect("RESTART_DONE", timeout=20)
    assert [e.int("channel") for e in telco.user.seen("RESTART_ACK")] == list(B_CHANNELS)
    assert (await telco.out.expect("released", id=telco_id))["cause"] == 16
    restarted = [(await telco.out.expect("restarted"))["timeslots"] for _ in B_CHANNELS]
    assert restarted == [[ts] for ts in B_CHANNELS]
    assert restart_summary(telco.trace()) == [m for ts in B_CHANNELS for m in (
        (U, "RESTART", 0, (ts,)), (N, "RESTART ACKNOWLEDGE", 0, (ts,)))]
    assert telco.sim.span.q931.idle_timeslots() == B_CHANNELS


# ------------------------------------------------------------------------------ data link lost mid-call

async def test_telco_drops_the_link_mid_call_and_the_call_survives(telco: Telco) -> None:
    """Q.931 5.8.9 from the network side: our DISC, then our SABME at once; both sides keep
    the active call through T309 and check it: our STATUS ENQUIRY, libpri's own STATUS."""
    peer_id, ts = await telco_call_answered(telco)
    before = len(telco.trace())
    await telco.do("drop")
    await telco.out.expect("link", up=False)
    await telco.out.expect("link", up=True)
    await telco.user.expect("DOWN")
    await telco.user.expect("UP")
    await telco.settle()
    assert sorted(q931_summary(telco.trace(before))) == [  # 31: libpri's own STATUS, unasked
        (N, "STATUS ENQUIRY", None, None), (U, "STATUS", 30, 10), (U, "STATUS", 31, 10)]
    assert link_summary(telco.trace(before)) == [(N, "DISC"), (U, "UA"), (N, "SABME"), (U, "UA")]
    assert telco.sim.span.q931.call_state(telco.call_id("c1")) is CallStateValue.ACTIVE
    assert telco.out.seen("released") == [] and telco.out.seen("hangup") == []
    await telco.user.hangup(peer_id, 16)
    assert (await telco.out.expect("hangup", id="c1"))["cause"] == 16
    assert (await telco.out.expect("released", id="c1"))["cause"] == 16
    await telco.user.expect("CLEARED", id=peer_id)
    assert ts in telco.sim.span.q931.idle_timeslots()


async def test_libpri_user_restarted_mid_call_the_link_returns_and_the_lost_call_is_cleared(
        telco: Telco, libpri_peer: Callable[..., Any], pri_captures: CaptureRegistry) -> None:
    """The box dies and comes back (a new libpri, within T309) without the call: our
    STATUS ENQUIRY is answered RELEASE COMPLETE 81 and the telco releases it with 81."""
    _, ts = await telco_call_answered(telco)
    telco.user.peer.stop()  # the box dies: its D-channel socket closes
    await telco.out.expect("link", up=False)
    assert telco.sim.span.q931.call_state(telco.call_id("c1")) is CallStateValue.ACTIVE  # T309 runs
    before = len(telco.trace())
    telco.user = AsyncPeer(libpri_peer("user", telco.directory / "dchan", listen=False,
                                       pcap=pri_captures.path("libpri-user-2")))
    await telco.out.expect("link", up=True)
    await telco.user.expect("UP")
    assert (await telco.out.expect("released", id="c1", timeout=3))["cause"] == 81
    await telco.user.ping()
    # The new libpri knows no such call: RELEASE COMPLETE 81 answers our STATUS ENQUIRY.
    assert q931_summary(telco.trace(before)) == [(N, "STATUS ENQUIRY", None, None),
                                                 (U, "RELEASE COMPLETE", 81, None)]
    assert telco.out.seen("hangup") == []
    assert ts in telco.sim.span.q931.idle_timeslots()
    await telco_call_answered(telco, "c2")


async def test_line_cut_shorter_than_t309_the_call_survives(libpri_peer: Callable[..., Any], pri_dir: Path,
                                                           pri_captures: CaptureRegistry) -> None:
    """A real line fault: the telco signals LOS and the line carries nothing either way.
    libpri (T203 1 s, T200 0.5 s here) polls, gets no answer, declares the link down
    (T200 x N200: it goes back to Awaiting establishment) and keeps sending SABME; the
    line returns a second later, well within libpri's T309 (6 s) and before our own T203
    (10 s) noticed anything. libpri's SABME resets our established link (DL-ESTABLISH
    indication), we check the call with STATUS ENQUIRY, and it survives on both sides.
    libpri's layer 3 is not told (nothing was outstanding), so it sends no STATUS itself."""
    telco = await open_telco(libpri_peer, pri_dir, pri_captures,
                             user_options={"timers": {"T203": 1000, "T200": 500}})
    try:
        peer_id, ts = await telco_call_answered(telco)
        await asyncio.sleep(0.2)  # every I-frame acknowledged: our T200 is idle, T203 runs
        await telco.user.ping()
        await telco.do("alarms los")
        await telco.user.expect("DOWN", timeout=5)
        await asyncio.sleep(1.0)
        before = len(telco.trace())
        await telco.do("alarms")
        await telco.user.expect("UP", timeout=3)
        await telco.settle()
        assert link_summary(telco.trace(before)) == [(U, "SABME"), (N, "UA")]
        assert q931_summary(telco.trace(before)) == [(N, "STATUS ENQUIRY", None, None), (U, "STATUS", 30, 10)]
        assert [e["up"] for e in telco.out.seen("link")] == [True]  # our side never saw it down
        assert telco.sim.span.q931.call_state(telco.call_id("c1")) is CallStateValue.ACTIVE
        assert telco.out.seen("released") == []

        await telco.user.hangup(peer_id, 16)  # and it clears normally afterwards
        assert (await telco.out.expect("hangup", id="c1"))["cause"] == 16
        assert (await telco.out.expect("released", id="c1"))["cause"] == 16
        await telco.user.expect("CLEARED", id=peer_id)
        assert ts in telco.sim.span.q931.idle_timeslots()
    finally:
        await telco.close()


async def test_short_outage_while_ringing_does_not_clear_the_call(telco: Telco) -> None:
    """A 5 s outage catches an ALERTING of ours unacknowledged: our T200 polls N200
    times, then (Q.921 Annex B, ETS 300 125 Figure B-8 sheet 2: timer recovery, RC =
    N200) the link reports MDL-ERROR (I) and RE-ESTABLISHES — it is not released, so
    layer 3 hears nothing unless re-establishment fails too (MDL-ERROR G → DL-RELEASE).
    The line returns before that: our SABME gets UA, the unacknowledged ALERTING is
    discarded (DL-ESTABLISH indication, Q.931 5.8.8: STATUS ENQUIRY; libpri reports U3,
    which goes with our N4) and the call can still be answered. libpri itself behaves
    so (its trace: "Changing from state 8(Timer recovery) to 5(Awaiting establishment)")."""
    await telco.user.call(1, CALLED, CALLING)
    incoming = await telco.out.expect("incoming")
    await telco.user.expect("PROCEEDING", id=1)
    await asyncio.sleep(0.2)
    await telco.user.ping()
    await telco.do("alarms los")
    await telco.do(f"ring {incoming['id']}")  # lost on the cut line: T200 runs
    await asyncio.sleep(5.0)  # T200 x (N200 + 1) = 4 s have passed: MDL-ERROR (I)
    await telco.do("alarms")
    await asyncio.sleep(1.5)  # our next SABME (T200) gets libpri's UA
    await telco.user.ping()
    # MDL-ERROR (I) re-establishes (Q.921 Annex B) without telling layer 3: a call being
    # set up survives an outage that ends before the re-establishment gives up.
    assert telco.out.seen("released") == [], telco.out.history[-6:]
    assert telco.sim.span.q931.call_state(telco.call_id(incoming["id"])) is CallStateValue.CALL_DELIVERED
    await telco.do(f"answer {incoming['id']}")
    await telco.user.expect("ANSWER", id=1)
    await telco.user.hangup(1, 16)
    assert (await telco.out.expect("released", id=incoming["id"]))["cause"] == 16


async def test_libpri_load_of_300_calls_30_at_a_time_against_the_auto_answering_telco(
        libpri_peer: Callable[..., Any], pri_dir: Path, pri_captures: CaptureRegistry) -> None:
    """libpri's load generator: 300 calls, 30 in flight, each cleared by libpri once
    answered. Bursts far beyond the window (k = 7) both ways; nothing may be lost."""
    telco = await open_telco(libpri_peer, pri_dir, pri_captures, answer="auto")
    try:
        await telco.user.command("load 300 30")
        done = await telco.user.expect("LOAD_DONE", timeout=40)
        assert (done.int("ok"), done.int("failed")) == (300, 0)
        await asyncio.sleep(0.3)
        released = telco.out.seen("released")
        assert len(released) == 300 and {e["cause"] for e in released} == {16}
        assert telco.out.seen("protocol_error") == [] and telco.out.seen("error") == []
        assert [e["up"] for e in telco.out.seen("link")] == [True]
        assert telco.sim.span.q931.idle_timeslots() == B_CHANNELS
        assert await telco.user.status() == {"up": 1, "connected": 1, "calls": 0}
    finally:
        await telco.close()
