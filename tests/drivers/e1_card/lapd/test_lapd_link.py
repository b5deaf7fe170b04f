"""DataLink: establishment, release, data transfer, window, recovery, keepalive.

Two cores over the fake network (LinkPair) or one core against a scripted peer (Peer).
"""

from __future__ import annotations

import pytest
from lapd_testkit import Filter, LinkPair, Peer, drop, duplicate, kind_is, swap_with_next

from drivers.e1_card.errors import LocalProtocolError
from drivers.e1_card.lapd import (
    DataIndication,
    DataLink,
    Established,
    FrameKind,
    LinkState,
    MdlError,
    Released,
)

K = FrameKind
S = LinkState
pytestmark = pytest.mark.timeout(60)


def payloads(n: int, prefix: bytes = b"m") -> list[bytes]:
    return [prefix + str(i).encode() for i in range(n)]


def user_sends(n: int, seconds: float, *user_wire: Filter) -> LinkPair:
    """An established pair sends ``payloads(n)`` user → network through the ``user_wire`` filters.

    After ``seconds`` the network must have every message once and in order.
    """
    pair = LinkPair()
    pair.establish()
    pair.wires["user"].filters.extend(user_wire)
    for m in payloads(n):
        pair.user.send_data(m, pair.now)
    pair.run_for(seconds)
    assert pair.delivered("network") == payloads(n)
    return pair


# ------------------------------------------------------------------ establishment / release
@pytest.mark.parametrize("initiator", ["user", "network"])
def test_establishment_either_direction(initiator: str) -> None:
    pair = LinkPair()
    pair.establish(initiator)
    responder = "network" if initiator == "user" else "user"
    assert [r.frame.summary() for r in pair.log] == ["SABME P cmd", "UA F rsp"]
    assert [r.sender for r in pair.log] == [initiator, responder]
    assert pair.log[0].data.hex(" ") == ("00 01 7f" if initiator == "user" else "02 01 7f")
    for side in ("user", "network"):
        assert pair.events[side] == [Established(reestablished=False)]
        assert pair.links[side].state is S.MULTIPLE_FRAME_ESTABLISHED
        assert (pair.links[side].v_s, pair.links[side].v_a, pair.links[side].v_r) == (0, 0, 0)


def test_sabme_collision_both_sides_come_up_once() -> None:
    pair = LinkPair()
    pair.user.establish(pair.now)
    pair.network.establish(pair.now)
    pair.run_for(0.5)
    assert pair.user.established and pair.network.established
    for side in ("user", "network"):
        assert pair.events[side] == [Established(reestablished=False)]
        assert [r.frame.kind for r in pair.sent(side)] == [K.SABME, K.UA]
    pair.user.send_data(b"after collision", pair.now)
    pair.run_for(0.5)
    assert pair.delivered("network") == [b"after collision"]


def test_lost_ua_is_recovered_by_sabme_retransmission() -> None:
    pair = LinkPair()
    pair.wires["network"].filters.append(drop(kind_is(K.UA)))
    pair.user.establish(pair.now)
    pair.run_for(1.5)
    assert [r.frame.kind for r in pair.sent("user")] == [K.SABME, K.SABME]
    assert pair.user.established and pair.network.established
    # the network saw the second SABME while established: a peer re-establishment
    assert [e.code for e in pair.of_type("network", MdlError)] == ["F"]
    assert pair.events["user"] == [Established(reestablished=False)]


def test_establishment_gives_up_after_n200_retransmissions() -> None:
    pair = LinkPair()
    pair.wires["user"].filters.append(drop(times=None))
    pair.user.establish(pair.now)
    pair.run_for(10)
    assert [r.frame.kind for r in pair.sent("user")] == [K.SABME] * 4  # 1 + N200
    assert pair.events["user"] == [MdlError("G", pair.events["user"][0].text), Released()]
    assert pair.user.state is S.TEI_ASSIGNED and pair.user.get_timer() is None
    assert pair.user.get_timer() is None


def test_peer_refuses_with_dm() -> None:
    link = DataLink("user")
    peer = Peer(link)
    link.send_data(b"queued while down", peer.now)  # starts establishment (libpri does too)
    assert [f.kind for f in peer.received()] == [K.SABME]
    peer.feed(K.DM, command=False, pf=True)
    assert peer.events() == [Released()]
    assert link.state is S.TEI_ASSIGNED and link.queued == 0


def test_data_request_while_down_establishes_and_delivers() -> None:
    pair = LinkPair()
    pair.user.send_data(b"SETUP", pair.now)
    pair.run_for(0.5)
    assert pair.delivered("network") == [b"SETUP"]
    assert pair.events["user"][0] == Established(reestablished=False)


def test_release_and_release_collision() -> None:
    pair = LinkPair()
    pair.establish()
    pair.user.release(pair.now)
    pair.run_for(0.5)
    assert [r.frame.summary() for r in pair.log[2:]] == ["DISC P cmd", "UA F rsp"]
    assert pair.events["user"][-1] == Released() and pair.events["network"][-1] == Released()
    assert pair.user.state is S.TEI_ASSIGNED and pair.network.state is S.TEI_ASSIGNED
    assert pair.user.get_timer() is None and pair.network.get_timer() is None

    pair.establish("network")
    pair.user.release(pair.now)
    pair.network.release(pair.now)
    pair.run_for(0.5)
    for side in ("user", "network"):
        assert pair.links[side].state is S.TEI_ASSIGNED
        assert pair.events[side][-1] == Released()
        assert [r.frame.kind for r in pair.sent(side)][-2:] == [K.DISC, K.UA]


def test_release_when_down_confirms_at_once_and_requests_are_checked() -> None:
    link = DataLink("network")
    peer = Peer(link)
    link.release(0.0)
    assert peer.events() == [Released()] and peer.received() == []
    peer.up()
    link.release(0.0)
    assert [f.kind for f in peer.received()] == [K.DISC]
    link.send_data(b"x", 0.0)  # layer 3 has not heard yet: discarded, no error
    assert link.queued == 0 and peer.received() == []
    with pytest.raises(LocalProtocolError, match="ESTABLISH-REQUEST is not allowed in state AWAITING_REL"):
        link.establish(0.0)
    link.release(0.0)  # already releasing: nothing more
    assert peer.received() == []
    with pytest.raises(LocalProtocolError, match="N201"):
        DataLink("user").send_data(bytes(261), 0.0)
    with pytest.raises(LocalProtocolError, match="bytes"):
        DataLink("user").send_data("text", 0.0)  # type: ignore[arg-type]


def test_disc_while_established_releases() -> None:
    link = DataLink("user")
    peer = Peer(link)
    peer.up()
    link.send_data(b"lost", peer.now)
    peer.received()
    peer.feed(K.DISC, command=True, pf=True)
    assert [f.summary() for f in peer.received()] == ["UA F rsp"]
    assert peer.events() == [Released()]
    assert link.state is S.TEI_ASSIGNED and link.queued == 0 and link.get_timer() is None


def test_constructor_checks_parameters() -> None:
    with pytest.raises(ValueError, match="window"):
        DataLink("user", k=0)
    with pytest.raises(ValueError, match="positive"):
        DataLink("user", t200=0)
    with pytest.raises(ValueError, match="role"):
        DataLink("telco")  # type: ignore[arg-type]


# ------------------------------------------------------------------ information transfer
def test_data_both_ways_in_order() -> None:
    pair = LinkPair()
    pair.establish()
    up, down = payloads(5, b"u"), payloads(5, b"n")
    for a, b in zip(up, down, strict=True):
        pair.user.send_data(a, pair.now)
        pair.network.send_data(b, pair.now)
    pair.run_for(1)
    assert pair.delivered("network") == up and pair.delivered("user") == down
    assert pair.user.v_s == 5 and pair.user.v_a == 5 and pair.user.v_r == 5
    assert not pair.of_type("user", MdlError) and not pair.of_type("network", MdlError)
    assert pair.user.get_timer() == pytest.approx(pair.log[-1].t + 10.0, abs=0.01)  # T203 runs


def test_window_k7_holds_the_eighth_frame_until_an_ack() -> None:
    link = DataLink("user")
    peer = Peer(link)
    peer.up()
    for p in payloads(8):
        link.send_data(p, peer.now)
    sent = peer.received()
    assert [(f.kind, f.ns) for f in sent] == [(K.I, n) for n in range(7)]
    assert link.outstanding == 7 and link.queued == 8
    peer.feed(K.RR, command=False, nr=1)  # acknowledges I(0): the window opens by one
    sent = peer.received()
    assert [(f.kind, f.ns, f.info) for f in sent] == [(K.I, 7, b"m7")]
    assert link.v_a == 1 and link.v_s == 8


def test_sequence_numbers_wrap_modulo_128() -> None:
    pair = user_sends(300, 5)
    assert pair.user.v_s == 300 % 128 and pair.network.v_r == 300 % 128


def test_poll_on_i_frame_is_answered_with_rr_final() -> None:
    link = DataLink("network")
    peer = Peer(link)
    peer.up()
    peer.feed(K.I, command=True, pf=True, ns=0, nr=0, info=b"SETUP")
    assert peer.events() == [DataIndication(b"SETUP")]
    assert [f.summary() for f in peer.received()] == ["RR N(R)=1 F rsp"]
    peer.feed(K.I, command=True, ns=1, nr=0, info=b"INFO")  # P=0: a plain RR response
    assert [f.summary() for f in peer.received()] == ["RR N(R)=2 rsp"]
    link.send_data(b"reply", peer.now)  # our I frame carries the acknowledgement
    assert [f.summary() for f in peer.received()] == ["I N(S)=0 N(R)=2 cmd 5B"]


def test_lost_i_frame_recovered_by_rej() -> None:
    pair = user_sends(4, 1, drop(kind_is(K.I, ns=1)))
    rej = pair.sent("network", kind_is(K.REJ))
    assert len(rej) == 1 and rej[0].frame.nr == 1 and not rej[0].frame.command
    assert [r.frame.ns for r in pair.sent("user", kind_is(K.I))] == [0, 1, 2, 3, 1, 2, 3]
    assert pair.user.state is S.MULTIPLE_FRAME_ESTABLISHED
    assert not pair.of_type("network", MdlError)


def test_reordered_i_frames_are_delivered_once_in_order() -> None:
    pair = user_sends(3, 2, swap_with_next(kind_is(K.I, ns=0)))
    assert pair.resets() == 0


def test_lost_i_frame_recovered_by_timer_recovery() -> None:
    pair = LinkPair()
    pair.establish()
    pair.wires["user"].filters.append(drop(kind_is(K.I)))
    start = pair.now
    pair.user.send_data(b"only", pair.now)
    pair.run_until(lambda: pair.user.state is S.TIMER_RECOVERY, timeout=2)
    assert pair.now - start == pytest.approx(1.0)  # T200
    pair.run_for(1)
    assert pair.delivered("network") == [b"only"]
    after = [r.frame.summary() for r in pair.log[2:]]
    assert after == ["I N(S)=0 N(R)=0 cmd 4B",  # dropped
                     "RR N(R)=0 P cmd",  # T200: enquiry
                     "RR N(R)=0 F rsp",  # the peer has nothing
                     "I N(S)=0 N(R)=0 cmd 4B",  # retransmitted from N(R)=0
                     "RR N(R)=1 rsp"]
    assert pair.user.state is S.MULTIPLE_FRAME_ESTABLISHED and pair.user.v_a == 1


def test_lost_rr_is_recovered_without_duplicate_delivery() -> None:
    pair = LinkPair()
    pair.establish()
    pair.wires["network"].filters.append(drop(kind_is(K.RR)))
    pair.user.send_data(b"once", pair.now)
    pair.run_for(2)
    assert pair.delivered("network") == [b"once"]
    kinds = [r.frame.summary() for r in pair.log[2:]]
    assert kinds == ["I N(S)=0 N(R)=0 cmd 4B", "RR N(R)=1 rsp",  # lost
                     "RR N(R)=0 P cmd", "RR N(R)=1 F rsp"]  # enquiry; the answer acknowledges
    assert pair.user.v_a == 1 and pair.user.queued == 0


def test_duplicated_i_frame_is_not_delivered_twice() -> None:
    user_sends(2, 2, duplicate(kind_is(K.I, ns=0)))


def test_peer_receiver_busy_holds_data_and_polls() -> None:
    link = DataLink("user")
    peer = Peer(link)
    peer.up()
    peer.feed(K.RNR, command=False, nr=0)
    assert link.peer_busy
    link.send_data(b"wait", peer.now)
    assert peer.received() == []  # nothing while the peer is busy
    peer.advance(1.0)  # T200 polls the busy peer
    assert [f.summary() for f in peer.received()] == ["RR N(R)=0 P cmd"]
    assert link.state is S.TIMER_RECOVERY
    peer.feed(K.RNR, command=False, pf=True, nr=0)  # still busy
    assert peer.received() == [] and link.state is S.MULTIPLE_FRAME_ESTABLISHED
    for _ in range(5):  # polls go on as long as the peer answers, no N200 failure
        peer.advance(1.0)
        assert [f.summary() for f in peer.received()] == ["RR N(R)=0 P cmd"]
        peer.feed(K.RNR, command=False, pf=True, nr=0)
    peer.advance(1.0)
    peer.received()
    peer.feed(K.RR, command=False, pf=True, nr=0)  # ready again
    assert [f.summary() for f in peer.received()] == ["I N(S)=0 N(R)=0 cmd 4B"]
    assert not link.peer_busy and not [e for e in peer.events() if isinstance(e, MdlError)]


def test_rnr_in_a_pair_as_an_injected_frame() -> None:
    pair = LinkPair()
    pair.establish()
    pair.user.receive_frame(bytes.fromhex("00 01 05 00"), pair.now)  # RNR rsp N(R)=0 from the network
    pair.user.send_data(b"held", pair.now)
    pair.run_for(0.5)
    assert pair.delivered("network") == []
    pair.run_for(2)  # the enquiry finds the network ready
    assert pair.delivered("network") == [b"held"]


def test_n200_exceeded_in_timer_recovery_re_establishes_then_releases() -> None:
    pair = LinkPair()
    pair.establish()
    pair.wires["network"].filters.append(drop(times=None))  # the network goes deaf-mute
    start = pair.now
    pair.user.send_data(b"into the void", pair.now)
    pair.run_until(lambda: pair.user.state is S.AWAITING_ESTABLISHMENT, timeout=10)
    # T200 x (N200 + 1) of polls, then Annex B re-establishes before telling layer 3.
    assert pair.now - start == pytest.approx(4.0)
    polls = pair.sent("user", kind_is(K.RR, pf=True, command=True))
    assert len(polls) == 3  # N200 enquiries
    assert [type(e) for e in pair.events["user"][1:]] == [MdlError]
    assert pair.events["user"][1].code == "I" and "N200" in pair.events["user"][1].text
    assert pair.user.queued == 1  # kept: delivered if the re-establishment works
    pair.run_until(lambda: pair.user.state is S.TEI_ASSIGNED, timeout=10)
    assert pair.now - start == pytest.approx(8.0)  # N200 + 1 SABMEs more
    assert len(pair.sent("user", kind_is(K.SABME))) >= 4
    user_events = pair.events["user"][1:]
    assert [type(e) for e in user_events] == [MdlError, MdlError, Released]
    assert user_events[1].code == "G"
    assert pair.user.queued == 0 and pair.user.get_timer() is None


def test_short_outage_in_timer_recovery_is_not_a_release() -> None:
    pair = LinkPair()
    pair.establish()
    flt = drop(times=None)
    pair.wires["network"].filters.append(flt)
    pair.user.send_data(b"held", pair.now)
    pair.run_until(lambda: pair.user.state is S.AWAITING_ESTABLISHMENT, timeout=10)
    pair.wires["network"].filters.remove(flt)  # the line is back within N200 x T200
    pair.run_for(3)
    assert pair.user.established and not pair.of_type("user", Released)
    assert Established(reestablished=True) in pair.events["user"]


def test_keep_up_re_establishes_after_link_failure() -> None:
    pair = LinkPair(keep_up=True)
    pair.establish()
    flt = drop(times=None)
    pair.wires["network"].filters.append(flt)
    pair.user.send_data(b"lost", pair.now)
    pair.run_for(9)  # polls (4 s), then the re-establishment fails too (4 s)
    assert pair.of_type("user", Released)
    pair.wires["network"].filters.remove(flt)  # the line recovers
    pair.run_for(5)
    assert pair.user.established and pair.network.established
    pair.user.send_data(b"back", pair.now)
    pair.run_for(1)
    assert pair.delivered("network")[-1] == b"back"


# ------------------------------------------------------------------ T203 keepalive
def test_t203_idle_keepalive_over_60_seconds() -> None:
    pair = LinkPair()
    pair.establish()
    pair.run_for(60)
    polls = [r for r in pair.log if r.frame.kind is K.RR and r.frame.command and r.frame.pf]
    answers = [r for r in pair.log if r.frame.kind is K.RR and not r.frame.command and r.frame.pf]
    assert len(polls) >= 5 and len(answers) == len(polls)  # every poll answered with F=1
    assert polls[0].t == pytest.approx(10.0, abs=0.01)  # T203 after the last frame
    # never more than T203 of silence; both ends may poll at the same moment (10.004 here)
    gaps = [b.t - a.t for a, b in zip(polls, polls[1:], strict=False)]
    assert all(g <= 10.01 for g in gaps)
    assert len(pair.log) == 2 + len(polls) + len(answers)  # nothing else on the line
    for side in ("user", "network"):
        assert pair.events[side] == [Established(reestablished=False)]
        assert pair.links[side].state is S.MULTIPLE_FRAME_ESTABLISHED


def test_t203_poll_as_libpri_sends_it_is_answered() -> None:
    link = DataLink("user")
    peer = Peer(link)
    peer.up()
    peer.feed_raw(bytes.fromhex("02 01 01 01"))  # libpri network: RR command P=1 N(R)=0
    assert [f.summary() for f in peer.received()] == ["RR N(R)=0 F rsp"]
    assert link.frames_to_send() == []
    peer.advance(10.0)  # our own T203
    sent = peer.received()
    assert [f.summary() for f in sent] == ["RR N(R)=0 P cmd"]
    assert link.state is S.TIMER_RECOVERY
    peer.feed(K.RR, command=False, pf=True, nr=0)
    assert link.state is S.MULTIPLE_FRAME_ESTABLISHED and link.get_timer() == pytest.approx(20.0)


def test_t203_poll_unanswered_re_establishes_then_fails() -> None:
    link = DataLink("network")
    peer = Peer(link)
    peer.up()
    polls = sabmes = 0
    for _ in range(20):
        deadline = link.get_timer()
        if deadline is None:
            break
        peer.advance(deadline - peer.now)
        frames = peer.received()
        polls += sum(1 for f in frames if f.kind is K.RR and f.pf)
        sabmes += sum(1 for f in frames if f.kind is K.SABME)
    assert polls == 4  # the T203 enquiry plus N200 retries
    assert sabmes == 4  # then Annex B re-establishment: SABME plus N200 retries
    assert peer.now == pytest.approx(10.0 + 4 * 1.0 + 4 * 1.0)
    events = peer.events()
    assert [type(e) for e in events] == [MdlError, MdlError, Released]
    assert [events[0].code, events[1].code] == ["I", "G"]


def test_one_rej_per_sequence_error_then_polls_get_rr() -> None:
    link = DataLink("user")
    peer = Peer(link)
    peer.up()
    peer.feed(K.I, command=True, ns=1, nr=0, info=b"b")  # I(0) was lost
    assert [f.summary() for f in peer.received()] == ["REJ N(R)=0 rsp"]
    peer.feed(K.I, command=True, ns=2, nr=0, info=b"c")  # reject exception: no second REJ
    assert peer.received() == []
    peer.feed(K.I, command=True, pf=True, ns=3, nr=0, info=b"d")  # but a poll is answered
    assert [f.summary() for f in peer.received()] == ["RR N(R)=0 F rsp"]
    for ns, info in enumerate([b"a", b"b", b"c", b"d"]):  # the retransmission
        peer.feed(K.I, command=True, ns=ns, nr=0, info=info)
    assert [e.payload for e in peer.events() if isinstance(e, DataIndication)] == [b"a", b"b", b"c", b"d"]
    assert link.v_r == 4
    peer.feed(K.I, command=True, ns=6, nr=0, info=b"gap")  # a new gap: a new REJ
    assert [f.summary() for f in peer.received()][-1] == "REJ N(R)=4 rsp"


def test_i_frames_in_timer_recovery_are_delivered_but_do_not_end_it() -> None:
    link = DataLink("network")
    peer = Peer(link)
    peer.up()
    link.send_data(b"out", peer.now)
    peer.received()
    peer.advance(1.0)  # T200: enquiry
    assert [f.summary() for f in peer.received()] == ["RR N(R)=0 P cmd"]
    peer.feed(K.I, command=True, ns=0, nr=1, info=b"in")  # acknowledges ours, no F bit
    assert [e for e in peer.events()] == [DataIndication(b"in")]
    assert link.state is S.TIMER_RECOVERY and link.v_a == 1
    assert [f.summary() for f in peer.received()] == ["RR N(R)=1 rsp"]
    link.send_data(b"waits", peer.now)  # no new I frames in timer recovery
    assert peer.received() == []
    peer.feed(K.RR, command=False, pf=True, nr=1)
    assert link.state is S.MULTIPLE_FRAME_ESTABLISHED
    assert [f.summary() for f in peer.received()] == ["I N(S)=1 N(R)=1 cmd 5B"]
