"""The libpri harness against itself: libpri network side ↔ libpri user side over the
CONTRACTS §3 D-channel socket. Proves pri_peer.c and libpri_peer.py work before our own
stack is put on either side of them."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import libpri_peer as peer_module
import pytest
from libpri_peer import LibpriPeer, LibpriPeerError, compile_pri_peer

pytestmark = pytest.mark.timeout(60)

B_CHANNELS = [*range(1, 16), *range(17, 32)]
CONNECT, CONNECT_ACK = 0x07, 0x0F


def pcap_records(path: Path) -> list[tuple[bool, bytes]]:
    """(sent_by_capturing_side, frame) for each record of a LINUX_LAPD pcap."""
    data, pos, out = path.read_bytes(), 24, []
    while pos + 16 <= len(data):
        incl = struct.unpack("<I", data[pos + 8:pos + 12])[0]
        record = data[pos + 16:pos + 16 + incl]
        out.append((record[1] == 4, record[16:]))
        pos += 16 + incl
    return out


def q931_types(path: Path) -> list[tuple[bool, int]]:
    """(sent, Q.931 message type) of every I-frame in the capture."""
    out = []
    for sent, frame in pcap_records(path):
        if len(frame) > 6 and frame[2] & 1 == 0 and frame[4] == 0x08:  # I-frame carrying Q.931
            out.append((sent, frame[6 + frame[5]]))
    return out


@pytest.fixture
def pair(libpri_peer: Callable[..., LibpriPeer], pri_dir: Path) -> tuple[LibpriPeer, LibpriPeer]:
    """The sim topology: libpri network listening at DIR/dchan, libpri user connecting."""
    net = libpri_peer("network", pri_dir / "dchan", pcap=pri_dir / "net.pcap")
    user = libpri_peer("user", pri_dir / "dchan")
    net.wait_up()
    user.wait_up()
    return net, user


def test_link_comes_up_on_both_sides(pair: tuple[LibpriPeer, LibpriPeer]) -> None:
    net, user = pair
    assert net.status() == {"up": 1, "connected": 1, "calls": 0}
    assert user.status() == {"up": 1, "connected": 1, "calls": 0}


def test_user_call_answered_by_network_then_cleared(pair: tuple[LibpriPeer, LibpriPeer],
                                                    pri_dir: Path) -> None:
    net, user = pair
    user.call(1, "12345", "678")
    ring = net.expect("RING", called="12345", calling="678", requested=-1, exclusive=0)
    call_id, channel = ring.int("id"), ring.int("channel")
    assert call_id > 100000 and channel in B_CHANNELS
    net.proceeding(call_id)
    assert user.expect("PROCEEDING", id=1).int("channel") == channel
    net.alerting(call_id)
    user.expect("RINGING", id=1)
    net.answer(call_id)
    assert user.expect("ANSWER", id=1).int("channel") == channel
    net.ping()
    types = q931_types(pri_dir / "net.pcap")  # libpri's user side acknowledges CONNECT itself
    assert types.index((False, CONNECT_ACK)) > types.index((True, CONNECT))

    user.hangup(1, 16)  # DISCONNECT → network answers RELEASE → user sends RELEASE COMPLETE
    assert net.expect("HANGUP_REQ", id=call_id).int("cause") == 16
    net.expect("HANGUP_ACK", id=call_id)
    net.expect("CLEARED", id=call_id)
    assert user.expect("HANGUP", id=1).int("cause") == 16
    user.expect("CLEARED", id=1)
    assert net.status()["calls"] == 0 and user.status()["calls"] == 0


def test_network_call_rejected_busy_by_user(pair: tuple[LibpriPeer, LibpriPeer]) -> None:
    net, user = pair
    net.call(7, "555", None, channel=5, exclusive=True)
    ring = user.expect("RING", called="555", calling="-", channel=5, exclusive=1)
    user.hangup(ring.int("id"), 17)
    # libpri cannot clear an unanswered SETUP with 17, so the harness proceeds first.
    net.expect("PROCEEDING", id=7, channel=5)
    assert net.expect("HANGUP_REQ", id=7).int("cause") == 17
    net.expect("CLEARED", id=7)
    user.expect("CLEARED", id=ring.int("id"))


def test_auto_reject_and_auto_answer(libpri_peer: Callable[..., LibpriPeer], pri_dir: Path) -> None:
    net = libpri_peer("network", pri_dir / "dchan", auto_reject=34)
    user = libpri_peer("user", pri_dir / "dchan")
    user.wait_up()
    user.call(3, "800", "900", channel=9)
    assert user.expect("HANGUP", id=3).int("cause") == 34  # 34 goes out as RELEASE COMPLETE
    user.expect("CLEARED", id=3)
    net.auto("answer")
    user.call(4, "800", "900", channel=9)
    user.expect("PROCEEDING", id=4, channel=9)
    user.expect("ANSWER", id=4, channel=9)
    net.expect("RING", requested=9)


def test_restart_of_every_channel(pair: tuple[LibpriPeer, LibpriPeer]) -> None:
    net, user = pair
    net.call(2, "555", "-", channel=3, exclusive=True)
    ring = user.expect("RING", channel=3)
    net.restart()
    net.expect("RESTART_DONE", timeout=20)
    acked = [e.int("channel") for e in net.events if e.kind == "RESTART_ACK"]
    assert acked == B_CHANNELS
    for channel in B_CHANNELS:
        user.expect("RESTART", channel=channel)
    user.expect("CLEARED", id=ring.int("id"))  # the call on timeslot 3 went with it
    net.expect("CLEARED", id=2)


def test_reset_one_channel(pair: tuple[LibpriPeer, LibpriPeer]) -> None:
    net, user = pair
    user.reset(17)
    net.expect("RESTART", channel=17)
    user.expect("RESTART_ACK", channel=17)


def test_load_generator_places_sequential_calls(libpri_peer: Callable[..., LibpriPeer],
                                                pri_dir: Path) -> None:
    net = libpri_peer("network", pri_dir / "dchan", auto_answer=True, quiet=True)
    user = libpri_peer("user", pri_dir / "dchan", quiet=True)
    user.wait_up()
    done = user.load(50, 1)
    assert done["n"] == 50 and done["ok"] == 50 and done["failed"] == 0
    assert 0 < done["seconds"] < 30 and done["rate"] > 0
    done = user.load(20, 5, called="4000")
    assert done["ok"] == 20
    for _ in range(70):  # the network side clears each call just after the user side
        net.expect("CLEARED", timeout=10)
    # Counted after the CLEAREDs: the network's lines may still be in flight at LOAD_DONE.
    assert sum(1 for e in net.events if e.kind == "RING") == 70
    assert net.status()["calls"] == 0
    cpu_user, cpu_sys = user.quit()
    assert cpu_user >= 0 and cpu_sys >= 0 and cpu_user + cpu_sys < 30


def test_roles_can_swap_listening_side(libpri_peer: Callable[..., LibpriPeer], pri_dir: Path) -> None:
    """Our telco simulator listens as the network; libpri's user side then connects."""
    user = libpri_peer("user", pri_dir / "dchan", listen=True)
    net = libpri_peer("network", pri_dir / "dchan", listen=False, auto_answer=True)
    user.wait_up()
    net.wait_up()
    user.call(1, "110", "120")
    user.expect("ANSWER", id=1)


def test_bad_commands_are_refused(pair: tuple[LibpriPeer, LibpriPeer]) -> None:
    net, _ = pair
    for line in ("frobnicate", "answer 42", "call 0 1 2", "reset 16", "load 5 0", "hangup 1 x"):
        with pytest.raises(LibpriPeerError, match="refused"):
            net.command(line)
    net.ping()


def test_pcap_records_frames_with_direction(pair: tuple[LibpriPeer, LibpriPeer], pri_dir: Path) -> None:
    net, _ = pair
    net.ping()
    data = (pri_dir / "net.pcap").read_bytes()
    magic, _, _, _, _, _, linktype = struct.unpack("<IHHiIII", data[:24])
    assert magic == 0xA1B2C3D4 and linktype == 177  # LINKTYPE_LINUX_LAPD
    pseudo = data[40:56]
    assert pseudo[:2] == b"\x00\x04" and pseudo[6] == 1  # sent by us, we are the network
    frames = pcap_records(pri_dir / "net.pcap")
    # Both libpri sides send SABME at start (P=1); each answers the other's with UA (F=1).
    assert frames[0] == (True, bytes([0x02, 0x01, 0x7F]))  # SABME, C/R=1: network command
    assert (False, bytes([0x00, 0x01, 0x7F])) in frames[:4]  # the user's SABME, C/R=0
    assert (True, bytes([0x00, 0x01, 0x73])) in frames[:4]  # our UA: a response, C/R=0


def test_harness_exits_cleanly_and_reports_cpu(pair: tuple[LibpriPeer, LibpriPeer]) -> None:
    net, user = pair
    user.quit()
    net.expect("DISCONNECTED")
    assert not user.running
    user_cpu, sys_cpu = net.quit()
    assert user_cpu >= 0 and sys_cpu >= 0 and not net.running


def test_missing_libpri_header_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(peer_module, "HEADER", tmp_path / "libpri.h")
    with pytest.raises(LibpriPeerError, match="libpri-dev"):
        compile_pri_peer(tmp_path)
