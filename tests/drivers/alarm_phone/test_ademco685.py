"""Ademco 685 computer output stream parser (Contact ID mode).

Frame layouts from the MX8000 manual (685 mode, fig. 8-1 to 8-4) and the
VisorALARM Plus 2U manual (Ademco 685 emulation, heartbeat).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.alarm_phone import surgard
from drivers.alarm_phone.ademco685 import (
    ACK,
    CR,
    LF,
    MAX_FRAME,
    NAK,
    Ademco685Parser,
    Damaged,
    Heartbeat,
    Signal,
    Unrecognised,
    format_heartbeat,
    format_signal,
)
from drivers.alarm_phone.contact_id import ContactIdMessage
from drivers.alarm_phone.surgard import SurGardEvent

# 411UDAC manual printout "11 7777 E110 00 C001" (general fire alarm, input 1) as the
# 685 sends it to the computer.
FIRE = b"\n11 7777 18 E110 00 C001\r"
FIRE_MSG = ContactIdMessage("7777", "18", 1, "110", "00", "001")
# Restore of a smoke detector on input 2, same source.
SMOKE_RESTORE = b"\n11 7777 18 R111 00 C002\r"
# Opening by user 3 (the 'U' kind).
OPENING = b"\n12 1234 18 E401 01 U003\r"
HEARTBEAT = b"\n11 OKAY @ \r"


def events(data: bytes, parser: Ademco685Parser | None = None) -> list[SurGardEvent]:
    parser = parser or Ademco685Parser()
    parser.receive_data(data)
    out = []
    while (event := parser.next_event()) is not None:
        out.append(event)
    return out


def only(data: bytes) -> SurGardEvent:
    got = events(data)
    assert len(got) == 1, got
    return got[0]


def test_constants_and_shared_event_classes() -> None:
    assert (ACK, NAK, LF, CR, MAX_FRAME) == (b"\x06", b"\x15", b"\n", b"\r", 256)
    # alarmd handles both receivers with one set of classes.
    assert Signal is surgard.Signal
    assert Heartbeat is surgard.Heartbeat
    assert Damaged is surgard.Damaged
    assert Unrecognised is surgard.Unrecognised


# -- Contact ID lines -------------------------------------------------------------------------


def test_fire_alarm_example() -> None:
    ev = only(FIRE)
    assert isinstance(ev, Signal)
    assert ev.raw == FIRE
    assert (ev.receiver, ev.line) == ("1", "1")
    assert ev.message == FIRE_MSG
    assert ev.message.qualifier_name == "new"


def test_restore_example() -> None:
    ev = only(SMOKE_RESTORE)
    assert isinstance(ev, Signal)
    assert ev.message == ContactIdMessage("7777", "18", 3, "111", "00", "002")


def test_user_kind_and_receiver_group() -> None:
    ev = only(OPENING)
    assert isinstance(ev, Signal)
    assert (ev.receiver, ev.line) == ("1", "2")
    assert ev.message == ContactIdMessage("1234", "18", 1, "401", "01", "003")


@pytest.mark.parametrize(
    ("q", "qualifier"),
    [(b"E", 1), (b"R", 3), (b"P", 6), (b"1", 1), (b"3", 3), (b"6", 6), (b"e", 1), (b"r", 3)],
)
def test_qualifier_letters_and_digits(q: bytes, qualifier: int) -> None:
    ev = only(b"\n11 5678 18 " + q + b"301 00 C000\r")
    assert isinstance(ev, Signal)
    assert ev.message.qualifier == qualifier


@pytest.mark.parametrize(
    "frame",
    [
        b"\n11 7777 18 E110 00 C001 \r",  # MX8000 figure: a space before CR
        b"\n11 7777 18 E110 00 001\r",  # no C/U character
        b"\n11 7777 18 E110 00 001 \r",
        b"\n11 7777 18 E110 00 c001\r",
    ],
)
def test_documented_variants(frame: bytes) -> None:
    ev = only(frame)
    assert isinstance(ev, Signal)
    assert ev.raw == frame
    assert ev.message == FIRE_MSG


def test_zone_without_kind_character_is_ambiguous_with_a_lost_digit() -> None:
    # Accepting lines without the C/U character means "C01" reads as zone C01: a
    # lost zone digit behind a 'C' cannot be told from that variant.
    ev = only(b"\n11 7777 18 E110 00 C01\r")
    assert isinstance(ev, Signal)
    assert ev.message.zone == "C01"


def test_message_type_98_kept() -> None:
    ev = only(b"\n11 1234 98 E110 00 C001\r")
    assert isinstance(ev, Signal)
    assert ev.message.message_type == "98"


def test_hex_account_and_fields_upper_cased() -> None:
    ev = only(b"\n1A bcdf 18 E13b 0c Cf01\r")
    assert isinstance(ev, Signal)
    assert (ev.receiver, ev.line) == ("1", "A")
    assert ev.message == ContactIdMessage("BCDF", "18", 1, "13B", "0C", "F01")


# -- heartbeat --------------------------------------------------------------------------------


@pytest.mark.parametrize("frame", [HEARTBEAT, b"\n11 OKAY @\r", b"\n11 @\r", b"\n37 @ \r"])
def test_heartbeat_variants(frame: bytes) -> None:
    ev = only(frame)
    assert isinstance(ev, Heartbeat)
    assert ev.raw == frame
    assert ev.receiver + ev.line == frame[1:3].decode()


# -- framing ----------------------------------------------------------------------------------


def test_split_byte_by_byte() -> None:
    parser = Ademco685Parser()
    got = []
    for b in FIRE + HEARTBEAT:
        parser.receive_data(bytes([b]))
        while (ev := parser.next_event()) is not None:
            got.append(ev)
    assert [e.raw for e in got] == [FIRE, HEARTBEAT]
    assert isinstance(got[0], Signal) and isinstance(got[1], Heartbeat)


def test_nothing_before_cr() -> None:
    parser = Ademco685Parser()
    parser.receive_data(FIRE[:-1])
    assert parser.next_event() is None
    assert parser.next_event() is None
    parser.receive_data(CR)
    ev = parser.next_event()
    assert isinstance(ev, Signal) and ev.raw == FIRE
    assert parser.next_event() is None


def test_several_frames_in_one_read() -> None:
    got = events(FIRE + SMOKE_RESTORE + HEARTBEAT + OPENING)
    assert [e.raw for e in got] == [FIRE, SMOKE_RESTORE, HEARTBEAT, OPENING]
    assert [type(e) for e in got] == [Signal, Signal, Heartbeat, Signal]


def test_noise_between_frames_dropped() -> None:
    noise = b"\x00\x00\r\r\xff\xfe\x06\x15   \x00"
    got = events(noise + FIRE + noise + b"\n\r\n  \r\n\x00\r" + SMOKE_RESTORE + noise)
    assert [e.raw for e in got] == [FIRE, SMOKE_RESTORE]


def test_cr_lf_pairs_between_frames() -> None:
    # Receivers that end a line with CR LF: the LF opens the next line early.
    got = events(FIRE + LF + SMOKE_RESTORE + LF)
    assert [e.raw for e in got] == [FIRE, SMOKE_RESTORE]


def test_torn_frame_dropped_when_resent() -> None:
    # The CR of the first transmission was lost; the receiver resends the line.
    got = events(FIRE[:15] + FIRE)
    assert [e.raw for e in got] == [FIRE]


def test_printable_garbage_before_lf_dropped() -> None:
    got = events(b"xyz garbage" + FIRE)
    assert [e.raw for e in got] == [FIRE]


# -- damaged vs unrecognised ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"\n11 7777 18 E1\x0010 00 C001\r", "non-printable byte 0x00"),
        (b"\n11 7777 18 E110 00 C0\xff1\r", "non-printable byte 0xFF"),
        (b"\n11 777 18 E110 00 C001\r", "malformed"),  # a lost account digit
        (b"\n11 7777 18 E11 00 C001\r", "malformed"),
        (b"\n11 7777 18 E110 00 U01\r", "malformed"),
        (b"\n11 7777 18 E110 00 C0001\r", "malformed"),
        (b"\n11 7777 18 E110 00\r", "characters"),  # zone lost: wrong length
        (b"\n11 7777 18 E110 00 C001 9999\r", "characters"),
        (b"\n11 77G7 18 E110 00 C001\r", "malformed"),  # G is not a hex digit
        (b"\n11 7777 18 E110 0X C001\r", "malformed"),
        (b"\n11 7777 18 E110 00 X001\r", "malformed"),
        (b"\n11 7777 18  E110 00 C001\r", "malformed"),
        (b"\n11 7777 18 E110 00 C001  \r", "characters"),
        (b"\n11 7777 18 E1 00 C001\r", "characters"),
        (b"\n11 7777 18 E1\r", "characters"),
        (b"\n11 77\r", "fragment"),
        (b"11 7777 18 E110 00 C001\r", "without its LF header"),
    ],
)
def test_damaged(frame: bytes, reason: str) -> None:
    ev = only(frame)
    assert isinstance(ev, Damaged), ev
    assert ev.raw == frame
    assert reason in ev.reason


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"\n13 8531 1555 5555 7\r", "High Speed"),  # 685 manual printer example
        (b"\n18 8531 1815 5555 7\r", "High Speed"),  # "18" here is no Contact ID
        (b"\n12 0865 2\r", "3x1/4x1"),  # 685 manual display example
        (b"\n12 1234 E  3\r", "4x2"),
        (b"\n11 SOMETHING ELSE ENTIRELY\r", "not an Ademco 685 Contact ID line"),
        (b"\n11 7777 18E110 00 C001\r", "not an Ademco 685"),
    ],
)
def test_unrecognised(frame: bytes, reason: str) -> None:
    ev = only(frame)
    assert isinstance(ev, Unrecognised), ev
    assert ev.raw == frame
    assert reason in ev.reason


def test_damaged_does_not_disturb_next_frame() -> None:
    got = events(b"\n11 7777 18 E1\x0010 00 C001\r" + FIRE)
    assert [type(e) for e in got] == [Damaged, Signal]
    assert got[1].raw == FIRE


# -- overlong lines ---------------------------------------------------------------------------


def test_cap_overflow_reported_once_then_resync() -> None:
    parser = Ademco685Parser()
    runaway = LF + b"A" * 600
    got = events(runaway + CR + FIRE, parser)
    assert [type(e) for e in got] == [Damaged, Signal]
    assert got[0].raw == runaway[:MAX_FRAME]
    assert "no CR terminator within 256 bytes" in got[0].reason
    assert got[1].raw == FIRE


def test_cap_overflow_resync_on_lf_without_cr() -> None:
    got = events(LF + b"B" * 300 + FIRE)
    assert [type(e) for e in got] == [Damaged, Signal]
    assert got[1].raw == FIRE


def test_line_of_exactly_the_cap_is_classified() -> None:
    frame = LF + b"11 " + b"X" * (MAX_FRAME - 5) + CR
    assert len(frame) == MAX_FRAME
    ev = only(frame)
    assert isinstance(ev, Unrecognised)
    assert ev.raw == frame


def test_headless_overflow() -> None:
    got = events(b"Z" * 300 + CR + FIRE)
    assert [type(e) for e in got] == [Damaged, Signal]
    assert len(got[0].raw) == MAX_FRAME


def test_custom_cap_and_bad_cap() -> None:
    got = events(LF + b"C" * 40, Ademco685Parser(max_frame=32))
    assert len(got) == 1 and isinstance(got[0], Damaged)
    assert len(got[0].raw) == 32
    with pytest.raises(ValueError, match="at least 32"):
        Ademco685Parser(max_frame=31)


# -- formatting -------------------------------------------------------------------------------


def test_format_signal_exact_bytes() -> None:
    assert format_signal("11", FIRE_MSG) == FIRE
    assert format_signal("12", ContactIdMessage("1234", "18", 1, "401", "01", "003")) == OPENING
    assert format_signal("11", FIRE_MSG, trailing_space=True) == b"\n11 7777 18 E110 00 C001 \r"
    assert format_signal("11", FIRE_MSG, digit_qualifier=True) == b"\n11 7777 18 1110 00 C001\r"
    assert format_signal("11", FIRE_MSG, kind="") == b"\n11 7777 18 E110 00 001\r"
    assert format_signal("11", FIRE_MSG, kind="U") == b"\n11 7777 18 E110 00 U001\r"
    prev = ContactIdMessage("7777", "98", 6, "110", "00", "001")
    assert format_signal("11", prev) == b"\n11 7777 98 P110 00 C001\r"


def test_format_signal_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="4-digit account"):
        format_signal("11", ContactIdMessage("1234567890", "18", 1, "110"))
    with pytest.raises(ValueError, match="group"):
        format_signal("1", FIRE_MSG)
    with pytest.raises(ValueError, match="group"):
        format_signal("1 ", FIRE_MSG)
    with pytest.raises(ValueError, match="kind"):
        format_signal("11", FIRE_MSG, kind="Z")


def test_format_heartbeat() -> None:
    assert format_heartbeat() == HEARTBEAT
    assert format_heartbeat("37") == b"\n37 OKAY @ \r"
    with pytest.raises(ValueError, match="group"):
        format_heartbeat("123")


# -- properties -------------------------------------------------------------------------------

_HEX = "0123456789ABCDEF"
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

messages = st.builds(
    ContactIdMessage,
    account=st.text(_HEX, min_size=4, max_size=4),
    message_type=st.sampled_from(["18", "98"]),
    qualifier=st.sampled_from([1, 3, 6]),
    event_code=st.text(_HEX, min_size=3, max_size=3),
    partition=st.text(_HEX, min_size=2, max_size=2),
    zone=st.text(_HEX, min_size=3, max_size=3),
)
groups = st.text(_ALNUM, min_size=2, max_size=2)


def _chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False)]


def _feed(chunks: list[bytes]) -> list[SurGardEvent]:
    parser = Ademco685Parser()
    got = []
    for chunk in chunks:
        parser.receive_data(chunk)
        while (ev := parser.next_event()) is not None:
            got.append(ev)
    return got


@given(
    st.lists(
        st.tuples(
            groups,
            messages,
            st.sampled_from([None, "", "C", "U"]),
            st.booleans(),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
    ),
    st.lists(st.integers(min_value=0, max_value=10_000), max_size=20),
)
def test_round_trip_random_messages_and_chunkings(
    items: list[tuple[str, ContactIdMessage, str | None, bool, bool]], cuts: list[int]
) -> None:
    frames = [format_signal(g, m, kind=k, digit_qualifier=d, trailing_space=t) for g, m, k, d, t in items]
    got = _feed(_chunked(b"".join(frames), cuts))
    assert [e.raw for e in got] == frames
    for ev, (group, message, kind, digit, space) in zip(got, items, strict=True):
        assert isinstance(ev, Signal)
        assert ev.receiver + ev.line == group
        assert ev.message == message
        again = format_signal(
            ev.receiver + ev.line, ev.message, kind=kind, digit_qualifier=digit, trailing_space=space
        )
        assert again == ev.raw


@given(groups, st.lists(st.integers(min_value=0, max_value=100), max_size=5))
def test_heartbeat_round_trip(group: str, cuts: list[int]) -> None:
    frame = format_heartbeat(group)
    got = _feed(_chunked(frame * 2, cuts))
    assert [type(e) for e in got] == [Heartbeat, Heartbeat]
    assert all(e.raw == frame and e.receiver + e.line == group for e in got)


@settings(max_examples=300)
@given(st.binary(max_size=2000), st.lists(st.integers(min_value=0, max_value=5000), max_size=10))
def test_arbitrary_bytes_never_raise_or_hang(data: bytes, cuts: list[int]) -> None:
    got = _feed(_chunked(data, cuts))
    # Every event consumes at least one byte (its CR, or max_frame bytes).
    assert len(got) <= len(data)
    for ev in got:
        assert isinstance(ev, Signal | Heartbeat | Unrecognised | Damaged)
        assert 1 <= len(ev.raw) <= MAX_FRAME
        assert ev.raw in data


@settings(max_examples=300)
@given(
    st.binary(max_size=600),
    groups,
    messages,
    st.lists(st.integers(min_value=0, max_value=2000), max_size=10),
)
def test_frame_after_arbitrary_noise_is_delivered(
    noise: bytes, group: str, message: ContactIdMessage, cuts: list[int]
) -> None:
    frame = format_signal(group, message)
    got = _feed(_chunked(noise + frame, cuts))
    assert got, "the frame was lost"
    last = got[-1]
    assert isinstance(last, Signal)
    assert last.raw == frame
    assert last.message == message


@given(
    st.lists(st.sampled_from([FIRE, SMOKE_RESTORE, HEARTBEAT, b"\x00", b"\r", b"\xff", b"\n"]), max_size=30)
)
def test_good_frames_survive_interleaved_noise(parts: list[bytes]) -> None:
    got = _feed([b"".join(parts)])
    expected = [p for p in parts if p in (FIRE, SMOKE_RESTORE, HEARTBEAT)]
    # A lone LF just before a frame only opens a line the frame's own LF reopens.
    assert [e.raw for e in got] == expected
