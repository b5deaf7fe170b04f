"""Sur-Gard automation output stream parser, from the SG/MLR2 manuals' frame layouts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.alarm_phone.contact_id import ContactIdMessage
from drivers.alarm_phone.sia_codes import SIA_TO_CONTACT_ID, contact_id_for
from drivers.alarm_phone.surgard import (
    ACK,
    DC4,
    NAK,
    Damaged,
    Heartbeat,
    RepeatFilter,
    Signal,
    SurGardEvent,
    SurGardParser,
    Unrecognised,
    format_heartbeat,
    format_sia_signal,
    format_signal,
)

MLR2 = b"5011 185678E10100001" + DC4  # the brief's MLR2 example
DURESS = b"5011 181234E12101001" + DC4  # MLR2 manual example (duress, group 01, zone 001)
SYS3 = b"501100 181234E12101001" + DC4  # SG automation manual example, line 100
HEARTBEAT = b"1011" + b" " * 11 + b"@" + b" " * 4 + DC4
HEARTBEAT3 = b"101000" + b" " * 11 + b"@" + b" " * 4 + DC4


def events(data: bytes, parser: SurGardParser | None = None) -> list[SurGardEvent]:
    parser = parser or SurGardParser()
    parser.receive_data(data)
    out = []
    while (event := parser.next_event()) is not None:
        out.append(event)
    return out


def only(data: bytes) -> SurGardEvent:
    got = events(data)
    assert len(got) == 1, got
    return got[0]


def test_constants() -> None:
    assert (ACK, NAK, DC4) == (b"\x06", b"\x15", b"\x14")


# -- Contact ID frames ---------------------------------------------------------------------


def test_mlr2_contact_id() -> None:
    ev = only(MLR2)
    assert isinstance(ev, Signal)
    assert ev.raw == MLR2
    assert (ev.receiver, ev.line) == ("01", "1")
    assert ev.message == ContactIdMessage("5678", "18", 1, "101", "00", "001")


def test_manual_duress_example() -> None:
    ev = only(DURESS)
    assert isinstance(ev, Signal)
    assert ev.message.event_code == "121"
    assert ev.message.partition == "01"
    assert ev.message.zone == "001"


def test_system_iii_three_digit_line() -> None:
    ev = only(SYS3)
    assert isinstance(ev, Signal)
    assert (ev.receiver, ev.line) == ("01", "100")
    assert ev.message.account == "1234"
    assert ev.message.event_code == "121"


@pytest.mark.parametrize(("letter", "qualifier"), [(b"E", 1), (b"R", 3), (b"P", 6)])
def test_qualifier_letters(letter: bytes, qualifier: int) -> None:
    ev = only(b"5011 185678" + letter + b"30100000" + DC4)
    assert isinstance(ev, Signal)
    assert ev.message.qualifier == qualifier


@pytest.mark.parametrize(("digit", "qualifier"), [(b"1", 1), (b"3", 3), (b"6", 6)])
def test_qualifier_digits_accepted(digit: bytes, qualifier: int) -> None:
    ev = only(b"5011 185678" + digit + b"30100000" + DC4)
    assert isinstance(ev, Signal)
    assert ev.message.qualifier == qualifier


def test_message_type_98() -> None:
    ev = only(b"5011 985678E10100001" + DC4)
    assert isinstance(ev, Signal)
    assert ev.message.message_type == "98"
    assert ev.message.qualifier_name == "new"


def test_hex_account_and_fields() -> None:
    ev = only(b"5011 18BCDFR3BCEDFC1" + DC4)
    assert isinstance(ev, Signal)
    assert ev.message.account == "BCDF"
    assert ev.message.event_code == "3BC"
    assert ev.message.partition == "ED"
    assert ev.message.zone == "FC1"


def test_unknown_event_code_is_still_a_signal() -> None:
    ev = only(b"5011 185678E9F900001" + DC4)
    assert isinstance(ev, Signal)
    assert ev.message.event is None


def test_ten_digit_account() -> None:
    raw = b"Q01100 581234567890E10100001" + DC4
    ev = only(raw)
    assert isinstance(ev, Signal)
    assert ev.message.account == "1234567890"
    assert ev.message.message_type == "18"  # '58' names the layout, not a DC-05 type
    assert (ev.receiver, ev.line) == ("01", "100")


def test_ten_digit_account_space_padded() -> None:
    ev = only(b"Q01100 58    567890R60200003" + DC4)
    assert isinstance(ev, Signal)
    assert ev.message.account == "567890"
    assert ev.message.qualifier == 3


def test_ten_digit_account_one_digit_line() -> None:
    ev = only(b"Q011 581234567890E10100001" + DC4)
    assert isinstance(ev, Signal)
    assert ev.line == "1"


# -- SIA frames (protocol 'S') ------------------------------------------------------------

SIA_MLR2 = b"S011[#1234|Nri1BA01]" + DC4  # MLR2 manual "SIA protocol 2" standard transmission
SIA_SYS3 = b"S01100[#1234|Nri1/BA201]" + DC4  # RRLLL header, DC-09 style '/' after ri


def test_sia_manual_example() -> None:
    ev = only(SIA_MLR2)
    assert isinstance(ev, Signal)
    assert ev.raw == SIA_MLR2
    assert (ev.receiver, ev.line) == ("01", "1")
    assert ev.message == ContactIdMessage("1234", "18", 1, "130", "00", "001")


def test_sia_three_digit_line_and_slash_after_area() -> None:
    ev = only(SIA_SYS3)
    assert isinstance(ev, Signal)
    assert (ev.receiver, ev.line) == ("01", "100")
    assert ev.message == contact_id_for("BA", "1234", "201")
    assert ev.message.zone == "201"


@pytest.mark.parametrize(
    ("data", "code", "qualifier", "zone"),
    [
        (b"NQA001", "101", 1, "001"),  # emergency alarm, new
        (b"NMR5", "100", 3, "005"),  # medical restoral
        (b"Nri2/AT", "301", 1, "000"),  # AC trouble, no zone
        (b"NAR0", "301", 3, "000"),
        (b"NFA0012", "110", 1, "012"),
        (b"NBA1234", "130", 1, "000"),  # a 4-digit zone: Contact ID has no room for it
        (b"NBA0000", "130", 1, "000"),
        (b"Nid22/CL", "401", 3, "022"),  # closing by user 22: the user goes in the zone field
        (b"NOP7", "401", 1, "007"),
        (b"NRP", "602", 1, "000"),
    ],
)
def test_sia_maps_to_contact_id(data: bytes, code: str, qualifier: int, zone: str) -> None:
    ev = only(b"S022[#AB12|" + data + b"]" + DC4)
    assert isinstance(ev, Signal), ev
    assert (ev.receiver, ev.line) == ("02", "2")
    assert ev.message == ContactIdMessage("AB12", "18", qualifier, code, "00", zone)


def test_sia_time_and_date_modifiers_are_skipped() -> None:
    ev = only(b"S011[#1234|Nda04-22-94ti16:02:15/ri01/PA31]" + DC4)
    assert isinstance(ev, Signal)
    assert ev.message == contact_id_for("PA", "1234", "31")


def test_sia_listen_in() -> None:
    for raw in (b"S011[#1234|Lri1BA01]" + DC4, b"S011[#1234|Nri1BA01/L90]" + DC4):
        ev = only(raw)
        assert isinstance(ev, Signal), raw
        assert ev.message.event_code == "130"


def test_sia_accounts() -> None:
    ev = only(b"S011[#123456|NBA01]" + DC4)
    assert isinstance(ev, Signal) and ev.message.account == "123456"
    ev = only(b"S011[#12|NBA01]" + DC4)
    assert isinstance(ev, Signal) and ev.message.account == "0012"  # padded by contact_id_for
    ev = only(b"S011[#1234567890123456|NBA01]" + DC4)  # 16 digits: the manual's maximum
    assert isinstance(ev, Unrecognised) and "account" in ev.reason
    ev = only(b"S011[#12G4|NBA01]" + DC4)
    assert isinstance(ev, Unrecognised) and "account" in ev.reason


def test_sia_unmapped_code_is_unrecognised() -> None:
    raw = b"S011[#1234|Nri1UX17]" + DC4
    ev = only(raw)
    assert isinstance(ev, Unrecognised)
    assert ev.raw == raw
    assert "'UX'" in ev.reason


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        (b"S011[#1234|NBA01/BA02]", ("BA01", "BA02")),
        (b"S011[#1234|NBA01/02]", ("BA01", "BA02")),  # a bare number repeats the code
        (b"S011[#1234|Nri1BA01FA02]", ("BA01", "FA02")),
    ],
)
def test_sia_several_events_are_unrecognised(raw: bytes, names: tuple[str, ...]) -> None:
    ev = only(raw + DC4)
    assert isinstance(ev, Unrecognised)
    assert "2 events" in ev.reason
    assert all(name in ev.reason for name in names)


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"S011[#1234|OBA01]", "'O'"),  # old event block
        (b"S011[1234|NBA01]", "account"),  # no account block
        (b"S011[NBA01]", "account"),
        (b"S011[#1234|]", "no data"),
        (b"S011[#1234|N]", "SIA"),
        (b"S011[#1234|Nri1]", "no event code"),
        (b"S011[#1234|NBA12345]", "BA12345"),  # zone too long to place
        (b"S011[#1234|NBA01^Front door^]", "BA01"),  # text we do not read
        (b"S011[#1234|NBA01//]", "BA01"),
        (b"S011[#1234|Nba01]", "SIA"),
        (b"S011[#1234|NBA01][X010E57.56]", "2 data blocks (event codes: BA01)"),
    ],
)
def test_sia_well_bracketed_but_undecodable_is_unrecognised(raw: bytes, needle: str) -> None:
    ev = only(raw + DC4)
    assert isinstance(ev, Unrecognised), ev
    assert needle in ev.reason
    assert "SIA" in ev.reason


@pytest.mark.parametrize(
    "raw",
    [
        b"S011[#1234|NBA01",  # truncated: no closing bracket
        b"S011#1234|NBA01]",  # lost '['
        b"S011[#1234|N[BA01]",  # unbalanced
        b"S011[#1234|NBA01]]",
        b"S011[#1234|NBA01]7",  # junk after the block
        b"S01[#1234|NBA01]",  # line number lost
        b"S011000[#1234|NBA01]",  # header too long
        b"S011 #1234 NBA01",  # no block at all
        b"011[#1234|NBA01]",  # protocol character lost
        b"S011[#12\x8034|NBA01]",
    ],
)
def test_sia_damage_is_damaged(raw: bytes) -> None:
    assert isinstance(only(raw + DC4), Damaged)


def test_sia_trailing_spaces_are_tolerated() -> None:
    assert isinstance(only(b"S011[#1234|NBA01]  " + DC4), Signal)


def test_sia_byte_by_byte() -> None:
    unmapped = b"S011[#1234|NUX17]" + DC4
    stream = SIA_MLR2 + HEARTBEAT + unmapped + SIA_SYS3
    parser = SurGardParser()
    got: list[SurGardEvent] = []
    for i in range(len(stream)):
        parser.receive_data(stream[i : i + 1])
        while (ev := parser.next_event()) is not None:
            got.append(ev)
            assert ev.raw == stream[i + 1 - len(ev.raw) : i + 1]
    assert [type(e) for e in got] == [Signal, Heartbeat, Unrecognised, Signal]
    assert [e.raw for e in got] == [SIA_MLR2, HEARTBEAT, unmapped, SIA_SYS3]


def test_sia_garbage_before_a_valid_frame_is_dropped() -> None:
    got = events(b"S011[#12" + SIA_MLR2)  # a torn SIA frame, then a complete one
    assert [e.raw for e in got] == [SIA_MLR2]


def test_format_sia_signal() -> None:
    assert format_sia_signal("01", "1", "1234", "BA", "01", area="1") == SIA_MLR2
    assert format_sia_signal("01", "100", "1234", "BA", "201") == b"S01100[#1234|NBA201]" + DC4
    assert format_sia_signal("01", "1", "1234", "AT", three_digit_line=True) == (
        b"S01001[#1234|NAT]" + DC4
    )
    for bad in (
        dict(account="12345678901234567"),
        dict(account="12G4"),
        dict(code="ba"),
        dict(code="BAA"),
        dict(zone="12345"),
        dict(zone="1a"),
        dict(area="x"),
        dict(receiver="1"),
    ):
        args = dict(receiver="01", line="1", account="1234", code="BA", zone="1") | bad
        area = args.pop("area", None)
        with pytest.raises(ValueError):
            format_sia_signal(**args, area=area)


SIA_MAPPED = sorted(SIA_TO_CONTACT_ID)
SIA_HEX = "0123456789ABCDEF"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@given(
    receiver=st.text("0123456789", min_size=2, max_size=2),
    line=st.text("0123456789", min_size=1, max_size=3),
    three=st.booleans(),
    account=st.text(SIA_HEX, min_size=4, max_size=10),
    code=st.one_of(st.sampled_from(SIA_MAPPED), st.text(UPPER, min_size=2, max_size=2)),
    zone=st.one_of(st.none(), st.text("0123456789", min_size=1, max_size=4)),
    area=st.one_of(st.none(), st.text("0123456789", min_size=1, max_size=3)),
    chunk=st.integers(min_value=1, max_value=8),
)
def test_sia_round_trip(
    receiver: str,
    line: str,
    three: bool,
    account: str,
    code: str,
    zone: str | None,
    area: str | None,
    chunk: int,
) -> None:
    raw = format_sia_signal(receiver, line, account, code, zone, area=area, three_digit_line=three)
    stream = b"\r\n" + raw + format_heartbeat(receiver, line)
    parser = SurGardParser()
    got: list[SurGardEvent] = []
    for i in range(0, len(stream), chunk):
        parser.receive_data(stream[i : i + chunk])
        while (ev := parser.next_event()) is not None:
            got.append(ev)
    assert len(got) == 2
    sig, hb = got
    assert isinstance(hb, Heartbeat)
    assert sig.raw == raw
    expected = contact_id_for(code, account, zone and (zone.lstrip("0") or "0"))
    if expected is None:
        assert code not in SIA_TO_CONTACT_ID
        assert isinstance(sig, Unrecognised) and repr(code) in sig.reason
    else:
        assert isinstance(sig, Signal)
        assert sig.message == expected
        assert sig.receiver == receiver
        assert sig.line == (line.rjust(3, "0") if three else line)


# -- heartbeats ----------------------------------------------------------------------------


def test_heartbeat() -> None:
    ev = only(HEARTBEAT)
    assert isinstance(ev, Heartbeat)
    assert (ev.receiver, ev.line, ev.raw) == ("01", "1", HEARTBEAT)


def test_heartbeat_three_digit_line() -> None:
    ev = only(HEARTBEAT3)
    assert isinstance(ev, Heartbeat)
    assert (ev.receiver, ev.line) == ("01", "000")


def test_format_heartbeat_matches_contract() -> None:
    assert format_heartbeat() == HEARTBEAT
    assert format_heartbeat("01", "000") == HEARTBEAT3
    assert format_heartbeat("07", "2") == b"1072" + b" " * 11 + b"@    " + DC4


# -- classification: damaged vs unrecognised ------------------------------------------------


def test_sia_manual_example_with_two_events_is_unrecognised() -> None:
    # SG automation output protocol example: closing by user 22, then panic zone 31.
    raw = b"S01100[#1234|Nda04-22-94ti16:02:15/id22/CL/PA31]" + DC4
    ev = only(raw)
    assert isinstance(ev, Unrecognised)
    assert ev.raw == raw
    assert "SIA" in ev.reason
    assert "2 events" in ev.reason and "CL" in ev.reason and "PA31" in ev.reason


def test_unknown_protocol_digit_is_unrecognised() -> None:
    raw = b"6011      1234010001" + DC4  # BFSK
    ev = only(raw)
    assert isinstance(ev, Unrecognised)
    assert "'6'" in ev.reason


def test_protocol_1_signal_is_unrecognised() -> None:
    raw = b"1011    1234  A 001" + b" " + DC4  # 20 characters, not a heartbeat
    assert len(raw) == 21
    assert isinstance(only(raw), Unrecognised)


def test_non_printable_inside_is_damaged() -> None:
    raw = b"5011 18\x80678E10100001" + DC4
    ev = only(raw)
    assert isinstance(ev, Damaged)
    assert ev.raw == raw
    assert "0x80" in ev.reason


def test_truncated_contact_id_is_damaged() -> None:
    ev = only(b"5011 185678E101001" + DC4)
    assert isinstance(ev, Damaged)
    assert "characters" in ev.reason


def test_overlong_contact_id_is_damaged() -> None:
    assert isinstance(only(b"5011 185678E1010000011" + DC4 + b""), Damaged)
    assert isinstance(only(b"Q01100 5812345678901E10100001" + DC4), Damaged)


def test_bad_qualifier_is_damaged() -> None:
    assert isinstance(only(b"5011 185678X10100001" + DC4), Damaged)


def test_bad_hex_digit_is_damaged() -> None:
    assert isinstance(only(b"5011 185678E1G100001" + DC4), Damaged)


def test_missing_space_is_damaged() -> None:
    assert isinstance(only(b"5011_185678E10100001" + DC4), Damaged)


def test_bad_format_identifier_is_damaged() -> None:
    ev = only(b"5011 175678E10100001" + DC4)
    assert isinstance(ev, Damaged)
    assert "'17'" in ev.reason


def test_head_lost_contact_id_is_damaged_not_unrecognised() -> None:
    # The first byte was lost: '0' would look like a receiver-internal message, but
    # the Contact ID body behind it says what it was; a resend fixes it.
    assert isinstance(only(b"011 185678E10100001" + DC4), Damaged)
    assert isinstance(only(b"11 185678E10100001" + DC4), Damaged)


def test_damaged_heartbeat_length() -> None:
    assert isinstance(only(b"1011     @" + DC4), Damaged)


# -- stream behaviour ------------------------------------------------------------------------


def test_byte_by_byte() -> None:
    parser = SurGardParser()
    stream = MLR2 + HEARTBEAT + SYS3
    got: list[SurGardEvent] = []
    for i in range(len(stream)):
        parser.receive_data(stream[i : i + 1])
        while (ev := parser.next_event()) is not None:
            got.append(ev)
            assert ev.raw == stream[i + 1 - len(ev.raw) : i + 1]  # delivered on its DC4
    assert [type(e) for e in got] == [Signal, Heartbeat, Signal]
    assert [e.raw for e in got] == [MLR2, HEARTBEAT, SYS3]


def test_need_more_data_returns_none() -> None:
    parser = SurGardParser()
    parser.receive_data(MLR2[:-1])
    assert parser.next_event() is None
    parser.receive_data(DC4)
    assert isinstance(parser.next_event(), Signal)
    assert parser.next_event() is None


def test_several_frames_in_one_read() -> None:
    got = events(MLR2 + DURESS + HEARTBEAT + MLR2)
    assert [e.raw for e in got] == [MLR2, DURESS, HEARTBEAT, MLR2]  # repeats are delivered


def test_noise_between_frames_is_dropped() -> None:
    noise = b"\x00\xff\r\n \x06\x15\x14\x00"
    got = events(noise + MLR2 + b"\r\n" + noise + HEARTBEAT + b"\xff\xff")
    assert [e.raw for e in got] == [MLR2, HEARTBEAT]


def test_garbage_before_a_valid_frame_is_dropped() -> None:
    # A frame whose DC4 was lost, followed by a complete one: deliver the good one.
    got = events(b"5011 18567" + MLR2)
    assert len(got) == 1 and isinstance(got[0], Signal)
    assert got[0].raw == MLR2
    got = events(b"50\x801" + MLR2)
    assert [e.raw for e in got] == [MLR2]


def test_buffer_cap() -> None:
    parser = SurGardParser(max_frame=64)
    parser.receive_data(b"X" * 63)
    assert parser.next_event() is None
    parser.receive_data(b"X" * 100)  # still no DC4
    ev = parser.next_event()
    assert isinstance(ev, Damaged)
    assert "DC4" in ev.reason
    assert len(ev.raw) == 64
    assert parser.next_event() is None  # the rest of the runaway is not reported again
    parser.receive_data(b"XXX" + DC4 + MLR2)  # resync: the runaway's tail is dropped
    got = events(b"", parser)
    assert [e.raw for e in got] == [MLR2]


def test_buffer_cap_keeps_a_valid_frame_at_the_runaway_tail() -> None:
    parser = SurGardParser(max_frame=64)
    got = events(b"Y" * 70 + MLR2, parser)
    assert [type(e) for e in got] == [Damaged, Signal]
    assert got[1].raw == MLR2


def test_memory_stays_bounded() -> None:
    parser = SurGardParser(max_frame=64)
    for _ in range(200):
        parser.receive_data(b"Z" * 50)
        while parser.next_event() is not None:
            pass
        assert len(parser._buf) < 64


def test_max_frame_argument_checked() -> None:
    with pytest.raises(ValueError):
        SurGardParser(max_frame=4)


# -- formatting round trips ----------------------------------------------------------------


def test_format_signal_examples() -> None:
    msg = ContactIdMessage("5678", "18", 1, "101", "00", "001")
    assert format_signal("01", "1", msg) == MLR2
    duress = ContactIdMessage("1234", "18", 1, "121", "01", "001")
    assert format_signal("01", "100", duress, three_digit_line=True) == SYS3
    assert format_signal("01", "1", duress, three_digit_line=True) == (
        b"501001 181234E12101001" + DC4
    )


def test_format_signal_ten_digit() -> None:
    msg = ContactIdMessage("1234567890", "18", 3, "301", "00", "000")
    assert format_signal("01", "100", msg) == b"Q01100 581234567890R30100000" + DC4
    short = ContactIdMessage("123456", "18", 1, "101")
    raw = format_signal("02", "3", short)
    assert raw == b"Q023 58    123456E10100000" + DC4
    ev = only(raw)
    assert isinstance(ev, Signal) and ev.message == short


def test_format_checks_arguments() -> None:
    msg = ContactIdMessage("5678", "18", 1, "101")
    with pytest.raises(ValueError):
        format_signal("1", "1", msg)
    with pytest.raises(ValueError):
        format_signal("01", "1234", msg)


HEX = "0123456789BCDEF"


@given(
    receiver=st.text("0123456789", min_size=2, max_size=2),
    line=st.text("0123456789", min_size=1, max_size=3),
    three=st.booleans(),
    account=st.one_of(st.text(HEX, min_size=4, max_size=4), st.text(HEX, min_size=5, max_size=10)),
    mt=st.sampled_from(["18", "98"]),
    q=st.sampled_from([1, 3, 6]),
    code=st.text(HEX, min_size=3, max_size=3),
    gg=st.text(HEX, min_size=2, max_size=2),
    ccc=st.text(HEX, min_size=3, max_size=3),
    chunk=st.integers(min_value=1, max_value=8),
)
def test_round_trip(
    receiver: str,
    line: str,
    three: bool,
    account: str,
    mt: str,
    q: int,
    code: str,
    gg: str,
    ccc: str,
    chunk: int,
) -> None:
    if len(account) > 4:
        mt = "18"  # the 10-digit layout has no room for 98
    msg = ContactIdMessage(account, mt, q, code, gg, ccc)
    raw = format_signal(receiver, line, msg, three_digit_line=three)
    stream = b"\r\n" + raw + format_heartbeat(receiver, line)
    parser = SurGardParser()
    got: list[SurGardEvent] = []
    for i in range(0, len(stream), chunk):
        parser.receive_data(stream[i : i + chunk])
        while (ev := parser.next_event()) is not None:
            got.append(ev)
    assert len(got) == 2
    sig, hb = got
    assert isinstance(sig, Signal) and isinstance(hb, Heartbeat)
    assert sig.raw == raw
    assert sig.message == msg
    assert sig.receiver == receiver
    assert sig.line == (line.rjust(3, "0") if three else line)
    assert (hb.receiver, hb.line) == (receiver, line)


# -- RepeatFilter ----------------------------------------------------------------------------


def test_repeat_filter_exact_repeat_within_window() -> None:
    f = RepeatFilter()
    assert f.window == 30.0
    assert f.is_repeat(MLR2, 100.0) is False
    assert f.is_repeat(MLR2, 104.0) is True  # resent after a lost ACK
    assert f.is_repeat(MLR2, 108.0) is True


def test_repeat_filter_window_expires() -> None:
    f = RepeatFilter(window=30.0)
    assert not f.is_repeat(MLR2, 0.0)
    assert not f.is_repeat(MLR2, 30.5)


def test_repeat_filter_window_slides_with_each_retry() -> None:
    f = RepeatFilter(window=10.0)
    assert not f.is_repeat(MLR2, 0.0)
    assert f.is_repeat(MLR2, 8.0)
    assert f.is_repeat(MLR2, 16.0)  # 8 s after the last sighting


def test_repeat_filter_only_previous_frame_counts() -> None:
    f = RepeatFilter()
    assert not f.is_repeat(MLR2, 0.0)
    assert not f.is_repeat(DURESS, 1.0)
    assert not f.is_repeat(MLR2, 2.0)  # not the immediately previous frame
    assert not f.is_repeat(MLR2[:-1] + b"\x14\x14", 3.0)  # not byte-identical


def test_repeat_filter_reset() -> None:
    f = RepeatFilter()
    f.is_repeat(MLR2, 0.0)
    f.reset()
    assert not f.is_repeat(MLR2, 1.0)
    with pytest.raises(ValueError):
        RepeatFilter(window=-1)


def test_short_fragments_are_damaged() -> None:
    for scrap in (b"x", b"5011", b"ABCDEFG"):
        ev = only(scrap + DC4)
        assert isinstance(ev, Damaged), scrap
        assert "fragment" in ev.reason
