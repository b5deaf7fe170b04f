"""Q931 call control on a user/network pair: calls, rejections, clearing, channels, glare."""

from __future__ import annotations

import random

import pytest
from q931_harness import Pair

from drivers.e1_card.errors import LocalProtocolError
from drivers.e1_card.q931.events import (
    Answered,
    Digits,
    Hangup,
    IncomingCall,
    Proceeding,
    ProgressReceived,
    Released,
    Ringing,
    SetupAcknowledged,
)
from drivers.e1_card.q931.ies import (
    CalledPartyNumber,
    Cause,
    ChannelIdentification,
    Display,
    Location,
    Presentation,
    ProgressIndicator,
    SendingComplete,
)
from drivers.e1_card.q931.interface import Q931
from drivers.e1_card.q931.messages import Message, MessageType, encode_message
from drivers.e1_card.q931.states import CallStateValue
from drivers.e1_card.roles import B_TIMESLOTS

M = MessageType
S = CallStateValue


def incoming(pair: Pair, role: str) -> IncomingCall:
    calls = pair.of(role, IncomingCall)
    assert calls, f"no IncomingCall on the {role} side"
    return calls[-1]


def user_calls_network(pair: Pair, **kwargs) -> tuple[int, int]:
    uid = pair.user.setup("96101", "13800138000", now=pair.now, **kwargs)
    pair.exchange()
    return uid, incoming(pair, "network").call_id


def network_calls_user(pair: Pair, **kwargs) -> tuple[int, int]:
    nid = pair.network.setup("88886666", "01012345678", now=pair.now, **kwargs)
    pair.exchange()
    return nid, incoming(pair, "user").call_id


def test_user_places_a_call_the_network_answers_and_the_user_clears() -> None:
    pair = Pair()
    uid, nid = user_calls_network(pair)
    setup = pair.sent("user", M.SETUP)[0]
    assert setup.from_originator and setup.get(CalledPartyNumber).digits == "96101"
    assert setup.get(ChannelIdentification) is None  # the network chooses
    assert setup.get(SendingComplete) is not None
    call = incoming(pair, "network")
    assert (call.called, call.calling, call.calling_presentation) == ("96101", "13800138000", 0)
    assert call.timeslot == 31 and call.sending_complete  # the network picks from the top

    pair.network.proceeding(nid, pair.now)
    pair.exchange()
    proceeding = pair.sent("network", M.CALL_PROCEEDING)[0]
    assert not proceeding.from_originator
    assert proceeding.get(ChannelIdentification) == ChannelIdentification(timeslots=(31,), exclusive=True)
    assert pair.of("user", Proceeding) == [Proceeding(uid, 31)]

    pair.network.alerting(nid, pair.now, inband=True)
    pair.exchange()
    assert pair.sent("network", M.ALERTING)[0].get(ChannelIdentification) is None  # only the first
    assert pair.of("user", Ringing) == [Ringing(uid, True)]

    pair.network.answer(nid, pair.now)
    pair.exchange()
    assert pair.sent("user", M.CONNECT_ACKNOWLEDGE)
    assert pair.of("user", Answered) == [Answered(uid)]
    assert pair.user.call_state(uid) is S.ACTIVE and pair.network.call_state(nid) is S.ACTIVE
    assert pair.user.channel_of(uid) == pair.network.channel_of(nid) == 31
    assert 31 not in pair.user.idle_timeslots() and 31 not in pair.network.idle_timeslots()

    pair.user.hangup(uid, now=pair.now)
    pair.exchange()
    disconnect = pair.sent("user", M.DISCONNECT)[0].get(Cause)
    assert (disconnect.value, disconnect.location) == (16, Location.USER)
    assert pair.sent("network", M.RELEASE) and pair.sent("user", M.RELEASE_COMPLETE)
    assert pair.of("network", Hangup) == [Hangup(nid, 16, Location.USER)]
    assert pair.events["user"][-1] == Released(uid, 16)
    assert pair.events["network"][-1] == Released(nid, 16)
    assert pair.user.idle_timeslots() == pair.network.idle_timeslots() == B_TIMESLOTS
    assert pair.user.call_state(uid) is S.NULL and pair.user.channel_of(uid) is None


def test_network_places_a_call_the_user_answers_and_the_network_clears() -> None:
    pair = Pair()
    nid, uid = network_calls_user(pair, display="Anxin")
    setup = pair.sent("network", M.SETUP)[0]
    assert setup.get(ChannelIdentification) == ChannelIdentification(timeslots=(31,), exclusive=True)
    call = incoming(pair, "user")
    assert call.timeslot == 31 and call.exclusive and call.display == "Anxin"
    assert setup.get(Display).text == "Anxin"

    pair.user.proceeding(uid, pair.now)
    pair.user.alerting(uid, pair.now)
    pair.exchange()
    # EN 300 403: the user's first answer names the channel, later ones do not.
    assert pair.sent("user", M.CALL_PROCEEDING)[0].get(ChannelIdentification).timeslots == (31,)
    assert pair.sent("user", M.ALERTING)[0].get(ChannelIdentification) is None
    assert pair.of("network", Proceeding) == [Proceeding(nid, 31)]
    assert pair.of("network", Ringing) == [Ringing(nid, False)]

    pair.user.answer(uid, pair.now)
    assert pair.user.call_state(uid) is S.CONNECT_REQUEST
    pair.exchange()
    assert pair.sent("network", M.CONNECT_ACKNOWLEDGE)
    assert pair.of("user", Answered) == [Answered(uid)] and pair.of("network", Answered) == [Answered(nid)]

    pair.network.hangup(nid, now=pair.now)
    pair.exchange()
    cause = pair.sent("network", M.DISCONNECT)[0].get(Cause)
    assert (cause.value, cause.location) == (16, Location.PUBLIC_LOCAL)
    assert pair.of("user", Hangup) == [Hangup(uid, 16, Location.PUBLIC_LOCAL)]
    assert pair.events["user"][-1] == Released(uid, 16) and pair.events["network"][-1] == Released(nid, 16)


def test_call_references_are_per_side_and_flagged() -> None:
    pair = Pair()
    user_calls_network(pair)
    network_calls_user(pair)
    user_setup, network_setup = pair.sent("user", M.SETUP)[0], pair.sent("network", M.SETUP)[0]
    assert user_setup.from_originator and network_setup.from_originator
    assert 1 <= user_setup.call_ref <= 0x7FFF and 1 <= network_setup.call_ref <= 0x7FFF
    pair.user.proceeding(incoming(pair, "user").call_id, pair.now)
    pair.exchange()
    answer = pair.sent("user", M.CALL_PROCEEDING)[0]
    assert answer.call_ref == network_setup.call_ref and not answer.from_originator


def test_call_reference_allocation_skips_live_references() -> None:
    q = Q931("user", rng=random.Random(7))
    q.link_established(0)
    first = q.calls.get(q.setup("1", now=0))
    q.calls._next_cref = first.cref  # wrap the allocator round onto the live reference
    second = q.calls.get(q.setup("1", now=0))
    assert second.cref == first.cref % 0x7FFF + 1
    starts = {Q931("user", rng=random.Random(seed)).calls.allocate_cref() for seed in range(5)}
    assert len(starts) > 1 and all(1 <= ref <= 0x7FFF for ref in starts)


@pytest.mark.parametrize("cause", [17, 21, 34])
def test_network_rejects_the_users_setup(cause: int) -> None:
    pair = Pair()
    uid, nid = user_calls_network(pair)
    pair.network.hangup(nid, cause, now=pair.now)
    pair.exchange()
    complete = pair.sent("network", M.RELEASE_COMPLETE)[0]
    assert complete.get(Cause).value == cause and not pair.sent("network", M.DISCONNECT)
    assert pair.events["user"] == [Released(uid, cause)]
    assert pair.events["network"][-1] == Released(nid, cause)
    assert pair.user.idle_timeslots() == pair.network.idle_timeslots() == B_TIMESLOTS


@pytest.mark.parametrize("cause", [17, 21, 34])
def test_user_rejects_the_networks_setup(cause: int) -> None:
    pair = Pair()
    nid, uid = network_calls_user(pair)
    pair.user.hangup(uid, cause, now=pair.now)
    pair.exchange()
    assert pair.sent("user", M.RELEASE_COMPLETE)[0].get(Cause).value == cause
    assert pair.events["network"][-1] == Released(nid, cause)
    assert pair.network.idle_timeslots() == B_TIMESLOTS


def test_user_busy_after_proceeding_clears_with_disconnect() -> None:
    pair = Pair()
    nid, uid = network_calls_user(pair)
    pair.user.proceeding(uid, pair.now)
    pair.user.hangup(uid, 17, now=pair.now)
    pair.exchange()
    assert pair.sent("user", M.DISCONNECT)[0].get(Cause).value == 17
    assert pair.of("network", Hangup) == [Hangup(nid, 17, Location.USER)]
    assert pair.events["network"][-1] == Released(nid, 17)


def test_caller_abandons_during_alerting() -> None:
    pair = Pair()
    uid, nid = user_calls_network(pair)
    pair.network.alerting(nid, pair.now)
    pair.exchange()
    pair.user.hangup(uid, now=pair.now)
    pair.exchange()
    assert pair.of("network", Hangup) == [Hangup(nid, 16, Location.USER)]
    assert pair.events["network"][-1] == Released(nid, 16)
    assert pair.events["user"][-1] == Released(uid, 16)
    with pytest.raises(LocalProtocolError, match="answer"):
        pair.network.answer(nid, pair.now)


def test_network_caller_abandons_while_the_user_rings() -> None:
    pair = Pair()
    nid, uid = network_calls_user(pair)
    pair.user.alerting(uid, pair.now)
    pair.exchange()
    pair.network.hangup(nid, now=pair.now)
    pair.exchange()
    assert pair.of("user", Hangup) == [Hangup(uid, 16, Location.PUBLIC_LOCAL)]
    assert [type(e) for e in pair.events["user"]][-2:] == [Hangup, Released]


def test_both_sides_clear_at_once() -> None:
    pair = Pair()
    uid, nid = user_calls_network(pair)
    pair.network.answer(nid, pair.now)
    pair.exchange()
    pair.user.hangup(uid, now=pair.now)
    pair.network.hangup(nid, now=pair.now)
    pair.exchange()  # DISCONNECTs cross, then RELEASEs cross (Q.931 5.3.5)
    assert pair.sent("user", M.RELEASE) and pair.sent("network", M.RELEASE)
    assert not pair.sent("user", M.RELEASE_COMPLETE) and not pair.sent("network", M.RELEASE_COMPLETE)
    assert pair.of("user", Released) == [Released(uid, 16)]
    assert pair.of("network", Released) == [Released(nid, 16)]
    assert not pair.of("user", Hangup) and not pair.of("network", Hangup)


def test_hangup_twice_and_after_release_is_harmless() -> None:
    pair = Pair()
    uid, nid = user_calls_network(pair)
    pair.user.hangup(uid, now=pair.now)
    pair.user.hangup(uid, 21, now=pair.now)
    pair.exchange()
    pair.user.hangup(uid, now=pair.now)
    assert len(pair.sent("user", M.DISCONNECT)) == 1
    assert pair.of("user", Released) == [Released(uid, 16)]
    with pytest.raises(LocalProtocolError, match="no call 99"):
        pair.user.hangup(99, now=pair.now)


def test_requests_in_the_wrong_state_raise_naming_the_state() -> None:
    pair = Pair()
    uid, nid = user_calls_network(pair)
    with pytest.raises(LocalProtocolError, match=r"answer.*U1"):
        pair.user.answer(uid, pair.now)
    with pytest.raises(LocalProtocolError, match=r"proceeding.*U1"):
        pair.user.proceeding(uid, pair.now)
    pair.network.answer(nid, pair.now)
    with pytest.raises(LocalProtocolError, match=r"alerting.*N10"):
        pair.network.alerting(nid, pair.now)
    with pytest.raises(LocalProtocolError):
        pair.user.setup("1", now=0, timeslot=16)
    with pytest.raises(LocalProtocolError):
        pair.user.call_state(1234)


def test_thirty_calls_fill_the_span_and_the_31st_gets_34() -> None:
    pair = Pair()
    pairs = [user_calls_network(pair) for _ in range(30)]
    for _, nid in pairs:
        pair.network.answer(nid, pair.now)
    pair.exchange()
    used_user = sorted(pair.user.channel_of(uid) for uid, _ in pairs)
    used_network = sorted(pair.network.channel_of(nid) for _, nid in pairs)
    assert used_user == used_network == list(B_TIMESLOTS)
    assert pair.user.idle_timeslots() == pair.network.idle_timeslots() == ()
    # The 31st from the user side: it knows no channel is free and fails without a message.
    before = len(pair.wire)
    extra = pair.user.setup("96101", now=pair.now)
    pair.exchange()
    assert len(pair.wire) == before and pair.of("user", Released)[-1] == Released(extra, 34)
    # The 31st from the network side fails the same way.
    extra = pair.network.setup("1", now=pair.now)
    assert pair.network.next_event() == Released(extra, 34)
    # A SETUP that reaches the network anyway is refused on the wire with 34.
    pair.inject("network", encode_message(Message(M.SETUP, 777, True, (
        *pair.sent("user", M.SETUP)[0].ies[:1], CalledPartyNumber("1")))))
    complete = pair.take("network")
    assert len(complete) == 1 and pair.wire[-1][1].type == M.RELEASE_COMPLETE
    assert pair.wire[-1][1].get(Cause).value == 34 and pair.wire[-1][1].call_ref == 777


def test_user_requested_channel_preferred_and_exclusive() -> None:
    pair = Pair()
    uid, nid = user_calls_network(pair, timeslot=5)
    assert pair.sent("user", M.SETUP)[0].get(ChannelIdentification) == ChannelIdentification((5,))
    assert incoming(pair, "network").timeslot == 5
    # Preferred 5 is taken: the network picks another; exclusive 5: 44.
    uid2, nid2 = user_calls_network(pair, timeslot=7)
    pair.inject("network", encode_message(Message(M.SETUP, 500, True, (
        pair.sent("user", M.SETUP)[0].ies[0], ChannelIdentification((5,), exclusive=False)))))
    assert pair.network.channel_of(incoming(pair, "network").call_id) == 31
    pair.inject("network", encode_message(Message(M.SETUP, 501, True, (
        pair.sent("user", M.SETUP)[0].ies[0], ChannelIdentification((7,), exclusive=True)))))
    pair.take("network")
    assert pair.wire[-1][1].get(Cause).value == 44 and pair.wire[-1][1].call_ref == 501
    pair.inject("network", encode_message(Message(M.SETUP, 502, True, (
        pair.sent("user", M.SETUP)[0].ies[0], ChannelIdentification((16,), exclusive=True)))))
    pair.take("network")
    assert pair.wire[-1][1].get(Cause).value == 82
    # Locally busy: preferred moves, exclusive fails at once.
    uid3 = pair.user.setup("1", now=pair.now, timeslot=5)
    assert pair.user.channel_of(uid3) == 1
    uid4 = pair.user.setup("1", now=pair.now, timeslot=5, exclusive=True)
    pair.exchange()
    assert Released(uid4, 44) in pair.events["user"]


def test_user_accepts_the_channel_the_network_moves_it_to() -> None:
    pair = Pair()
    pair.user.setup("96101", now=pair.now, timeslot=3)
    pair.take("user")  # lost in favour of a hand-made answer
    call = next(iter(pair.user.calls))
    pair.inject("user", encode_message(Message(M.CALL_PROCEEDING, call.cref, False, (
        ChannelIdentification((9,), exclusive=True),))))
    assert pair.user.channel_of(call.call_id) == 9 and 3 in pair.user.idle_timeslots()


@pytest.mark.parametrize("user_exclusive", [False, True])
def test_glare_the_network_call_wins(user_exclusive: bool) -> None:
    pair = Pair()
    uid = pair.user.setup("96101", now=pair.now, timeslot=5, exclusive=user_exclusive)
    nid = pair.network.setup("88886666", now=pair.now, timeslot=5)
    pair.exchange()  # both SETUPs cross on the wire
    user_incoming = incoming(pair, "user")
    assert user_incoming.timeslot == 5
    assert pair.user.channel_of(user_incoming.call_id) == 5
    assert pair.network.channel_of(nid) == 5
    if user_exclusive:
        assert pair.sent("network", M.RELEASE_COMPLETE)[0].get(Cause).value == 44
        assert Released(uid, 44) in pair.events["user"]
    else:
        moved = incoming(pair, "network")
        assert moved.timeslot == 31
        pair.network.proceeding(moved.call_id, pair.now)
        pair.exchange()
        assert pair.user.channel_of(uid) == 31
    pair.user.answer(user_incoming.call_id, pair.now)
    pair.exchange()
    assert pair.user.call_state(user_incoming.call_id) is S.ACTIVE
    holders = [pair.user.channel_of(c.call_id) for c in pair.user.calls]
    assert len([h for h in holders if h is not None]) == len({h for h in holders if h is not None})


def test_glare_with_no_channel_left_clears_the_users_call_with_34() -> None:
    pair = Pair(user_timeslots=(1,), network_timeslots=(1,))
    uid = pair.user.setup("96101", now=pair.now, timeslot=1)
    nid = pair.network.setup("88886666", now=pair.now)
    pair.exchange()
    assert Released(uid, 34) in pair.events["user"]
    assert pair.user.channel_of(incoming(pair, "user").call_id) == 1
    assert pair.network.channel_of(nid) == 1


def overlap_call(pair: Pair, caller: str, digits: str, state: S) -> tuple[int, IncomingCall]:
    """``caller`` sends an incomplete SETUP and the other side acknowledges it: both in ``state``."""
    answerer = "network" if caller == "user" else "user"
    caller_id = pair.side(caller).setup(digits, now=pair.now, sending_complete=False)
    pair.exchange()
    call = incoming(pair, answerer)
    assert call.called == digits and not call.sending_complete
    pair.side(answerer).setup_acknowledge(call.call_id, pair.now)
    pair.exchange()
    assert pair.side(caller).call_state(caller_id) is state
    assert pair.side(answerer).call_state(call.call_id) is state
    return caller_id, call


def test_overlap_sending_with_setup_acknowledge_and_information() -> None:
    pair = Pair()
    uid, call = overlap_call(pair, "user", "9", S.OVERLAP_SENDING)
    assert pair.sent("user", M.SETUP)[0].get(SendingComplete) is None
    assert pair.sent("network", M.SETUP_ACKNOWLEDGE)[0].get(ChannelIdentification).timeslots == (31,)
    assert pair.of("user", SetupAcknowledged) == [SetupAcknowledged(uid, 31)]
    pair.user.information(uid, "61", pair.now)
    pair.user.information(uid, "01", pair.now, sending_complete=True)
    pair.exchange()
    assert pair.of("network", Digits) == [Digits(call.call_id, "61"), Digits(call.call_id, "01", True)]
    info = pair.sent("user", M.INFORMATION)[-1]
    assert info.get(CalledPartyNumber).digits == "01" and info.get(SendingComplete) is not None
    pair.network.proceeding(call.call_id, pair.now)
    pair.network.answer(call.call_id, pair.now)
    pair.exchange()
    assert pair.user.call_state(uid) is S.ACTIVE


def test_overlap_receiving_on_the_user_side() -> None:
    pair = Pair()
    nid, call = overlap_call(pair, "network", "", S.OVERLAP_RECEIVING)
    pair.network.information(nid, "8001", pair.now, sending_complete=True)
    pair.exchange()
    assert pair.of("user", Digits) == [Digits(call.call_id, "8001", True)]
    pair.user.alerting(call.call_id, pair.now)
    pair.exchange()
    assert pair.network.call_state(nid) is S.CALL_RECEIVED


def test_an_incomplete_setup_may_be_taken_as_en_bloc() -> None:
    pair = Pair()
    uid = pair.user.setup("96101", now=pair.now, sending_complete=False)
    pair.exchange()
    nid = incoming(pair, "network").call_id
    pair.network.proceeding(nid, pair.now)
    pair.exchange()
    assert pair.user.call_state(uid) is S.OUTGOING_CALL_PROCEEDING


def test_progress_and_keypad_information() -> None:
    pair = Pair()
    uid, nid = user_calls_network(pair)
    pair.network.proceeding(nid, pair.now)
    pair.network.progress(nid, pair.now)
    pair.exchange()
    indicator = pair.sent("network", M.PROGRESS)[0].get(ProgressIndicator)
    assert (indicator.description, indicator.location) == (8, Location.PUBLIC_LOCAL)
    assert pair.of("user", ProgressReceived) == [ProgressReceived(uid, 8)]
    pair.network.answer(nid, pair.now)
    pair.exchange()
    pair.user.information(uid, "123#", pair.now)
    pair.exchange()
    assert pair.of("network", Digits) == [Digits(nid, "123#")]


def test_setup_parameters_reach_the_wire() -> None:
    pair = Pair()
    pair.user.setup("96101", "13800138000", now=0, calling_presentation=Presentation.RESTRICTED,
                    called_ton=2, calling_ton=2)
    pair.exchange()
    call = incoming(pair, "network")
    assert call.calling_presentation == Presentation.RESTRICTED
    with pytest.raises(ValueError):
        pair.user.setup("九", now=0)
    assert len(pair.user.calls) == 1  # the bad request left no call behind


def test_hangup_takes_now_by_keyword_or_position_but_needs_it() -> None:
    pair = Pair()
    uid, nid = user_calls_network(pair)
    with pytest.raises(TypeError, match="now"):
        pair.user.hangup(uid)
    pair.user.hangup(uid, 21, pair.now)
    pair.exchange()
    assert pair.events["user"][-1] == Released(uid, 21)
