"""Q.931 5.8 on the wire: STATUS / STATUS ENQUIRY, unexpected and unknown messages, bad IEs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from q931_harness import Pair

from drivers.e1_card.q931.events import Hangup, IncomingCall, ProtocolErrorReported, Released
from drivers.e1_card.q931.ies import (
    BearerCapability,
    CallState,
    Cause,
    ChannelIdentification,
    ProgressIndicator,
)
from drivers.e1_card.q931.interface import Q931
from drivers.e1_card.q931.messages import Message, MessageType, decode_message, encode_message
from drivers.e1_card.q931.states import CallStateValue

M = MessageType
S = CallStateValue
SPEECH = BearerCapability()


def answers(pair: Pair, role: str, msg: Message | bytes) -> list[Message]:
    """Deliver ``msg`` to ``role`` and return what it sent back (decoded)."""
    pair.inject(role, msg if isinstance(msg, bytes) else encode_message(msg))
    return [decode_message(data) for data in pair.take(role)]


def active(pair: Pair) -> tuple[int, int, int]:
    """An active user-originated call: (user id, network id, call reference)."""
    uid = pair.user.setup("96101", now=pair.now)
    pair.exchange()
    nid = pair.of("network", IncomingCall)[-1].call_id
    pair.network.answer(nid, pair.now)
    pair.exchange()
    return uid, nid, pair.sent("user", M.SETUP)[-1].call_ref


def only(messages: list[Message], mtype: MessageType, cause: int) -> Message:
    assert len(messages) == 1, messages
    assert messages[0].type == mtype and messages[0].get(Cause).value == cause, messages[0]
    return messages[0]


def test_status_enquiry_is_answered_with_status_30_and_the_state() -> None:
    pair = Pair()
    uid, nid, ref = active(pair)
    status = only(answers(pair, "network", Message(M.STATUS_ENQUIRY, ref, True)), M.STATUS, 30)
    assert status.get(CallState).value == 10 and status.call_ref == ref and not status.from_originator
    assert pair.network.call_state(nid) is S.ACTIVE


def test_status_enquiry_for_an_unknown_reference_reports_null() -> None:
    pair = Pair()
    status = only(answers(pair, "user", Message(M.STATUS_ENQUIRY, 99, True)), M.STATUS, 30)
    assert status.get(CallState).value == 0 and status.call_ref == 99


def test_status_with_an_incompatible_state_clears_with_101() -> None:
    pair = Pair()
    uid, nid, ref = active(pair)
    status = Message(M.STATUS, ref, False, (Cause(30), CallState(6)))  # "call present": wrong way
    release = only(answers(pair, "user", status), M.RELEASE, 101)
    assert release.call_ref == ref
    assert pair.user.call_state(uid) is S.RELEASE_REQUEST
    assert any(isinstance(e, ProtocolErrorReported) and e.cause == 101 for e in pair.events["user"])


def test_status_reporting_null_releases_the_call_silently() -> None:
    pair = Pair()
    uid, nid, ref = active(pair)
    assert answers(pair, "user", Message(M.STATUS, ref, False, (Cause(81), CallState(0)))) == []
    assert pair.events["user"][-1] == Released(uid, 41)
    assert pair.user.channel_of(uid) is None


def test_compatible_status_changes_nothing() -> None:
    pair = Pair()
    uid, nid, ref = active(pair)
    assert answers(pair, "user", Message(M.STATUS, ref, False, (Cause(30), CallState(10)))) == []
    assert pair.user.call_state(uid) is S.ACTIVE


def test_status_for_an_unknown_reference() -> None:
    pair = Pair()
    only(answers(pair, "user", Message(M.STATUS, 42, True, (Cause(30), CallState(10)))),
         M.RELEASE_COMPLETE, 101)
    assert answers(pair, "user", Message(M.STATUS, 43, True, (Cause(30), CallState(0)))) == []


def test_unexpected_message_gets_status_101_with_our_state() -> None:
    pair = Pair()
    uid = pair.user.setup("96101", now=pair.now)
    pair.exchange()
    ref = pair.sent("user", M.SETUP)[0].call_ref
    status = only(answers(pair, "user", Message(M.CONNECT_ACKNOWLEDGE, ref, False)), M.STATUS, 101)
    assert status.get(CallState).value == 1
    assert pair.user.call_state(uid) is S.CALL_INITIATED


def test_unexpected_messages_in_release_request_are_ignored() -> None:
    pair = Pair()
    uid, nid, ref = active(pair)
    pair.user.hangup(uid, now=pair.now)
    pair.take("user")
    pair.inject("user", encode_message(Message(M.DISCONNECT, ref, False, (Cause(16),))))
    pair.take("user")  # our RELEASE
    assert answers(pair, "user", Message(M.CONNECT, ref, False)) == []
    assert pair.user.call_state(uid) is S.RELEASE_REQUEST


@pytest.mark.parametrize("mtype", [M.ALERTING, M.CONNECT, M.DISCONNECT, M.INFORMATION])
def test_messages_for_an_unknown_reference_get_release_complete_81(mtype: MessageType) -> None:
    pair = Pair()
    ies = (Cause(16),) if mtype == M.DISCONNECT else ()
    complete = only(answers(pair, "network", Message(mtype, 1234, False, ies)), M.RELEASE_COMPLETE, 81)
    assert complete.call_ref == 1234 and complete.from_originator  # it is "our" reference


def test_release_for_an_unknown_reference_is_completed_and_release_complete_ignored() -> None:
    pair = Pair()
    only(answers(pair, "user", Message(M.RELEASE, 7, True, (Cause(16),))), M.RELEASE_COMPLETE, 81)
    assert answers(pair, "user", Message(M.RELEASE_COMPLETE, 8, True)) == []
    assert not pair.of("user", ProtocolErrorReported)


def test_setup_with_a_live_reference_or_the_destination_flag_is_ignored() -> None:
    pair = Pair()
    pair.network.setup("1", now=pair.now)
    pair.exchange()
    ref = pair.sent("network", M.SETUP)[0].call_ref
    setup = Message(M.SETUP, ref, True, (SPEECH, ChannelIdentification((3,), exclusive=True)))
    assert answers(pair, "user", setup) == []
    flagged = Message(M.SETUP, 555, False, (SPEECH, ChannelIdentification((3,), exclusive=True)))
    assert answers(pair, "user", flagged) == []
    assert len(pair.of("user", IncomingCall)) == 1


def test_unknown_message_type_gets_status_97_in_a_call_and_81_outside() -> None:
    pair = Pair()
    uid, nid, ref = active(pair)
    header = bytes([0x08, 0x02, ref >> 8, ref & 0xFF])  # flag 0: the user allocated it
    status = only(answers(pair, "network", header + b"\x25"), M.STATUS, 97)  # SUSPEND: not ours
    assert status.get(CallState).value == 10
    only(answers(pair, "network", bytes([0x08, 0x02, 0x10, 0x01, 0x25])), M.RELEASE_COMPLETE, 81)


def test_setup_without_bearer_capability_gets_release_complete_96() -> None:
    pair = Pair()
    complete = only(answers(pair, "network", Message(M.SETUP, 300, True)), M.RELEASE_COMPLETE, 96)
    assert complete.get(Cause).diagnostics == bytes([BearerCapability.IE_ID])
    assert not pair.of("network", IncomingCall)


def test_network_setup_without_channel_identification_gets_96_at_the_user() -> None:
    pair = Pair()
    complete = only(answers(pair, "user", Message(M.SETUP, 301, True, (SPEECH,))), M.RELEASE_COMPLETE, 96)
    assert complete.get(Cause).diagnostics == bytes([ChannelIdentification.IE_ID])


def test_setup_with_bad_bearer_contents_gets_release_complete_100() -> None:
    pair = Pair()
    setup = bytes.fromhex("0802012c05") + bytes([0x04, 0x01, 0x80])  # bearer cut to one octet
    only(answers(pair, "network", setup), M.RELEASE_COMPLETE, 100)


def test_disconnect_without_cause_is_cleared_with_release_96() -> None:
    pair = Pair()
    uid, nid, ref = active(pair)
    release = only(answers(pair, "user", Message(M.DISCONNECT, ref, False)), M.RELEASE, 96)
    assert release.call_ref == ref
    assert pair.of("user", Hangup) == [Hangup(uid, 31, None)]


def test_disconnect_with_bad_cause_is_cleared_with_release_100() -> None:
    pair = Pair()
    uid, nid, ref = active(pair)
    data = bytes([0x08, 0x02, 0x80 | ref >> 8, ref & 0xFF, M.DISCONNECT, 0x08, 0x01, 0x80])
    only(answers(pair, "user", data), M.RELEASE, 100)


def test_first_release_without_cause_is_completed_with_96() -> None:
    pair = Pair()
    uid, nid, ref = active(pair)
    only(answers(pair, "user", Message(M.RELEASE, ref, False)), M.RELEASE_COMPLETE, 96)
    assert pair.events["user"][-1] == Released(uid, 31)


def test_other_message_with_mandatory_ie_missing_gets_status_96_and_no_state_change() -> None:
    pair = Pair()
    uid, nid, ref = active(pair)
    status = only(answers(pair, "user", Message(M.PROGRESS, ref, False)), M.STATUS, 96)
    assert status.get(Cause).diagnostics == bytes([ProgressIndicator.IE_ID])
    assert pair.user.call_state(uid) is S.ACTIVE


def test_a_bad_optional_ie_is_reported_with_status_100_after_acting_on_the_message() -> None:
    pair = Pair()
    uid = pair.user.setup("96101", now=pair.now, timeslot=4)
    pair.exchange()
    ref = pair.sent("user", M.SETUP)[0].call_ref
    alerting = bytes([0x08, 0x02, 0x80 | ref >> 8, ref & 0xFF, M.ALERTING, 0x1E, 0x01, 0x82])
    only(answers(pair, "user", alerting), M.STATUS, 100)
    assert pair.user.call_state(uid) is S.CALL_DELIVERED


def test_broken_status_is_never_answered() -> None:
    pair = Pair()
    uid, nid, ref = active(pair)
    assert answers(pair, "user", Message(M.STATUS, ref, False, (Cause(30),))) == []
    assert answers(pair, "user", Message(M.STATUS, 0, False, (Cause(30),))) == []


@pytest.mark.parametrize("garbage", [b"", b"\x08", b"\x09\x02\x00\x01\x05", b"\x08\x05\x00", b"\x08\x02\x00",
                                     b"\x08\x02\x00\x01", b"\xff" * 40, b"\x08\x00\x05"])
def test_garbage_is_ignored_and_logged(garbage: bytes) -> None:
    pair = Pair()
    uid, nid, ref = active(pair)
    assert answers(pair, "user", garbage) == []
    assert pair.user.call_state(uid) is S.ACTIVE
    assert isinstance(pair.events["user"][-1], ProtocolErrorReported)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60), st.sampled_from(["user", "network"]))
def test_random_bytes_never_raise(data: bytes, role: str) -> None:
    q = Q931(role)
    q.link_established(0)
    q.receive(data, 0)
    q.receive(b"\x08\x02" + data, 0)  # past the header checks more often
    for out in q.messages_to_send():
        decode_message(out)  # whatever we answer is well-formed
    while (event := q.next_event()) is not None:
        assert not (isinstance(event, ProtocolErrorReported) and "internal error" in event.text), event
