"""DataLink exception handling (Q.921 5.8): re-establishment, unsolicited responses,
invalid frames, frames for others, role mismatch -- and never an exception for peer input.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lapd_testkit import Peer

from drivers.e1_card.errors import LocalProtocolError
from drivers.e1_card.lapd import (
    DataIndication,
    DataLink,
    Established,
    FrameKind,
    LinkState,
    MdlError,
    Released,
    UnitDataIndication,
    decode_frame,
)

K = FrameKind
S = LinkState
pytestmark = pytest.mark.timeout(60)


def established(role: str = "user", **options: object) -> tuple[DataLink, Peer]:
    link = DataLink(role, **options)  # type: ignore[arg-type]
    peer = Peer(link)
    peer.up()
    return link, peer


def codes(events: list) -> list[str]:
    return [e.code for e in events if isinstance(e, MdlError)]


def test_frmr_received_re_establishes() -> None:
    link, peer = established()
    link.send_data(b"unacked", peer.now)
    peer.received()
    peer.feed(K.FRMR, command=False, info=bytes.fromhex("01 0b 00 00 08"))  # Z: invalid N(R)
    events = peer.events()
    assert codes(events) == ["K"] and "Z invalid N(R)" in events[0].text
    assert [f.summary() for f in peer.received()] == ["SABME P cmd"]
    assert link.state is S.AWAITING_ESTABLISHMENT
    peer.feed(K.I, command=True, ns=0, nr=0, info=b"ignored")  # no I frames while re-establishing
    assert peer.events() == [] and peer.received() == []
    peer.feed(K.UA, command=False, pf=True)
    assert peer.events() == [Established(reestablished=True)]
    assert (link.v_s, link.v_a, link.v_r, link.queued) == (0, 0, 0, 0)  # unacked I frame discarded


def test_nr_sequence_error_re_establishes() -> None:
    link, peer = established("network")
    for m in (b"a", b"b"):
        link.send_data(m, peer.now)
    assert [f.ns for f in peer.received()] == [0, 1]
    peer.feed(K.RR, command=False, nr=5)  # V(A)=0 <= N(R) <= V(S)=2 does not hold
    assert codes(peer.events()) == ["J"]
    assert [f.kind for f in peer.received()] == [K.SABME]
    peer.feed(K.UA, command=False, pf=True)
    assert peer.events() == [Established(reestablished=True)]
    assert link.queued == 0


def test_nr_error_on_an_i_frame_still_delivers_it() -> None:
    link, peer = established()
    peer.feed(K.I, command=True, ns=0, nr=3, info=b"msg")
    events = peer.events()
    assert events[0] == DataIndication(b"msg") and codes(events) == ["J"]
    assert link.state is S.AWAITING_ESTABLISHMENT


def test_sabme_while_established_resets_and_discards_unacked() -> None:
    link, peer = established()
    link.send_data(b"unacked", peer.now)
    peer.received()
    peer.feed(K.SABME, command=True, pf=True)
    assert [f.summary() for f in peer.received()] == ["UA F rsp"]
    events = peer.events()
    assert codes(events) == ["F"] and events[-1] == Established(reestablished=True)
    assert (link.state, link.v_s, link.queued) == (S.MULTIPLE_FRAME_ESTABLISHED, 0, 0)


def test_sabme_while_established_keeps_frames_never_sent() -> None:
    link, peer = established()
    peer.feed(K.RNR, command=False, nr=0)
    link.send_data(b"waiting", peer.now)  # held back by the busy peer: never sent
    assert peer.received() == []
    peer.feed(K.SABME, command=True, pf=True)  # the reset clears peer busy
    assert [f.summary() for f in peer.received()] == ["UA F rsp", "I N(S)=0 N(R)=0 cmd 7B"]


def test_dm_responses_while_established() -> None:
    link, peer = established()
    peer.feed(K.DM, command=False, pf=True)  # unsolicited F=1: reported only
    assert codes(peer.events()) == ["B"] and link.state is S.MULTIPLE_FRAME_ESTABLISHED
    assert peer.received() == []
    peer.feed(K.DM, command=False, pf=False)  # F=0: the peer lost the link
    assert codes(peer.events()) == ["E"]
    assert [f.kind for f in peer.received()] == [K.SABME] and link.state is S.AWAITING_ESTABLISHMENT


def test_dm_in_timer_recovery_re_establishes() -> None:
    link, peer = established()
    peer.advance(10.0)  # T203: enquiry, timer recovery
    peer.received()
    peer.feed(K.DM, command=False, pf=True)
    assert codes(peer.events()) == ["B"] and link.state is S.AWAITING_ESTABLISHMENT


def test_unsolicited_responses_are_reported() -> None:
    link, peer = established()
    peer.feed(K.UA, command=False, pf=True)
    peer.feed(K.UA, command=False, pf=False)
    assert codes(peer.events()) == ["C", "D"]
    link.send_data(b"x", peer.now)
    peer.received()
    peer.feed(K.RR, command=False, pf=True, nr=1)  # F=1 nobody asked for; the ack still counts
    assert codes(peer.events()) == ["A"]
    assert link.v_a == 1 and link.state is S.MULTIPLE_FRAME_ESTABLISHED
    assert peer.received() == []


def test_collisions_during_establishment_and_release() -> None:
    link = DataLink("user")
    peer = Peer(link)
    link.establish(peer.now)
    peer.received()
    peer.feed(K.DISC, command=True, pf=True)  # different commands crossed: DM
    assert [f.summary() for f in peer.received()] == ["DM F rsp"]
    link.release(peer.now)  # give up establishing: DISC at once
    assert [f.summary() for f in peer.received()] == ["DISC P cmd"]
    peer.feed(K.SABME, command=True, pf=True)  # while we release: DM
    assert [f.summary() for f in peer.received()] == ["DM F rsp"]
    peer.feed(K.UA, command=False, pf=True)
    assert peer.events() == [Released()] and link.state is S.TEI_ASSIGNED


def test_establish_request_adopts_a_re_establishment_in_progress() -> None:
    link, peer = established()
    peer.feed(K.FRMR, command=False, info=bytes(5))
    peer.events()
    peer.received()
    link.establish(peer.now)  # layer 3 now asks as well: no second SABME
    assert peer.received() == []
    peer.feed(K.UA, command=False, pf=True)
    assert peer.events() == [Established(reestablished=False)]  # a confirm: layer 3 asked


def test_frames_ignored_in_states_that_do_not_handle_them() -> None:
    link = DataLink("user")
    peer = Peer(link)
    for kind, cmd in ((K.I, True), (K.RR, True), (K.REJ, False), (K.RNR, False)):
        peer.feed(kind, command=cmd, pf=True, ns=0 if kind is K.I else None, nr=0)
    peer.feed(K.FRMR, command=False, info=bytes(5))
    peer.feed(K.DM, command=False, pf=True)
    peer.feed(K.XID, command=True, info=b"\x82")
    assert peer.events() == [] and peer.received() == [] and link.state is S.TEI_ASSIGNED
    peer.feed(K.UA, command=False, pf=True)
    assert codes(peer.events()) == ["C"]
    peer.feed(K.DISC, command=True, pf=True)
    assert [f.summary() for f in peer.received()] == ["DM F rsp"]


def test_dm_f0_when_down_asks_us_to_establish() -> None:
    link = DataLink("user")
    peer = Peer(link)
    peer.feed(K.DM, command=False, pf=False)
    assert [f.kind for f in peer.received()] == [K.SABME]
    peer.feed(K.UA, command=False, pf=True)
    assert peer.events() == [Established(reestablished=False)]


def test_ui_frames_are_delivered_and_other_links_ignored() -> None:
    link, peer = established("user")
    peer.feed_raw(bytes.fromhex("02 ff 03 08 01 01 05"))  # UI on TEI 127 (broadcast)
    peer.feed_raw(bytes.fromhex("02 01 03 08"))  # UI on TEI 0
    assert peer.events() == [UnitDataIndication(bytes.fromhex("08 01 01 05")), UnitDataIndication(b"\x08")]
    peer.feed_raw(bytes.fromhex("fe ff 03 0f 00 00 04 ff"))  # TEI check request (SAPI 63)
    peer.feed_raw(bytes.fromhex("02 0b 7f"))  # SABME for TEI 5
    peer.feed_raw(bytes.fromhex("06 01 7f"))  # SABME for SAPI 1
    peer.feed_raw(bytes.fromhex("02 ff 7f"))  # SABME on the broadcast TEI: not a thing
    peer.feed_raw(bytes.fromhex("fe ff 0b"))  # undefined control, but for SAPI 63
    peer.feed_raw(bytes.fromhex("02 ff 0b"))  # ... or on the broadcast data link
    assert peer.events() == [] and peer.received() == [] and link.state is S.MULTIPLE_FRAME_ESTABLISHED


@pytest.mark.parametrize(("octets", "code", "reestablish"), [
    ("02 01 0d 00", "L", True),  # undefined S frame
    ("02 01 e3", "L", True),  # undefined U frame
    ("02 01 01 00 ff", "M", True),  # RR with an information field
    ("00 01 87 00", "N", True),  # FRMR of the wrong size
    ("02 01 00 00" + " 00" * 261, "O", True),  # I frame above N201
    ("02 01 00", "N", False),  # too short: Q.921 2.9 invalid, just discarded
    ("03 01 01 00", "N", False),  # bad address extension bit
    ("", "N", False),
])
def test_bad_frames_while_established(octets: str, code: str, reestablish: bool) -> None:
    link, peer = established()
    peer.feed_raw(bytes.fromhex(octets))
    assert codes(peer.events()) == [code]
    sent = [f.kind for f in peer.received()]
    if reestablish:
        assert sent == [K.SABME] and link.state is S.AWAITING_ESTABLISHMENT
    else:
        assert sent == [] and link.state is S.MULTIPLE_FRAME_ESTABLISHED


@pytest.mark.parametrize("octets", ["02 01 0d 00", "02 01 01 00 ff", "02 01 00", "00 01 7f"])
def test_bad_frames_while_down_are_reported_and_discarded(octets: str) -> None:
    link = DataLink("user")
    peer = Peer(link)
    peer.feed_raw(bytes.fromhex(octets))
    assert len(codes(peer.events())) == 1
    assert peer.received() == [] and link.state is S.TEI_ASSIGNED


def test_optional_frmr_before_re_establishment() -> None:
    link, peer = established(send_frmr=True)
    link.send_data(b"x", peer.now)  # V(S) = 1
    peer.feed(K.I, command=True, ns=0, nr=1, info=b"y")  # V(R) = 1
    peer.received()
    peer.events()
    peer.feed_raw(bytes.fromhex("02 01 0d 00"))  # undefined S frame, a command
    raw = link.frames_to_send()
    # FRMR response from the user (C/R 1), F=0: control 0d 00, V(S)=1 -> 02,
    # V(R)=1 | C/R 0 (rejected frame was a command) -> 02, W -> 01; then our SABME.
    assert raw == [bytes.fromhex("02 01 87 0d 00 02 02 01"), bytes.fromhex("00 01 7f")]
    peer.feed_raw(bytes.fromhex("02 01 01 0b 00"))  # RR P=1 with junk, while re-establishing:
    assert codes(peer.events()) == ["L", "M"]  # reported, but no FRMR outside state 7/8
    assert link.frames_to_send() == []


def test_frmr_for_an_oversized_i_frame_sets_y_and_echoes_p() -> None:
    link, peer = established("network", send_frmr=True)
    peer.feed_raw(bytes.fromhex("00 01 00 01") + bytes(261))  # I P=1 from the user, too long
    frmr = decode_frame(link.frames_to_send()[0], "user")
    assert frmr.kind is K.FRMR and frmr.pf and frmr.info == bytes.fromhex("00 01 00 00 04")


def test_both_ends_configured_as_user_do_not_come_up() -> None:
    a, b = DataLink("user"), DataLink("user")
    a.establish(0.0)
    for data in a.frames_to_send():
        b.receive_frame(data, 0.0)
    event = b.next_event()
    assert isinstance(event, MdlError) and event.code == "L" and "same role" in event.text
    assert b.frames_to_send() == [] and b.state is S.TEI_ASSIGNED


# ------------------------------------------------------------------ robustness
ROLES = st.sampled_from(["user", "network"])
PEER_FRAMES = st.one_of(
    st.binary(max_size=12),
    st.builds(lambda a, c, rest: bytes([a, 1, c]) + rest,
              st.sampled_from([0x00, 0x02]), st.integers(0, 255), st.binary(max_size=3)),
)
ACTIONS = st.lists(st.one_of(
    st.tuples(st.just("frame"), PEER_FRAMES),
    st.tuples(st.just("advance"), st.sampled_from([0.3, 1.0, 10.0])),
    st.tuples(st.just("request"), st.sampled_from(["establish", "release", "data"])),
), max_size=60)


@settings(max_examples=300, deadline=None)
@given(ROLES, ACTIONS)
def test_peer_input_never_raises_and_invariants_hold(role: str, actions: list) -> None:
    link = DataLink(role)
    peer = Peer(link)
    for what, arg in actions:
        if what == "frame":
            peer.feed_raw(arg)
        elif what == "advance":
            peer.advance(arg)
        else:
            try:
                if arg == "establish":
                    link.establish(peer.now)
                elif arg == "release":
                    link.release(peer.now)
                else:
                    link.send_data(b"data", peer.now)
            except LocalProtocolError:
                assert link.state is S.AWAITING_RELEASE and arg == "establish"
        peer.received()  # what we send always decodes for the peer
        peer.events()
        assert 0 <= link.outstanding <= link.k and link.outstanding <= link.queued
        timer = link.get_timer()
        assert (timer is None) == (link.state is S.TEI_ASSIGNED)
        assert timer is None or timer > peer.now
