"""The simulated FXS port (CONTRACTS §4): SimFxsPort (box) against SimHandsetLink and raw sockets."""

from __future__ import annotations

import json
import select
import shutil
import socket
import sys
import tempfile
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.e1_card.errors import SpanError
from drivers.e1_card.fxs import (
    TONES,
    Audio,
    Digit,
    Flash,
    FxsEvent,
    HookOff,
    HookOn,
    check_digits,
    open_fxs,
    parse_fxs_url,
)
from drivers.e1_card.sim import CallerId, HandsetEvent, Ring, SimFxsPort, SimHandsetLink, Tone

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def port_path() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="anx-fxs-", dir="/tmp"))
    yield directory / "fxs" / "port1"
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def port(port_path: Path) -> Iterator[SimFxsPort]:
    with open_fxs(f"sim://{port_path}") as opened:
        assert isinstance(opened, SimFxsPort)
        yield opened


@pytest.fixture
def handset(port: SimFxsPort, port_path: Path) -> Iterator[SimHandsetLink]:
    with SimHandsetLink(f"sim://{port_path}") as link:
        assert port.connected
        yield link


def drain_box(port: SimFxsPort) -> list[FxsEvent]:
    events = []
    while (event := port.read_event()) is not None:
        events.append(event)
    return events


def drain_handset(link: SimHandsetLink) -> list[HandsetEvent | Audio]:
    events = []
    while (event := link.read_event()) is not None:
        events.append(event)
    return events


def samples(seed: int) -> bytes:
    return bytes((seed * 7 + i) % 256 for i in range(160))


def raw_control(payload: object) -> bytes:
    return b"\x01" + json.dumps(payload).encode()


def test_handset_to_box_every_message(port: SimFxsPort, handset: SimHandsetLink) -> None:
    assert port.read_event() is None
    handset.hook_off()
    handset.dtmf("5")
    handset.dtmf("12#*")
    handset.flash()
    handset.write_audio(samples(1))
    handset.hook_on()
    assert drain_box(port) == [HookOff(), Digit("5"), Digit("1"), Digit("2"), Digit("#"), Digit("*"),
                               Flash(), Audio(samples(1)), HookOn()]
    assert not port.off_hook


def test_box_to_handset_every_message(port: SimFxsPort, handset: SimHandsetLink) -> None:
    port.send_cid("13800138000", "张三")
    port.ring(True)
    port.ring(False)
    for name in TONES:
        port.tone(name)
    port.write_audio(samples(2))
    assert drain_handset(handset) == [CallerId("13800138000", "张三"), Ring(True), Ring(False),
                                      *[Tone(name) for name in TONES], Audio(samples(2))]


def test_the_wire_format_is_the_contract(port: SimFxsPort, port_path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as raw:
        raw.connect(str(port_path))
        assert port.connected
        port.ring(True)
        port.send_cid("8001", "")
        port.tone("busy")
        port.write_audio(samples(3))
        assert json.loads(raw.recv(4096)[1:]) == {"ring": True}
        cid = raw.recv(4096)
        assert cid[0] == 0x01 and json.loads(cid[1:]) == {"cid": {"number": "8001", "name": ""}}
        assert raw.recv(4096) == b"\x01" + b'{"tone":"busy"}'
        assert raw.recv(4096) == b"\x00" + samples(3)
        raw.send(raw_control({"hook": "off"}))
        raw.send(b"\x00" + samples(4))
        assert drain_box(port) == [HookOff(), Audio(samples(4))]


def test_hook_reports_only_transitions(port: SimFxsPort, handset: SimHandsetLink) -> None:
    handset.hook_on()  # already on-hook
    handset.hook_off()
    handset.hook_off()
    assert drain_box(port) == [HookOff()]
    assert port.off_hook


def test_bad_datagrams_to_the_box_are_dropped(port: SimFxsPort, port_path: Path) -> None:
    bad = [b"\x07hello", b"\x01{not json", b"\x01[1, 2]", b"\x01\xff\xfe", b"\x00" + bytes(100),
           b"\x00" + bytes(161), raw_control({"hook": "sideways"}), raw_control({"dtmf": "5x"}),
           raw_control({"flash": "yes"}), raw_control({"volume": 3}), b"\x01", b"", bytes(5000)]
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as raw:
        raw.connect(str(port_path))
        for datagram in bad:
            raw.send(datagram)
        raw.send(raw_control({"hook": "off"}))
        assert drain_box(port) == [HookOff()]  # still alive and listening
        assert port.dropped == len(bad)
        assert port.connected


def test_bad_datagrams_to_the_handset_are_dropped(port_path: Path) -> None:
    port_path.parent.mkdir(parents=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(str(port_path))
    listener.listen(1)
    with listener, SimHandsetLink(port_path) as link:
        raw, _ = listener.accept()
        with raw:
            for datagram in (b"\x02", b"\x01{", raw_control({"ring": "loud"}), raw_control({"tone": "jazz"}),
                             raw_control({"cid": {"number": 8001}}), raw_control({}), b"\x00" + bytes(3)):
                raw.send(datagram)
            raw.send(raw_control({"tone": "dial"}))
            assert drain_handset(link) == [Tone("dial")]
            assert link.dropped == 7


def test_unplugged_while_off_hook_reads_as_on_hook(port: SimFxsPort, port_path: Path) -> None:
    link = SimHandsetLink(port_path)
    link.hook_off()
    assert drain_box(port) == [HookOff()]
    link.close()
    assert drain_box(port) == [HookOn()]
    assert not port.connected and not port.off_hook
    port.ring(True)  # nobody there: not an error
    port.write_audio(samples(5))
    with SimHandsetLink(port_path) as again:  # plugged in while ringing: rings at once
        assert port.connected
        assert drain_handset(again) == [Ring(True)]


def test_a_second_handset_is_refused(port: SimFxsPort, handset: SimHandsetLink, port_path: Path) -> None:
    with SimHandsetLink(port_path) as other:
        assert port.read_event() is None  # accepted and closed at once
        with pytest.raises(SpanError, match="closed by the peer"):
            other.read_event()
    handset.hook_off()
    assert drain_box(port) == [HookOff()]


def test_handset_sees_the_box_go_and_reconnects(port_path: Path) -> None:
    port = SimFxsPort(port_path)
    link = SimHandsetLink(port_path)
    assert port.connected
    port.close()
    with pytest.raises(SpanError, match="connection closed by the peer"):
        link.read_event()
    assert not link.connected and link.read_event() is None
    with pytest.raises(SpanError, match="not connected"):
        link.hook_off()
    with pytest.raises(SpanError) as refused:
        link.reopen()
    assert str(refused.value) == f"connecting handset to FXS port at {port_path}: No such file or directory"
    with SimFxsPort(port_path) as restarted, link:
        link.reopen()
        link.flash()
        assert drain_box(restarted) == [Flash()]


def test_fileno_is_stable_and_wakes_on_connect_and_data(port: SimFxsPort, port_path: Path) -> None:
    fd = port.fileno()
    assert select.select([fd], [], [], 0)[0] == []
    with SimHandsetLink(port_path) as link:
        assert select.select([fd], [], [], 1)[0] == [fd]  # a handset connecting
        assert port.read_event() is None
        assert select.select([fd], [], [], 0)[0] == []
        link.dtmf("9")
        assert select.select([fd], [], [], 1)[0] == [fd]
        assert drain_box(port) == [Digit("9")]
        assert port.fileno() == fd
        assert select.select([link.fileno()], [], [], 0)[0] == []
        port.tone("ringback")
        assert select.select([link.fileno()], [], [], 1)[0] == [link.fileno()]


def test_argument_checks(port: SimFxsPort, handset: SimHandsetLink) -> None:
    with pytest.raises(ValueError, match="tone must be one of"):
        port.tone("music")
    with pytest.raises(ValueError, match="160 bytes"):
        port.write_audio(b"\xd5" * 80)
    with pytest.raises(ValueError, match="not DTMF"):
        handset.dtmf("12x")
    with pytest.raises(ValueError, match="non-empty"):
        check_digits("")
    assert check_digits("a*") == "A*"
    assert drain_handset(handset) == []  # nothing went out


def test_fxs_url_dispatch(port_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_fxs_url("sim:///run/anxin/fxs/port1") == ("sim", "/run/anxin/fxs/port1")
    assert parse_fxs_url("dahdi://chan/4") == ("dahdi", "4")
    for bad in ("sim://port1", "dahdi://4", "dahdi://chan/0", "/dev/dahdi/chan/1"):
        with pytest.raises(ValueError, match="FXS URL"):
            parse_fxs_url(bad)
    fake = types.SimpleNamespace(DahdiFxsPort=lambda url: ("dahdi", url))
    monkeypatch.setitem(sys.modules, "drivers.e1_card.dahdi", fake)
    assert open_fxs("dahdi://chan/4") == ("dahdi", "dahdi://chan/4")


def test_listening_errors_carry_context(port_path: Path) -> None:
    port_path.parent.mkdir(parents=True)
    port_path.write_text("a plain file is in the way")
    with pytest.raises(SpanError, match=f"listening for a handset at {port_path}: .*not a socket"):
        SimFxsPort(port_path)
    assert port_path.read_text() == "a plain file is in the way"  # never deleted
