"""The simulated span (CONTRACTS §3): SimSpan (box) against SimSpanServer (telco) and raw sockets."""

from __future__ import annotations

import asyncio
import shutil
import socket
import sys
import tempfile
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.e1_card.errors import SpanError
from drivers.e1_card.sim import SimSpan, SimSpanServer
from drivers.e1_card.span import (
    IDLE_MEDIA_FRAME,
    MEDIA_FRAME_BYTES,
    NO_ALARMS,
    MediaFrame,
    SpanAlarms,
    open_span,
    parse_span_url,
    timeslot_audio,
)

pytestmark = pytest.mark.timeout(30)

SABME = bytes([0x00, 0x01, 0x7F])
UA = bytes([0x00, 0x01, 0x73])
I_FRAME = bytes([0x00, 0x01, 0x00, 0x00]) + bytes.fromhex("0802000105 04038090a3 1803a98381")


@pytest.fixture
def span_dir() -> Iterator[Path]:
    # Short on purpose: sun_path holds 107 bytes and pytest's tmp_path can be longer.
    directory = Path(tempfile.mkdtemp(prefix="anx-span-", dir="/tmp"))
    yield directory / "span1"
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def telco(span_dir: Path) -> Iterator[SimSpanServer]:
    with SimSpanServer(span_dir, name="telco") as server:
        yield server


@pytest.fixture
def box(span_dir: Path, telco: SimSpanServer) -> Iterator[SimSpan]:
    with SimSpan(f"sim://{span_dir}", name="span1") as span:
        assert telco.connected
        yield span


@pytest.fixture
def raw_line(span_dir: Path) -> Iterator[tuple[SimSpan, socket.socket]]:
    """A SimSpan connected to a bare listener at DIR/dchan (no server, no media): (span, raw)."""
    span_dir.mkdir(parents=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(str(span_dir / "dchan"))
    listener.listen(1)
    with listener, SimSpan(span_dir, name="span1") as span:
        raw, _ = listener.accept()
        with raw:
            yield span, raw


def audio(seed: int) -> bytes:
    return bytes((seed + i) % 256 for i in range(160))


def assert_line_carries(span: SimSpan, telco: SimSpanServer) -> None:
    """A frame each way on the D-channel and a media tick to the box get through."""
    span.write_dchannel(SABME)
    assert telco.read_dchannel() == SABME
    telco.write_dchannel(UA)
    assert span.read_dchannel() == UA
    assert telco.send_media(IDLE_MEDIA_FRAME)
    assert span.read_media() == IDLE_MEDIA_FRAME


# -- D-channel --------------------------------------------------------------------------------


def test_dchannel_frames_cross_both_ways(box: SimSpan, telco: SimSpanServer) -> None:
    assert box.state == "up" and telco.state == "up"
    assert box.read_dchannel() is None  # nothing pending: never blocks
    box.write_dchannel(SABME)
    telco.write_dchannel(UA)
    telco.write_dchannel(I_FRAME)
    assert telco.read_dchannel() == SABME
    assert telco.read_dchannel() is None
    assert [box.read_dchannel(), box.read_dchannel(), box.read_dchannel()] == [UA, I_FRAME, None]


def test_box_puts_fcs_bytes_on_the_wire_and_ignores_them_on_receipt(
        raw_line: tuple[SimSpan, socket.socket]) -> None:
    span, raw = raw_line
    assert span.state == "up" and not span.media_connected
    span.write_dchannel(SABME)
    assert raw.recv(100) == SABME + b"\x00\x00"
    raw.send(UA + b"\xab\xcd")  # a real FCS, or anything: the receiver strips 2 bytes
    assert span.read_dchannel() == UA


def test_server_puts_fcs_bytes_on_the_wire_and_ignores_them_on_receipt(telco: SimSpanServer,
                                                                       span_dir: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as raw:
        raw.connect(str(span_dir / "dchan"))
        assert telco.connected
        telco.write_dchannel(UA)
        assert raw.recv(100) == UA + b"\x00\x00"
        raw.send(SABME + b"\x12\x34")
        assert telco.read_dchannel() == SABME


def test_bad_dchannel_datagrams_are_dropped(raw_line: tuple[SimSpan, socket.socket]) -> None:
    span, raw = raw_line
    for junk in (b"\x00", b"\x00\x00", b"", bytes(5000)):  # no frame / empty / oversize
        raw.send(junk)
    raw.send(UA + b"\x00\x00")
    assert span.read_dchannel() == UA
    assert span.dropped == 4
    assert span.state == "up"  # an empty datagram is not mistaken for a hang-up
    with pytest.raises(ValueError, match="LAPD frame"):
        span.write_dchannel(b"")


# -- media ------------------------------------------------------------------------------------


def test_media_frames_cross_both_ways_in_the_20ms_layout(box: SimSpan, telco: SimSpanServer) -> None:
    assert box.media_connected and telco.media_connected
    for tick in range(3):  # the network clocks, the box answers each tick with one buffer
        down = MediaFrame()
        down[1] = audio(tick)
        down[31] = audio(100 + tick)
        assert telco.send_media(bytes(down))
        received = box.read_media()
        assert received is not None and len(received) == MEDIA_FRAME_BYTES
        assert timeslot_audio(received, 1) == audio(tick)
        assert MediaFrame(received)[31] == audio(100 + tick)
        assert MediaFrame(received)[2] == bytes([0xD5]) * 160
        up = MediaFrame()
        up[17] = audio(200 + tick)
        box.write_media(bytes(up))
        answer = telco.read_media()
        assert answer is not None and MediaFrame(answer)[17] == audio(200 + tick)
        assert answer[:160] == bytes([0xD5]) * 160  # timeslot 0 carries no audio
        assert box.read_media() is None and telco.read_media() is None


def test_the_network_side_clocks_and_never_echoes(box: SimSpan, telco: SimSpanServer) -> None:
    # A shell on the telco side answering what it reads would flood the line: not sent.
    telco.write_media(IDLE_MEDIA_FRAME)
    assert box.read_media() is None
    assert telco.send_media(IDLE_MEDIA_FRAME)
    assert box.read_media() == IDLE_MEDIA_FRAME


def test_bad_media_datagrams_are_dropped(telco: SimSpanServer, span_dir: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as dchan, \
            socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as media:
        dchan.connect(str(span_dir / "dchan"))
        media.connect(str(span_dir / "media"))
        assert telco.media_connected
        media.send(bytes(100))
        media.send(bytes(MEDIA_FRAME_BYTES + 1))
        media.send(IDLE_MEDIA_FRAME)
        assert telco.read_media() == IDLE_MEDIA_FRAME
        assert telco.dropped == 2
    with pytest.raises(ValueError, match="5120"):
        telco.send_media(bytes(160))


def test_signalling_works_without_media_or_alarm_sockets(span_dir: Path) -> None:
    # What a libpri network side offers: DIR/dchan only.
    with SimSpanServer(span_dir, name="libpri-like", media=False, ctl=False) as server, \
            SimSpan(span_dir, name="span1") as span:
        assert span.state == "up" and not span.media_connected
        assert server.media_fileno() is None
        span.write_media(IDLE_MEDIA_FRAME)  # nowhere to go: dropped quietly
        assert span.read_media() is None
        span.write_dchannel(SABME)
        assert server.read_dchannel() == SABME
        assert span.alarms == NO_ALARMS


# -- link loss and reconnection ----------------------------------------------------------------------


def test_reconnect_after_the_box_closes(span_dir: Path, telco: SimSpanServer) -> None:
    first = SimSpan(span_dir, name="span1")
    first.write_dchannel(SABME)
    assert telco.read_dchannel() == SABME
    first.close()
    assert first.state == "down"
    with pytest.raises(SpanError, match=r"span telco D-channel at .*/dchan: box connection closed"):
        telco.read_dchannel()
    assert telco.state == "down" and telco.alarms.los
    assert telco.read_dchannel() is None
    with pytest.raises(SpanError, match="no box connected"):
        telco.write_dchannel(UA)
    with pytest.raises(SpanError, match="no box connected"):
        telco.reopen()

    with SimSpan(span_dir, name="span1") as second:
        telco.reopen()
        assert telco.state == "up" and telco.media_connected
        assert_line_carries(second, telco)


def test_reconnect_after_the_server_restarts(span_dir: Path) -> None:
    server = SimSpanServer(span_dir, name="telco")
    span = SimSpan(span_dir, name="span1")
    assert server.connected
    fd_before = span.dchannel_fileno()
    server.close()
    with pytest.raises(SpanError, match=r"span span1 D-channel at .*/dchan: connection closed by the peer"):
        span.read_dchannel()
    assert span.state == "down" and span.alarms.los
    assert span.read_dchannel() is None and span.read_media() is None
    with pytest.raises(SpanError, match="span span1 is down"):
        span.write_dchannel(SABME)
    with pytest.raises(SpanError) as refused:
        span.reopen()
    assert str(refused.value) == (f"connecting span span1 D-channel at {span_dir}/dchan: "
                                  "No such file or directory")

    with SimSpanServer(span_dir, name="telco") as restarted, span:
        span.reopen()
        assert span.state == "up" and span.dchannel_fileno() == fd_before
        assert_line_carries(span, restarted)


def test_box_that_starts_before_the_telco_comes_up_down(span_dir: Path) -> None:
    with SimSpan(span_dir, name="span1") as span:  # no exception: reopen() later
        assert span.state == "down" and span.alarms.los
        with pytest.raises(SpanError, match="No such file or directory"):
            span.write_dchannel(SABME)
        with SimSpanServer(span_dir) as server:
            span.reopen()
            assert span.state == "up" and server.connected


def test_a_second_box_is_refused(span_dir: Path, box: SimSpan, telco: SimSpanServer) -> None:
    with SimSpan(span_dir, name="intruder") as other:
        assert telco.read_dchannel() is None  # accepts and refuses the newcomer
        with pytest.raises(SpanError, match="closed by the peer"):
            other.read_dchannel()
    box.write_dchannel(SABME)
    assert telco.read_dchannel() == SABME


def test_filenos_stay_the_same_across_a_reconnect_for_asyncio(span_dir: Path) -> None:
    async def scenario() -> list[bytes]:
        loop = asyncio.get_running_loop()
        got: list[bytes] = []
        arrived = asyncio.Event()
        server = SimSpanServer(span_dir)
        span = SimSpan(span_dir, name="span1")

        def on_dchannel() -> None:
            try:
                while (frame := span.read_dchannel()) is not None:
                    got.append(frame)
                    arrived.set()
            except SpanError:
                arrived.set()

        loop.add_reader(span.dchannel_fileno(), on_dchannel)  # registered once, never again
        server.write_dchannel(UA)
        await asyncio.wait_for(arrived.wait(), 5)
        arrived.clear()
        server.close()
        await asyncio.wait_for(arrived.wait(), 5)  # the loss wakes the reader too
        arrived.clear()
        server = SimSpanServer(span_dir)
        span.reopen()
        server.write_dchannel(I_FRAME)
        await asyncio.wait_for(arrived.wait(), 5)
        loop.remove_reader(span.dchannel_fileno())
        span.close()
        server.close()
        return got

    assert asyncio.run(scenario()) == [UA, I_FRAME]


def test_server_wakes_its_reader_when_a_box_connects(span_dir: Path, telco: SimSpanServer) -> None:
    import select

    assert select.select([telco.dchannel_fileno()], [], [], 0)[0] == []
    with SimSpan(span_dir) as span:
        assert select.select([telco.dchannel_fileno()], [], [], 1)[0] == [telco.dchannel_fileno()]
        span.write_dchannel(SABME)
        assert telco.read_dchannel() == SABME


# -- alarms -----------------------------------------------------------------------------------------


def test_alarms_signalled_by_the_network(span_dir: Path, box: SimSpan, telco: SimSpanServer) -> None:
    telco.send_alarms(["ais"])
    assert box.alarms == SpanAlarms(ais=True) and box.alarms.blue
    assert box.state == "alarm"
    # AIS: the line carries nothing in either direction.
    telco.write_dchannel(UA)
    box.write_dchannel(SABME)
    assert box.read_dchannel() is None and telco.read_dchannel() is None
    assert not telco.send_media(IDLE_MEDIA_FRAME)

    telco.send_alarms(SpanAlarms(rai=True))  # yellow: signalling still works
    assert box.state == "alarm" and box.alarms.yellow and not box.alarms.signal_lost
    telco.write_dchannel(UA)
    assert box.read_dchannel() == UA

    with SimSpan(span_dir, name="late") as _:
        pass  # a box that comes and goes meanwhile disturbs nothing
    box.close()
    with SimSpan(span_dir, name="span1") as again:  # a reconnecting box learns the alarms
        assert telco.connected
        assert again.alarms == SpanAlarms(rai=True)
        telco.send_alarms([])
        assert again.state == "up" and again.alarms == NO_ALARMS


def test_bad_alarm_datagrams_are_dropped(span_dir: Path) -> None:
    span_dir.mkdir(parents=True)
    listeners = []
    for leaf in ("dchan", "ctl"):
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listener.bind(str(span_dir / leaf))
        listener.listen(1)
        listeners.append(listener)
    with SimSpan(span_dir, name="span1") as span:
        _dchan, _ = listeners[0].accept()
        ctl, _ = listeners[1].accept()
        for junk in (b"{", b"[]", b'{"alarms": ["smoke"]}', b"\xff\xfe"):
            ctl.send(junk)
        ctl.send(b'{"alarms": ["los", "lof"]}')
        assert span.alarms == SpanAlarms(los=True, lof=True) and span.alarms.red
        assert span.read_dchannel() is None
        _dchan.close()
        ctl.close()
    for listener in listeners:
        listener.close()


# -- the interface pieces ----------------------------------------------------------------------------


def test_media_frame_helpers() -> None:
    frame = MediaFrame()
    assert bytes(frame) == IDLE_MEDIA_FRAME and len(IDLE_MEDIA_FRAME) == 32 * 160
    frame[5] = audio(1)
    assert bytes(frame)[5 * 160:6 * 160] == audio(1)
    assert MediaFrame(bytes(frame)) == frame
    frame.clear(5)
    assert frame == MediaFrame()
    for bad_slot in (0, 16):
        with pytest.raises(ValueError, match="carries no audio"):
            frame[bad_slot] = audio(0)
    with pytest.raises(ValueError, match="0-31"):
        frame[32] = audio(0)
    with pytest.raises(ValueError, match="160"):
        frame[1] = b"\x00"
    with pytest.raises(ValueError, match="5120"):
        timeslot_audio(b"\x00" * 10, 1)
    assert timeslot_audio(IDLE_MEDIA_FRAME, 16) == bytes([0xD5]) * 160  # readable, if unused


def test_span_alarms_value() -> None:
    assert not NO_ALARMS and str(NO_ALARMS) == "none"
    both = SpanAlarms.from_names(["los", "rai"])
    assert both.names == ("los", "rai") and str(both) == "los+rai"
    assert both.red and both.yellow and not both.blue and both.signal_lost
    with pytest.raises(ValueError, match="unknown span alarm"):
        SpanAlarms.from_names(["fire"])
    with pytest.raises(ValueError, match="list of names"):
        SpanAlarms.from_names("ais")


def test_span_url_parsing() -> None:
    assert parse_span_url("sim:///run/anxin/telco/span1/") == ("sim", "/run/anxin/telco/span1")
    assert parse_span_url("dahdi://1") == ("dahdi", "1")
    assert parse_span_url("dahdi://span/2") == ("dahdi", "2")
    for bad in ("sim://relative", "sim:///", "dahdi://0", "dahdi://x", "/dev/dahdi", "tcp://h:1"):
        with pytest.raises(ValueError, match="span URL"):
            parse_span_url(bad)


def test_open_span_dispatch(span_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_span(f"sim://{span_dir}", name="span1") as span:
        assert isinstance(span, SimSpan) and span.name == "span1" and span.url == f"sim://{span_dir}"
    made: list[tuple[str, str]] = []

    class FakeDahdiSpan:
        def __init__(self, url: str, *, name: str = "") -> None:
            made.append((url, name))

    from drivers.e1_card.dahdi import parse_dahdi_span_url

    monkeypatch.setitem(sys.modules, "drivers.e1_card.dahdi",
                        types.SimpleNamespace(DahdiSpan=FakeDahdiSpan,
                                              parse_dahdi_span_url=parse_dahdi_span_url))
    assert isinstance(open_span("dahdi://1", name="span1"), FakeDahdiSpan)
    assert made == [("dahdi://1", "span1")]
    with pytest.raises(ValueError):
        open_span("serial:///dev/ttyS0")


def test_closed_and_misused_spans_say_so(span_dir: Path, telco: SimSpanServer) -> None:
    span = SimSpan(span_dir, name="span1")
    span.close()
    span.close()  # idempotent
    with pytest.raises(SpanError, match="span span1 is closed"):
        span.read_dchannel()
    with pytest.raises(ValueError, match="longer than"):
        SimSpan(Path("/tmp") / ("x" * 120))
    assert "SimSpanServer" in repr(telco) and "telco" in repr(telco)
