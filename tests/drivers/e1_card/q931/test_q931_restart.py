"""RESTART / RESTART ACKNOWLEDGE (Q.931 5.5) on a user/network pair, T316."""

from __future__ import annotations

import pytest
from q931_harness import Pair

from drivers.e1_card.errors import LocalProtocolError
from drivers.e1_card.q931.events import (
    IncomingCall,
    ProtocolErrorReported,
    Released,
    Restarted,
    RestartFailed,
)
from drivers.e1_card.q931.ies import CallState, Cause, ChannelIdentification, RestartIndicator
from drivers.e1_card.q931.messages import Message, MessageType, encode_message
from drivers.e1_card.q931.states import CallStateValue, GlobalState
from drivers.e1_card.roles import B_TIMESLOTS

M = MessageType
S = CallStateValue


def active_calls(pair: Pair, count: int) -> list[tuple[int, int]]:
    calls = []
    for _ in range(count):
        uid = pair.user.setup("96101", now=pair.now)
        pair.exchange()
        nid = pair.of("network", IncomingCall)[-1].call_id
        pair.network.answer(nid, pair.now)
        pair.exchange()
        calls.append((uid, nid))
    return calls


@pytest.mark.parametrize("initiator", ["user", "network"])
def test_restart_one_channel_clears_its_call_only(initiator: str) -> None:
    pair = Pair()
    (u1, n1), (u2, n2) = active_calls(pair, 2)
    ts = pair.user.channel_of(u1)
    pair.side(initiator).restart((ts,), pair.now)
    pair.exchange()
    restart = pair.sent(initiator, M.RESTART)[0]
    assert restart.call_ref == 0
    assert restart.get(RestartIndicator).restart_class == 0
    assert restart.get(ChannelIdentification).timeslots == (ts,)
    responder = "network" if initiator == "user" else "user"
    ack = pair.sent(responder, M.RESTART_ACKNOWLEDGE)[0]
    assert ack.call_ref == 0 and ack.get(RestartIndicator).restart_class == 0
    assert ack.get(ChannelIdentification).timeslots == (ts,)
    assert Released(u1, 16) in pair.events["user"] and Released(n1, 16) in pair.events["network"]
    for role in ("user", "network"):
        assert Restarted((ts,)) in pair.events[role]
        assert ts in pair.side(role).idle_timeslots()
    assert pair.user.call_state(u2) is S.ACTIVE and pair.network.call_state(n2) is S.ACTIVE
    assert not pair.sent("user", M.RELEASE) and not pair.sent("network", M.RELEASE)


@pytest.mark.parametrize("initiator", ["user", "network"])
def test_restart_the_whole_interface_clears_every_call(initiator: str) -> None:
    pair = Pair()
    calls = active_calls(pair, 3)
    ringing = pair.network.setup("1", now=pair.now)  # one still being set up
    pair.exchange()
    pair.side(initiator).restart(None, pair.now)
    assert pair.side(initiator).idle_timeslots() == ()  # maintenance until the ACK
    pair.exchange()
    restart = pair.sent(initiator, M.RESTART)[0]
    assert restart.get(RestartIndicator).restart_class == 7 and restart.get(ChannelIdentification) is None
    for uid, nid in calls:
        assert Released(uid, 16) in pair.events["user"] and Released(nid, 16) in pair.events["network"]
    assert Released(ringing, 16) in pair.events["network"]
    for role in ("user", "network"):
        assert Restarted(B_TIMESLOTS) in pair.events[role]
        assert pair.side(role).idle_timeslots() == B_TIMESLOTS
        assert len(pair.side(role).calls) == 0
    # Every call got exactly one Released.
    released = [e.call_id for e in pair.events["user"] if isinstance(e, Released)]
    assert len(released) == len(set(released)) == 4


def test_restart_several_channels_sends_one_restart_each() -> None:
    pair = Pair()
    pair.user.restart((1, 2, 2), pair.now)
    pair.exchange()
    assert [m.get(ChannelIdentification).timeslots for m in pair.sent("user", M.RESTART)] == [(1,), (2,)]
    assert pair.of("user", Restarted) == [Restarted((1,)), Restarted((2,))]
    with pytest.raises(LocalProtocolError):
        pair.user.restart((16,), pair.now)
    with pytest.raises(LocalProtocolError):
        pair.user.restart((), pair.now)


def test_t316_retransmits_restart_then_reports_failure() -> None:
    pair = Pair()
    pair.user.restart((5,), pair.now)
    first = pair.take("user")
    assert pair.user.restarts.state is GlobalState.REST1
    pair.advance(120.0, deliver=False)
    assert pair.take("user") == first
    pair.advance(120.0, deliver=False)
    assert not pair.take("user")
    assert pair.of("user", RestartFailed) == [RestartFailed((5,))]
    assert 5 not in pair.user.idle_timeslots()  # stays in maintenance
    assert pair.user.restarts.state is GlobalState.REST0 and pair.user.get_timer() is None
    pair.user.restart((5,), pair.now)  # a later restart can bring it back
    pair.exchange()
    assert 5 in pair.user.idle_timeslots()


def test_channels_in_restart_are_not_offered_to_calls() -> None:
    pair = Pair(user_timeslots=(1, 2), network_timeslots=(1, 2))
    pair.network.restart((2,), pair.now)
    pair.take("network")  # the RESTART is lost: 2 stays in maintenance
    nid = pair.network.setup("1", now=pair.now)
    assert pair.network.channel_of(nid) == 1
    assert pair.network.next_event() is None
    again = pair.network.setup("1", now=pair.now)
    assert pair.network.next_event() == Released(again, 34)


def test_received_restart_for_a_channel_that_does_not_exist_gets_status_82() -> None:
    pair = Pair()
    bad = Message(M.RESTART, 0, True, (ChannelIdentification((16,), exclusive=True), RestartIndicator(0)))
    pair.inject("user", encode_message(bad))
    pair.take("user")
    status = pair.wire[-1][1]
    assert status.type == M.STATUS and status.call_ref == 0 and status.get(Cause).value == 82
    assert not pair.of("user", Restarted)


def test_received_restart_class_0_without_channel_gets_status_96() -> None:
    pair = Pair()
    pair.inject("network", encode_message(Message(M.RESTART, 0, True, (RestartIndicator(0),))))
    pair.take("network")
    assert pair.wire[-1][1].type == M.STATUS and pair.wire[-1][1].get(Cause).value == 96


def test_restart_without_restart_indicator_gets_status_96_on_the_global_reference() -> None:
    pair = Pair()
    pair.inject("user", bytes.fromhex("08020000") + bytes([M.RESTART]))
    pair.take("user")
    status = pair.wire[-1][1]
    assert (status.type, status.call_ref, status.get(Cause).value) == (M.STATUS, 0, 96)
    assert status.get(CallState).value == GlobalState.REST0


def test_other_messages_on_the_global_reference_get_status_81() -> None:
    pair = Pair()
    pair.user.restart((3,), pair.now)
    pair.take("user")
    pair.inject("user", encode_message(Message(M.ALERTING, 0, True)))
    pair.take("user")
    status = pair.wire[-1][1]
    assert status.get(Cause).value == 81 and status.get(CallState).value == GlobalState.REST1


def test_unexpected_restart_acknowledge_is_ignored_and_logged() -> None:
    pair = Pair()
    pair.inject("user", encode_message(Message(M.RESTART_ACKNOWLEDGE, 0, False, (RestartIndicator(7),))))
    assert not pair.take("user")
    assert pair.of("user", ProtocolErrorReported)
    assert not pair.of("user", Restarted)


@pytest.mark.parametrize(("flag_byte", "our_from_originator"), [(0x00, False), (0x80, True)])
def test_status_on_the_global_reference_carries_the_other_flag(flag_byte: int,
                                                               our_from_originator: bool) -> None:
    pair = Pair()
    # A RESTART (flag 0) / RESTART ACKNOWLEDGE (flag 1) without its mandatory restart indicator.
    mtype = MessageType.RESTART if flag_byte == 0 else MessageType.RESTART_ACKNOWLEDGE
    pair.inject("user", bytes([0x08, 0x02, flag_byte, 0x00, mtype]))
    pair.exchange()
    statuses = pair.sent("user", MessageType.STATUS)
    assert len(statuses) == 1 and statuses[0].call_ref == 0
    assert statuses[0].from_originator is our_from_originator  # Q.931 4.3
    assert statuses[0].get(Cause).value == 96
