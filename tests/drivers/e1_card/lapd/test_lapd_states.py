"""The state table (states.py): shape, reachability, and that DataLink keeps to it."""

from __future__ import annotations

import pytest

from drivers.e1_card.lapd import DataLink, FrameKind, LinkState
from drivers.e1_card.lapd import link as link_module
from drivers.e1_card.lapd.states import ESTABLISHED_STATES, TRANSITIONS, Input, allowed

S = LinkState
K = FrameKind


def test_every_state_has_a_row_of_real_states() -> None:
    assert set(TRANSITIONS) == set(LinkState)
    assert [s.value for s in LinkState] == [4, 5, 6, 7, 8]  # Q.921 Annex B numbering
    for row in TRANSITIONS.values():
        for targets in row.values():
            assert targets and targets <= set(LinkState)


def test_requests_and_timers_where_q921_has_them() -> None:
    for state in LinkState:
        assert allowed(state, Input.RELEASE) is not None
        assert (allowed(state, Input.ESTABLISH) is None) == (state is S.AWAITING_RELEASE)
        assert allowed(state, Input.DATA) is not None
        assert (allowed(state, Input.T200) is None) == (state is S.TEI_ASSIGNED)
        assert (allowed(state, Input.T203) is None) == (state is not S.MULTIPLE_FRAME_ESTABLISHED)
        assert allowed(state, K.XID) is None  # XID: decoded, never acted on
        assert allowed(state, K.UI) == {state}  # unacknowledged data in every state


def test_sequenced_frames_only_count_while_established() -> None:
    for kind in (K.I, K.RR, K.RNR, K.REJ, K.FRMR):
        for state in LinkState:
            assert (allowed(state, kind) is not None) == (state in ESTABLISHED_STATES)


def test_how_the_link_comes_up_and_goes_down() -> None:
    into_7 = {(state, stim) for state, row in TRANSITIONS.items() for stim, targets in row.items()
              if S.MULTIPLE_FRAME_ESTABLISHED in targets and state not in ESTABLISHED_STATES}
    assert into_7 == {(S.TEI_ASSIGNED, K.SABME), (S.AWAITING_ESTABLISHMENT, K.UA)}
    for state in ESTABLISHED_STATES:
        assert allowed(state, K.DISC) == {S.TEI_ASSIGNED}
        assert allowed(state, K.SABME) == {S.MULTIPLE_FRAME_ESTABLISHED}
        assert allowed(state, Input.ESTABLISH) == {S.AWAITING_ESTABLISHMENT}
        assert allowed(state, Input.RELEASE) == {S.AWAITING_RELEASE}


def test_every_state_is_reachable_and_can_get_back_to_tei_assigned() -> None:
    def reach(start: LinkState) -> set[LinkState]:
        seen, todo = {start}, [start]
        while todo:
            for targets in TRANSITIONS[todo.pop()].values():
                for t in targets - seen:
                    seen.add(t)
                    todo.append(t)
        return seen

    assert reach(S.TEI_ASSIGNED) == set(LinkState)
    assert all(S.TEI_ASSIGNED in reach(s) for s in LinkState)


def test_the_link_refuses_to_leave_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """If the code and the table disagree, the step says so (a bug, never peer input)."""
    def strict(state: LinkState, stimulus: object) -> frozenset[LinkState] | None:
        targets = allowed(state, stimulus)  # type: ignore[arg-type]
        return targets - {S.AWAITING_ESTABLISHMENT} if targets else targets

    monkeypatch.setattr(link_module, "allowed", strict)
    with pytest.raises(AssertionError, match="ESTABLISH-REQUEST took TEI_ASSIGNED to AWAITING_ESTAB"):
        DataLink("user").establish(0.0)
