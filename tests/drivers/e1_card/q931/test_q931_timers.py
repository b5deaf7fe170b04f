"""Q.931 timer expiry (T302-T322) and data-link loss (T309) on a user/network pair."""

from __future__ import annotations

import pytest
from q931_harness import Pair

from drivers.e1_card.q931.events import Hangup, IncomingCall, ProtocolErrorReported, Released, Restarted
from drivers.e1_card.q931.ies import CallState, Cause, ChannelIdentification
from drivers.e1_card.q931.interface import Q931
from drivers.e1_card.q931.messages import MessageType
from drivers.e1_card.q931.states import CallStateValue
from drivers.e1_card.q931.timers import Deadlines, Q931Timers
from drivers.e1_card.roles import B_TIMESLOTS, Role

M = MessageType
S = CallStateValue


def other(role: Role) -> Role:
    return "network" if role == "user" else "user"


def placed(pair: Pair, caller: Role = "user", digits: str = "96101", **kwargs) -> tuple[int, int]:
    """``caller`` places a call and its SETUP arrives: (the caller's call id, the other side's)."""
    caller_id = pair.side(caller).setup(digits, now=pair.now, **kwargs)
    pair.exchange()
    return caller_id, pair.of(other(caller), IncomingCall)[-1].call_id


def overlap_sending(pair: Pair) -> tuple[int, int]:
    """The user sends an incomplete SETUP, the network acknowledges it: (user's id, network's)."""
    uid, nid = placed(pair, digits="9", sending_complete=False)
    pair.network.setup_acknowledge(nid, pair.now)
    pair.exchange()
    return uid, nid


def connected(pair: Pair) -> tuple[int, int]:
    uid, nid = placed(pair)
    pair.network.answer(nid, pair.now)
    pair.exchange()
    assert pair.user.call_state(uid) is S.ACTIVE
    return uid, nid


def test_default_values_and_validation() -> None:
    timers = Q931Timers()
    assert (timers.t303, timers.t305, timers.t308, timers.t309, timers.t310) == (4, 30, 4, 6, 30)
    assert (timers.t313, timers.t316, timers.t322) == (4, 120, 4)
    assert timers.duration("T303") == 4.0
    with pytest.raises(KeyError):
        timers.duration("restart_attempts")
    with pytest.raises(ValueError, match="t305"):
        Q931Timers(t305=0)


def test_deadlines_fire_earliest_first() -> None:
    d = Deadlines()
    d.start("T310", 30)
    d.start("T303", 4)
    assert d.earliest() == 4 and d.pop_expired(3) is None
    assert d.pop_expired(40) == "T303" and d.pop_expired(40) == "T310" and d.earliest() is None


def test_get_timer_reports_the_earliest_deadline() -> None:
    pair = Pair()
    assert pair.user.get_timer() is None
    pair.user.setup("1", now=10.0)
    assert pair.user.get_timer() == 14.0


def test_t303_retransmits_setup_once_then_releases_with_102() -> None:
    pair = Pair()
    uid = pair.user.setup("96101", now=pair.now)
    first = pair.take("user")
    pair.advance(3.9, deliver=False)
    assert not pair.take("user")
    pair.advance(0.2, deliver=False)
    assert pair.take("user") == first  # the same SETUP again
    pair.advance(4.0, deliver=False)
    complete = pair.take("user")
    assert len(complete) == 1 and pair.wire[-1][1].type == M.RELEASE_COMPLETE
    assert pair.wire[-1][1].get(Cause).value == 102
    assert pair.events["user"] == [Released(uid, 102)]
    assert pair.user.get_timer() is None


def test_t303_on_the_network_side_frees_its_channel() -> None:
    pair = Pair()
    nid = pair.network.setup("1", now=pair.now)
    assert 31 not in pair.network.idle_timeslots()
    pair.take("network")
    pair.advance(4.0, deliver=False)
    pair.advance(4.0, deliver=False)
    assert pair.events["network"] == [Released(nid, 102)]
    assert pair.network.idle_timeslots() == B_TIMESLOTS


def test_a_retransmitted_setup_answered_late_still_works() -> None:
    pair = Pair()
    uid = pair.user.setup("96101", now=pair.now)
    pair.take("user")  # the first SETUP is lost
    pair.advance(4.0)  # T303: sent again, delivered this time
    assert len(pair.of("network", IncomingCall)) == 1
    nid = pair.of("network", IncomingCall)[0].call_id
    pair.network.proceeding(nid, pair.now)
    pair.exchange()
    pair.advance(10.0)
    assert pair.user.call_state(uid) is S.OUTGOING_CALL_PROCEEDING


@pytest.mark.parametrize("caller", ["user", "network"])
def test_t310_clears_a_call_that_never_progresses(caller: Role) -> None:
    pair = Pair()
    caller_id, answerer_id = placed(pair, caller)
    pair.side(other(caller)).proceeding(answerer_id, pair.now)
    pair.exchange()
    pair.advance(29.0)
    assert not pair.sent(caller, M.DISCONNECT)
    pair.advance(1.0)
    assert pair.sent(caller, M.DISCONNECT)[0].get(Cause).value == 102
    assert pair.events[caller][-1] == Released(caller_id, 102)
    assert pair.of(other(caller), Hangup)[-1].cause == 102


def test_t313_user_clears_when_connect_ack_never_comes() -> None:
    pair = Pair()
    _, uid = placed(pair, "network", "1")
    pair.user.answer(uid, pair.now)
    pair.take("user")  # CONNECT lost
    pair.advance(4.0)
    assert pair.sent("user", M.DISCONNECT)[0].get(Cause).value == 102
    assert pair.events["user"][-1] == Released(uid, 102)


def test_t305_sends_release_with_the_disconnect_cause_and_t308_completes() -> None:
    pair = Pair()
    uid, nid = connected(pair)
    pair.user.hangup(uid, 17, now=pair.now)
    pair.take("user")  # DISCONNECT lost
    pair.advance(30.0, deliver=False)
    assert pair.user.call_state(uid) is S.RELEASE_REQUEST
    release = pair.take("user")
    assert pair.wire[-1][1].type == M.RELEASE and pair.wire[-1][1].get(Cause).value == 17
    for data in release:
        pair.network.receive(data, pair.now)
    pair.exchange()
    assert pair.events["user"][-1] == Released(uid, 17)
    assert pair.events["network"][-1] == Released(nid, 17)


def test_t308_retransmits_release_then_puts_the_channel_in_maintenance_and_restarts_it() -> None:
    pair = Pair()
    uid, nid = connected(pair)
    ts = pair.user.channel_of(uid)
    pair.network.hangup(nid, now=pair.now)
    for data in pair.take("network"):
        pair.inject("user", data)  # the DISCONNECT arrives
    pair.take("user")  # our RELEASE is lost
    pair.advance(4.0, deliver=False)
    pair.take("user")
    assert [m.type for m in pair.sent("user")][-2:] == [M.RELEASE, M.RELEASE]
    assert pair.sent("user")[-1] == pair.sent("user")[-2]
    pair.advance(4.0, deliver=False)
    assert pair.events["user"][-1] == Released(uid, 16)
    assert ts not in pair.user.idle_timeslots()  # maintenance
    restart = pair.take("user")
    assert pair.wire[-1][1].type == M.RESTART
    assert pair.wire[-1][1].get(ChannelIdentification).timeslots == (ts,)
    for data in restart:
        pair.network.receive(data, pair.now)
    pair.exchange()
    assert Restarted((ts,)) in pair.events["user"] and ts in pair.user.idle_timeslots()
    assert Released(nid, 16) in pair.events["network"]


def test_t302_clears_overlap_receiving_with_28() -> None:
    pair = Pair()
    uid, nid = overlap_sending(pair)
    pair.advance(10.0)
    pair.user.information(uid, "6", pair.now)  # restarts T302 at the network (and T304 here)
    pair.exchange()
    pair.advance(10.0)
    assert not pair.sent("network", M.DISCONNECT)
    pair.advance(5.0)
    assert pair.sent("network", M.DISCONNECT)[0].get(Cause).value == 28
    assert pair.events["user"][-1] == Released(uid, 28)


def test_t304_clears_overlap_sending_with_102() -> None:
    pair = Pair(timers=Q931Timers(t302=60.0))
    uid, nid = overlap_sending(pair)
    pair.advance(20.0)
    assert pair.sent("user", M.DISCONNECT)[0].get(Cause).value == 102
    assert pair.events["network"][-1] == Released(nid, 102)
    assert pair.events["user"][-1] == Released(uid, 102)


def test_t322_retransmits_status_enquiry_then_clears_with_41() -> None:
    pair = Pair()
    uid, nid = connected(pair)
    pair.user.link_released(pair.now)
    pair.user.link_established(pair.now)
    enquiry = pair.take("user")
    assert pair.wire[-1][1].type == M.STATUS_ENQUIRY
    pair.advance(4.0, deliver=False)
    assert pair.take("user") == enquiry
    pair.advance(4.0, deliver=False)
    pair.take("user")
    assert pair.wire[-1][1].type == M.RELEASE and pair.wire[-1][1].get(Cause).value == 41
    assert any(isinstance(e, ProtocolErrorReported) and e.cause == 41 for e in pair.events["user"])


def test_status_enquiry_answered_stops_t322() -> None:
    pair = Pair()
    uid, nid = connected(pair)
    pair.user.link_released(pair.now)
    pair.user.link_established(pair.now)
    pair.exchange()
    status = pair.sent("network", M.STATUS)[0]
    assert status.get(Cause).value == 30 and status.get(CallState).value == 10
    assert pair.user.get_timer() is None and pair.user.call_state(uid) is S.ACTIVE


def test_link_bounce_within_t309_keeps_the_active_call() -> None:
    pair = Pair()
    uid, nid = connected(pair)
    pending = pair.network.setup("1", now=pair.now)  # not active: cleared at once
    pair.exchange()
    for role in ("user", "network"):
        pair.side(role).link_released(pair.now)
    pair.collect()
    assert Released(pending, 41) in pair.events["network"]
    pair.advance(5.0)
    assert pair.user.call_state(uid) is S.ACTIVE
    for role in ("user", "network"):
        pair.side(role).link_established(pair.now)
    pair.exchange()
    # Each side checks its surviving call with STATUS ENQUIRY; both answer STATUS 30/state 10.
    assert pair.sent("user", M.STATUS_ENQUIRY) and pair.sent("network", M.STATUS_ENQUIRY)
    assert pair.sent("network", M.STATUS)[0].get(CallState).value == 10
    pair.advance(10.0)
    assert pair.user.call_state(uid) is S.ACTIVE and pair.network.call_state(nid) is S.ACTIVE
    assert [e for e in pair.events["user"] if isinstance(e, Released) and e.call_id == uid] == []


def test_link_down_longer_than_t309_clears_the_active_call_with_41() -> None:
    pair = Pair()
    uid, nid = connected(pair)
    ts = pair.user.channel_of(uid)
    for role in ("user", "network"):
        pair.side(role).link_released(pair.now)
    pair.advance(6.0, deliver=False)
    assert pair.events["user"][-1] == Released(uid, 41)
    assert pair.events["network"][-1] == Released(nid, 41)
    assert ts in pair.user.idle_timeslots() and not pair.take("user")


def test_messages_requested_while_the_link_is_down_wait_for_it() -> None:
    pair = Pair()
    uid, nid = connected(pair)
    pair.user.link_released(pair.now)
    pair.user.hangup(uid, now=pair.now)
    assert not pair.user.messages_to_send()
    failed = pair.user.setup("1", now=pair.now)
    pair.collect()
    assert Released(failed, 41) in pair.events["user"]
    pair.user.link_established(pair.now)
    pair.exchange()
    assert pair.sent("user", M.DISCONNECT) and pair.events["user"][-1] == Released(uid, 16)


def test_data_link_reset_clears_overlap_calls_and_checks_the_others() -> None:
    pair = Pair()
    active_uid, _ = connected(pair)
    overlap_uid, _ = overlap_sending(pair)
    pair.clear_log()
    pair.user.link_established(pair.now, reestablished=True)
    pair.exchange()
    assert pair.sent("user", M.DISCONNECT)[0].get(Cause).value == 41
    assert pair.sent("user", M.STATUS_ENQUIRY)[0].call_ref == next(
        c.cref for c in pair.user.calls if c.call_id == active_uid)
    assert pair.events["user"][-1] == Released(overlap_uid, 41)


def test_network_role_timers_survive_without_a_peer() -> None:
    q = Q931("network")
    q.link_established(0)
    q.setup("1", now=0)
    for t in range(1, 20):
        q.handle_timer(float(t))
    assert q.get_timer() is None and q.idle_timeslots() == B_TIMESLOTS


def test_a_call_that_dies_with_the_link_sends_nothing_when_it_returns() -> None:
    pair = Pair()
    uid, nid = connected(pair)
    pair.user.link_released(pair.now)
    pair.user.hangup(uid, now=pair.now)  # DISCONNECT held
    pair.user.restart((2,), pair.now)  # RESTART held too
    pair.advance(6.0, deliver=False)  # T309: the call is gone
    assert Released(uid, 16) in pair.events["user"]
    pair.user.link_established(pair.now)
    pair.take("user")
    assert [m.type for m in pair.sent("user")][-1:] == [M.RESTART]
    assert not pair.sent("user", M.DISCONNECT)
