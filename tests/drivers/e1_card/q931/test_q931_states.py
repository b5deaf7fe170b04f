"""The Q.931 call state table (states.py): completeness, mirror symmetry, compatibility."""

from __future__ import annotations

import itertools

import pytest

from drivers.e1_card.errors import LocalProtocolError
from drivers.e1_card.q931.messages import MessageType
from drivers.e1_card.q931.states import (
    CLEARING,
    TRANSITIONS,
    CallStateValue,
    Request,
    allowed,
    next_state,
    state_label,
    states_compatible,
)

S = CallStateValue
M = MessageType
R = Request
ROLES = ("user", "network")
TRIGGERS = [*Request, *MessageType]
# The messages a call's state machine sees (RESTART/RESTART ACK live on the global reference).
CALL_MESSAGES = [m for m in MessageType if m not in (M.RESTART, M.RESTART_ACKNOWLEDGE)]


@pytest.mark.parametrize("role", ROLES)
def test_every_state_and_trigger_is_allowed_or_raises_naming_both(role: str) -> None:
    for state, trigger in itertools.product(S, TRIGGERS):
        if allowed(role, state, trigger):
            assert isinstance(next_state(role, state, trigger), S)
            continue
        with pytest.raises(LocalProtocolError) as info:
            next_state(role, state, trigger)
        text = str(info.value)
        assert state_label(state, role) in text
        name = trigger.value if isinstance(trigger, Request) else trigger.name
        assert name in text


@pytest.mark.parametrize("role", ROLES)
def test_the_table_has_every_state_and_only_states(role: str) -> None:
    assert set(TRANSITIONS[role]) == set(S)
    for row in TRANSITIONS[role].values():
        assert all(isinstance(new, S) for new in row.values())


def _mirror(request: Request) -> MessageType:
    return {
        R.SETUP: M.SETUP, R.SETUP_ACKNOWLEDGE: M.SETUP_ACKNOWLEDGE, R.PROCEEDING: M.CALL_PROCEEDING,
        R.ALERTING: M.ALERTING, R.PROGRESS: M.PROGRESS, R.ANSWER: M.CONNECT,
        R.INFORMATION: M.INFORMATION,
    }[request]


@pytest.mark.parametrize("sender", ROLES)
def test_what_one_side_may_send_the_other_accepts_in_the_mirrored_state(sender: str) -> None:
    """States are numbered alike on both sides, so send-in-S pairs with receive-in-S."""
    receiver = "network" if sender == "user" else "user"
    for state, row in TRANSITIONS[sender].items():
        for trigger in row:
            if not isinstance(trigger, Request) or trigger is R.HANGUP:
                continue
            message = _mirror(trigger)
            assert allowed(receiver, state, message), (sender, state, trigger)
            ours, theirs = next_state(sender, state, trigger), next_state(receiver, state, message)
            # Only the answer differs: the user waits in U8 for CONNECT ACK, the network is N10.
            if trigger is R.ANSWER:
                assert {ours, theirs} <= {S.CONNECT_REQUEST, S.ACTIVE}
            else:
                assert ours == theirs, (sender, state, trigger)


@pytest.mark.parametrize("role", ROLES)
def test_peer_clearing_is_accepted_in_every_state_but_null(role: str) -> None:
    for state in S:
        if state is S.NULL:
            continue
        for message in (M.RELEASE, M.RELEASE_COMPLETE):
            assert next_state(role, state, message) is S.NULL
        assert allowed(role, state, M.STATUS_ENQUIRY) and allowed(role, state, M.STATUS)


@pytest.mark.parametrize("role", ROLES)
def test_hangup_is_allowed_everywhere_and_idempotent_while_clearing(role: str) -> None:
    for state in S:
        assert allowed(role, state, R.HANGUP)
    assert next_state(role, S.RELEASE_REQUEST, R.HANGUP) is S.RELEASE_REQUEST
    ours = S.DISCONNECT_REQUEST if role == "user" else S.DISCONNECT_INDICATION
    assert next_state(role, S.ACTIVE, R.HANGUP) is ours
    assert next_state(role, ours, R.HANGUP) is ours
    # An unanswered SETUP from the peer is rejected with RELEASE COMPLETE: straight to Null.
    unanswered = S.CALL_PRESENT if role == "user" else S.CALL_INITIATED
    assert next_state(role, unanswered, R.HANGUP) is S.NULL


def test_role_specific_answers() -> None:
    assert next_state("user", S.CALL_RECEIVED, R.ANSWER) is S.CONNECT_REQUEST
    assert next_state("network", S.CALL_DELIVERED, R.ANSWER) is S.ACTIVE
    assert next_state("user", S.CONNECT_REQUEST, M.CONNECT_ACKNOWLEDGE) is S.ACTIVE
    assert not allowed("user", S.ACTIVE, M.CONNECT_ACKNOWLEDGE)
    assert allowed("network", S.ACTIVE, M.CONNECT_ACKNOWLEDGE)
    # The user cannot send CALL PROCEEDING for its own call, nor the network receive one there.
    assert not allowed("user", S.CALL_INITIATED, R.PROCEEDING)
    assert not allowed("network", S.CALL_INITIATED, M.CALL_PROCEEDING)


def test_unexpected_messages_are_refused_in_release_request() -> None:
    for message in (M.ALERTING, M.CONNECT, M.DISCONNECT, M.SETUP, M.INFORMATION):
        assert not allowed("user", S.RELEASE_REQUEST, message)


def test_labels() -> None:
    assert state_label(S.ACTIVE, "user") == "U10"
    assert state_label(S.OVERLAP_RECEIVING, "network") == "N25"


@pytest.mark.parametrize("state", list(S))
def test_a_state_is_compatible_with_itself(state: CallStateValue) -> None:
    for user_originated in (True, False):
        assert states_compatible(state, int(state), user_originated=user_originated)


def test_compatibility_rules() -> None:
    # Lagging along the same call is fine, opposite directions and unknown values are not.
    assert states_compatible(S.OUTGOING_CALL_PROCEEDING, 4, user_originated=True)
    assert states_compatible(S.ACTIVE, 7, user_originated=False)
    assert states_compatible(S.CONNECT_REQUEST, 10, user_originated=False)
    assert not states_compatible(S.OUTGOING_CALL_PROCEEDING, 9, user_originated=True)
    assert not states_compatible(S.ACTIVE, 6, user_originated=True)
    assert not states_compatible(S.ACTIVE, 42, user_originated=True)
    # The peer clearing while we think the call is up: incompatible; we clearing: anything goes.
    assert not states_compatible(S.ACTIVE, 11, user_originated=True)
    for ours in CLEARING:
        assert states_compatible(ours, 10, user_originated=True)
