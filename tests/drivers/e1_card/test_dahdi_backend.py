"""The DAHDI span and FXS backends against a fake kernel.

No DAHDI card exists in this environment: every test here drives `DahdiSpan` and
`DahdiFxsPort` through `fake_dahdi.FakeDahdi`, which simulates dahdi-base.c behind the
`DeviceIO` seam with its own, independent copy of the ioctl numbers and struct layouts
(so a wrong request code or struct size in the driver makes the fake refuse the call).
What this cannot prove is that a real card behaves like the fake; that needs a box.
"""

from __future__ import annotations

import ctypes
import errno
import os
import termios

import pytest
from fake_dahdi import (
    ALARM_BLUE,
    ALARM_LFA,
    ALARM_LOS,
    ALARM_NOTOPEN,
    ALARM_RED,
    ALARM_YELLOW,
    EV_ABORT,
    EV_OVERRUN,
    EV_PULSEDIGIT,
    FakeDahdi,
    fcs16,
)

from drivers.e1_card import dahdi_ioctl as kernel
from drivers.e1_card.dahdi import DahdiFxsPort, DahdiSpan, DahdiSpanConfig, parse_dahdi_span_url, span_alarms
from drivers.e1_card.errors import SpanError
from drivers.e1_card.fxs import Audio, Digit, Flash, HookOff, HookOn
from drivers.e1_card.span import SpanAlarms

pytestmark = pytest.mark.timeout(60)

SABME = bytes([0x00, 0x01, 0x7F])  # SAPI 0, TEI 0, SABME with P
IDLE = bytes([0xD5]) * 160


def e1_system() -> FakeDahdi:
    """An analog card (channels 1-4) registered before the E1 (span 2, channels 5-35)."""
    fake = FakeDahdi()
    fake.add_analog_span(1, 4)
    fake.add_e1_span(2)
    return fake


def open_span(fake: FakeDahdi, url: str = "dahdi://2") -> DahdiSpan:
    return DahdiSpan(url, io=fake)


# -- the ABI ------------------------------------------------------------------------------------


def _ioc(direction: int, nr: int, size: int) -> int:
    return direction << 30 | size << 16 | 0xDA << 8 | nr


# Sizes counted by hand from user.h: dahdi_params is 12 ints, char[40], 11 ints and a
# __u32; the packed dahdi_spaninfo is 4+20+40+7*4+5*4+7*4+4*40+2*4+6; bufferinfo 6 ints.
PARAMS_SIZE, SPANINFO_SIZE, BUFINFO_SIZE, INT = 136, 314, 24, 4
W, R = 1, 2
EXPECTED_REQUESTS = {
    "DAHDI_GET_BLOCKSIZE": (R, 1, INT),
    "DAHDI_SET_BLOCKSIZE": (W, 1, INT),
    "DAHDI_GET_PARAMS": (R | W, 5, PARAMS_SIZE),
    "DAHDI_SET_PARAMS": (W, 5, PARAMS_SIZE),
    "DAHDI_HOOK": (W, 7, INT),
    "DAHDI_GETEVENT": (R, 8, INT),
    "DAHDI_SPANSTAT": (R | W, 10, SPANINFO_SIZE),
    "DAHDI_SENDTONE": (W, 21, INT),
    "DAHDI_GET_BUFINFO": (R, 27, BUFINFO_SIZE),
    "DAHDI_SET_BUFINFO": (W, 27, BUFINFO_SIZE),
    "DAHDI_SPECIFY": (W, 38, INT),
    "DAHDI_SETLAW": (W, 39, INT),
    "DAHDI_TONEDETECT": (W, 91, INT),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_REQUESTS))
def test_request_codes_follow_the_ioc_formula(name: str) -> None:
    assert getattr(kernel, name) == _ioc(*EXPECTED_REQUESTS[name])


def test_well_known_codes_and_struct_layouts() -> None:
    assert kernel.DAHDI_SPECIFY == 0x4004DA26
    assert kernel.DAHDI_GETEVENT == 0x8004DA08
    assert ctypes.sizeof(kernel.DahdiParams) == PARAMS_SIZE
    assert ctypes.sizeof(kernel.DahdiSpanInfo) == SPANINFO_SIZE
    assert ctypes.sizeof(kernel.DahdiBufferInfo) == BUFINFO_SIZE
    assert kernel.DahdiParams.name.offset == 48 and kernel.DahdiParams.chan_alarms.offset == 132
    assert kernel.DahdiSpanInfo.alarms.offset == 64 and kernel.DahdiSpanInfo.spantype.offset == 308


def test_the_fake_refuses_a_wrong_request_or_buffer() -> None:
    """The point of the fake: a driver bug in the ABI cannot pass silently."""
    fake = e1_system()
    fd = fake.open("/dev/dahdi/ctl", os.O_RDWR)
    with pytest.raises(OSError) as wrong_code:
        fake.ioctl(fd, _ioc(R | W, 5, PARAMS_SIZE - 4), bytearray(PARAMS_SIZE - 4))
    assert wrong_code.value.errno == errno.ENOTTY
    with pytest.raises(OSError) as short_buffer:
        fake.ioctl(fd, kernel.DAHDI_GET_PARAMS, bytearray(PARAMS_SIZE - 4))
    assert short_buffer.value.errno == errno.EFAULT
    with pytest.raises(ValueError, match="DahdiParams is 136 bytes"):
        kernel.ioctl_struct(fake, fd, kernel.DAHDI_SPANSTAT, kernel.DahdiParams())


def test_real_device_io_passes_a_mutable_buffer_to_the_kernel() -> None:
    io = kernel.DeviceIO()
    rfd, wfd = os.pipe()
    try:
        io.write(wfd, b"abc")
        buf = bytearray(4)
        io.ioctl(rfd, termios.FIONREAD, buf)
        assert int.from_bytes(buf, "little") == 3
        assert io.read(rfd, 10) == b"abc"
    finally:
        os.close(rfd)
        os.close(wfd)


# -- URLs and the alarm mapping ------------------------------------------------------------------


def test_span_url_options() -> None:
    assert parse_dahdi_span_url("dahdi://1") == DahdiSpanConfig(1)
    config = parse_dahdi_span_url("dahdi://span/2?dchan=47&bchannels=1-3,17")
    assert config == DahdiSpanConfig(2, 47, (1, 2, 3, 17))
    assert parse_dahdi_span_url("dahdi://1?bchannels=none").timeslots == ()


@pytest.mark.parametrize("url", ["dahdi://0", "dahdi://x", "dahdi://1?foo=1", "dahdi://1?bchannels=16",
                                 "dahdi://1?bchannels=1-40", "dahdi://1?dchan=abc", "sim:///tmp/x"])
def test_bad_span_urls_are_refused_before_any_io(url: str) -> None:
    fake = e1_system()
    with pytest.raises(ValueError):
        DahdiSpan(url, io=fake)
    assert fake.ioctls == []


@pytest.mark.parametrize(("bits", "expected"), [
    (0, SpanAlarms()),
    (ALARM_RED, SpanAlarms(los=True)),  # no detail bit: reported as loss of signal
    (ALARM_RED | ALARM_LOS, SpanAlarms(los=True)),
    (ALARM_RED | ALARM_LFA, SpanAlarms(lof=True)),
    (ALARM_YELLOW, SpanAlarms(rai=True)),
    (ALARM_BLUE, SpanAlarms(ais=True)),
    (ALARM_NOTOPEN, SpanAlarms(los=True)),
    (ALARM_RED | ALARM_YELLOW, SpanAlarms(los=True, rai=True)),
])
def test_alarm_mapping(bits: int, expected: SpanAlarms) -> None:
    assert span_alarms(bits) == expected


# -- opening a span ------------------------------------------------------------------------------


def test_open_finds_the_dchannel_and_configures_every_channel() -> None:
    fake = e1_system()
    with open_span(fake) as span:
        assert (span.dchannel, span.basechan, span.state) == (20, 5, "up")
        assert span.timeslots == tuple(ts for ts in range(1, 32) if ts != 16)
        dchan = fake.channel(20)
        assert [name for chan, name in fake.ioctls if chan == 20][:4] == [
            "SPECIFY", "GET_PARAMS", "SPANSTAT", "SET_BUFINFO"]
        assert dchan.bufinfo == (0, 0, 32, 1024)  # immediate policies, as chan_dahdi
        for ts in (1, 15, 17, 31):
            bchan = fake.channel(5 + ts - 1)
            assert (bchan.blocksize, bchan.law, bchan.open_fd is not None) == (160, 2, True)
        assert span.media_fileno() == fake.channel(5).open_fd
    assert fake.open_fds() == []


def test_explicit_dchan_skips_the_scan() -> None:
    fake = e1_system()
    with open_span(fake, "dahdi://2?dchan=20&bchannels=none") as span:
        assert span.dchannel == 20 and span.basechan == 5
        assert all(chan is not None for chan, _ in fake.ioctls)  # nothing asked on /dev/dahdi/ctl
        assert span.media_fileno() is None and span.read_media() is None


def test_missing_device_is_a_clear_span_error() -> None:
    fake = FakeDahdi(present=False)
    with pytest.raises(SpanError) as with_dchan:
        open_span(fake, "dahdi://1?dchan=16")
    assert str(with_dchan.value) == (
        "opening span 1 D-channel: [Errno 2] No such file or directory: '/dev/dahdi/channel'")
    with pytest.raises(SpanError, match=r"^finding span 1 D-channel: \[Errno 2\] .*'/dev/dahdi/ctl'$"):
        open_span(fake, "dahdi://1")


@pytest.mark.parametrize(("url", "message"), [
    ("dahdi://3", "DAHDI has no span 3"),
    ("dahdi://1", "span 1 has 4 channels, an E1 has 31"),
    ("dahdi://2?dchan=21", "channel 21 is not in HDLC-FCS mode"),
    ("dahdi://2?dchan=999", r"\[Errno 6\]"),
])
def test_misconfigured_spans_are_refused_without_leaking_fds(url: str, message: str) -> None:
    fake = e1_system()
    with pytest.raises(SpanError, match=message):
        open_span(fake, url)
    assert fake.open_fds() == []


def test_a_busy_bchannel_names_the_timeslot() -> None:
    fake = e1_system()
    squatter = fake.open("/dev/dahdi/channel", os.O_RDWR)
    kernel.ioctl_int(fake, squatter, kernel.DAHDI_SPECIFY, 9)  # timeslot 5 held by someone else
    with pytest.raises(SpanError, match=r"^opening span 2 B-channel 5 \(DAHDI channel 9\): \[Errno 16\]"):
        open_span(fake)
    assert fake.open_fds() == [squatter]


# -- the D-channel ---------------------------------------------------------------------------


def test_dchannel_frames_lose_their_fcs_on_the_way_in() -> None:
    fake = e1_system()
    with open_span(fake, "dahdi://2?bchannels=none") as span:
        assert span.read_dchannel() is None
        fake.line_frame(20, SABME)
        fake.line_frame(20, b"\x02\x01\x01\x00")
        assert span.read_dchannel() == SABME
        assert span.read_dchannel() == b"\x02\x01\x01\x00"
        assert span.read_dchannel() is None


def test_dchannel_frames_go_out_with_the_fcs_dahdi_computes() -> None:
    fake = e1_system()
    with open_span(fake, "dahdi://2?bchannels=none") as span:
        span.write_dchannel(SABME)
        assert fake.channel(20).written == [SABME + b"\x00\x00"]
        assert fake.channel(20).line_tx == [SABME + fcs16(SABME)]
        with pytest.raises(ValueError):
            span.write_dchannel(b"\x00")


def test_hdlc_errors_are_counted_and_the_next_frame_still_arrives() -> None:
    fake = e1_system()
    with open_span(fake, "dahdi://2?bchannels=none") as span:
        fake.line_frame(20, SABME, good_fcs=False)
        fake.line_event(20, EV_ABORT)
        fake.line_event(20, EV_OVERRUN)
        fake.line_frame(20, SABME)
        fake.channel(20).rx.appendleft(b"\x12\x34")  # an FCS and nothing else
        assert span.read_dchannel() == SABME
        counters = span.counters
        assert [counters[name] for name in ("bad_fcs", "aborts", "overruns", "runts")] == [1, 1, 1, 1]


def test_alarms_surface_through_elast_getevent_and_spanstat() -> None:
    fake = e1_system()
    with open_span(fake, "dahdi://2?bchannels=none") as span:
        fake.set_alarms(2, ALARM_RED | ALARM_LOS)
        fake.line_frame(20, SABME)  # queued behind the event: read() says ELAST first
        assert span.read_dchannel() == SABME
        assert span.alarms == SpanAlarms(los=True) and span.state == "alarm"
        assert span.dahdi_alarms == ALARM_RED | ALARM_LOS
        assert [name for _, name in fake.ioctls[-2:]] == ["GETEVENT", "SPANSTAT"]
        fake.set_alarms(2, ALARM_YELLOW)
        span.write_dchannel(SABME)  # write() also fails with ELAST until the event is taken
        assert span.alarms == SpanAlarms(rai=True)
        assert fake.channel(20).written == [SABME + b"\x00\x00"]
        fake.set_alarms(2, 0)
        assert span.read_dchannel() is None
        assert span.state == "up" and not span.alarms


def test_alarms_at_open_are_read_from_spanstat() -> None:
    fake = e1_system()
    fake.spans[2].alarms = ALARM_BLUE
    with open_span(fake, "dahdi://2?bchannels=none") as span:
        assert span.alarms == SpanAlarms(ais=True) and span.state == "alarm"


def test_card_removed_takes_the_span_down_until_reopen() -> None:
    fake = e1_system()
    span = open_span(fake, "dahdi://2?bchannels=1")
    dchan_fd, media_fd = span.dchannel_fileno(), span.media_fileno()
    fake.unplug(2)
    with pytest.raises(SpanError, match=r"^reading span 2 D-channel: \[Errno 19\] No such device"):
        span.read_dchannel()
    assert span.state == "down" and span.alarms.los
    assert span.read_dchannel() is None and span.read_media() is None
    with pytest.raises(SpanError, match="the span is down"):
        span.write_dchannel(SABME)
    fake.present = False
    with pytest.raises(SpanError, match="No such file or directory"):
        span.reopen()
    fake.present = True
    span.reopen()
    assert span.state == "up"
    assert (span.dchannel_fileno(), span.media_fileno()) == (dchan_fd, media_fd)  # stable numbers
    fake.line_frame(20, SABME)
    assert span.read_dchannel() == SABME
    span.close()
    assert fake.open_fds() == []


def test_removed_event_takes_the_span_down() -> None:
    fake = e1_system()
    with open_span(fake, "dahdi://2?bchannels=none") as span:
        fake.line_event(20, 20)  # DAHDI_EVENT_REMOVED
        with pytest.raises(SpanError, match="removed"):
            span.read_dchannel()
        assert span.state == "down"


# -- B-channel media -----------------------------------------------------------------------------


def test_media_is_assembled_from_the_opened_channels() -> None:
    fake = e1_system()
    with open_span(fake, "dahdi://2?bchannels=1,17") as span:
        assert span.read_media() is None  # nothing from the clock channel yet
        fake.feed_audio(5, b"\x11" * 160)  # timeslot 1
        fake.feed_audio(21, b"\x22" * 160)  # timeslot 17
        buf = span.read_media()
        assert buf is not None and len(buf) == 5120
        assert buf[160:320] == b"\x11" * 160 and buf[17 * 160:18 * 160] == b"\x22" * 160
        assert buf[2 * 160:3 * 160] == IDLE and buf[16 * 160:17 * 160] == IDLE
        fake.feed_audio(5, b"\x33" * 160)  # timeslot 17 late this tick
        buf = span.read_media()
        assert buf is not None and buf[17 * 160:18 * 160] == IDLE
        assert span.counters["media_rx_missed"] == 1


def test_media_is_split_onto_the_opened_channels() -> None:
    fake = e1_system()
    with open_span(fake, "dahdi://2?bchannels=1,17") as span:
        out = b"".join(bytes([ts]) * 160 for ts in range(32))
        span.write_media(out)
        assert fake.channel(5).written == [b"\x01" * 160]
        assert fake.channel(21).written == [b"\x11" * 160]
        assert fake.channel(6).written == [] and fake.channel(6).open_fd is None
        with pytest.raises(ValueError):
            span.write_media(b"\xd5" * 160)


def test_alarm_copies_on_bchannels_do_not_stop_media() -> None:
    fake = e1_system()
    with open_span(fake, "dahdi://2?bchannels=1") as span:
        fake.set_alarms(2, ALARM_RED)
        fake.feed_audio(5, b"\x44" * 160)
        buf = span.read_media()
        assert buf is not None and buf[160:320] == b"\x44" * 160
        span.write_media(bytes(5120))
        assert fake.channel(5).written == [bytes(160)]


# -- FXS -----------------------------------------------------------------------------------------


def fxs_system(*, hardware_dtmf: bool = False) -> FakeDahdi:
    fake = FakeDahdi()
    fake.add_analog_span(1, 4)
    fake.channel(2).tonedetect_supported = hardware_dtmf
    return fake


def test_fxs_opens_an_fxoks_channel_for_alaw_20ms_blocks() -> None:
    fake = fxs_system()
    with DahdiFxsPort("dahdi://chan/2", io=fake) as port:
        chan = fake.channel(2)
        assert (chan.blocksize, chan.law, port.fileno()) == (160, 2, chan.open_fd)
        assert not port.hardware_dtmf and not port.off_hook
        assert port.read_event() is None
    assert fake.open_fds() == []


def test_fxs_hook_events() -> None:
    fake = fxs_system()
    with DahdiFxsPort("dahdi://chan/2", io=fake) as port:
        fake.hook(2, "off")
        fake.feed_audio(2, b"\x55" * 160)
        assert port.read_event() == HookOff()
        assert port.off_hook
        assert port.read_event() == Audio(b"\x55" * 160)
        fake.hook(2, "flash")
        fake.hook(2, "on")
        fake.line_event(2, EV_PULSEDIGIT | ord("7"))  # a rotary dial
        assert [port.read_event() for _ in range(4)] == [Flash(), HookOn(), Digit("7"), None]
        assert not port.off_hook


def test_fxs_hardware_dtmf_when_the_card_has_a_detector() -> None:
    fake = fxs_system(hardware_dtmf=True)
    with DahdiFxsPort("dahdi://chan/2", io=fake) as port:
        assert port.hardware_dtmf and fake.channel(2).tonedetect == 3  # on + mute
        fake.dtmf(2, "5")
        fake.dtmf(2, "#")
        assert [port.read_event() for _ in range(3)] == [Digit("5"), Digit("#"), None]


def test_fxs_ringing_uses_dahdi_hook() -> None:
    fake = fxs_system()
    with DahdiFxsPort("dahdi://chan/2", io=fake) as port:
        chan = fake.channel(2)
        port.ring(True)
        assert chan.hooks == [kernel.DAHDI_RING] and chan.ringing and port.ringing
        port.ring(False)
        assert chan.hooks == [kernel.DAHDI_RING, kernel.DAHDI_RINGOFF] and not chan.ringing
        port.ring(False)
        assert len(chan.hooks) == 2  # not ringing: nothing to stop
        port.ring(True)
        fake.hook(2, "off")  # answered: the card trips the ringer
        assert port.read_event() == HookOff() and not port.ringing
        port.ring(False)
        assert chan.hooks == [5, 6, 5]  # no RINGOFF on an answered line


def test_fxs_tones_come_from_the_tone_zone_and_hold_back_audio() -> None:
    fake = fxs_system()
    with DahdiFxsPort("dahdi://chan/2", io=fake) as port:
        chan = fake.channel(2)
        port.tone("busy")
        port.write_audio(IDLE)  # would cancel the kernel's tone
        assert (chan.tones, chan.tone, chan.written) == ([1], 1, [])
        port.tone("none")
        port.write_audio(b"\x01" * 160)
        assert chan.tones == [1, -1] and chan.written == [b"\x01" * 160]
        with pytest.raises(ValueError):
            port.tone("siren")
        with pytest.raises(ValueError):
            port.write_audio(b"\x01" * 10)
        chan.zone_loaded = False
        with pytest.raises(SpanError, match="loadzone = cn"):
            port.tone("dial")


def test_fxs_errors_name_the_channel() -> None:
    with pytest.raises(SpanError, match=r"^opening FXS channel 3: \[Errno 2\] No such file or directory"):
        DahdiFxsPort("dahdi://chan/3", io=FakeDahdi(present=False))
    fake = e1_system()
    with pytest.raises(SpanError, match="is not FXO"):
        DahdiFxsPort("dahdi://chan/6", io=fake)  # an E1 B-channel
    assert fake.open_fds() == []
    with pytest.raises(ValueError):
        DahdiFxsPort("dahdi://2", io=fake)
