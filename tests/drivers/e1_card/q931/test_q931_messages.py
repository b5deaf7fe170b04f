"""Message codec: exact octets, round trips, Q.931 5.8 error causes, shifts, and tshark's view."""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.e1_card.errors import RemoteProtocolError
from drivers.e1_card.q931.ies import (
    ALAW,
    PUBLIC_LOCAL,
    SPEECH,
    BearerCapability,
    CalledPartyNumber,
    CallingPartyNumber,
    CallState,
    Cause,
    ChannelIdentification,
    Display,
    Facility,
    Location,
    Notification,
    Progress,
    ProgressIndicator,
    RestartIndicator,
    SendingComplete,
    TypeOfNumber,
    UnknownIE,
)
from drivers.e1_card.q931.messages import (
    DUMMY_CALL_REF,
    MANDATORY,
    InvalidMessage,
    Message,
    MessageType,
    decode_message,
    encode_message,
    mandatory_ies,
)

MT = MessageType


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


SETUP = Message(
    MessageType.SETUP,
    call_ref=1,
    from_originator=True,
    ies=(
        BearerCapability(SPEECH, layer1=ALAW),
        ChannelIdentification(timeslots=(5,), exclusive=True),
        CallingPartyNumber("13800138000", ton=TypeOfNumber.NATIONAL),
        CalledPartyNumber("96101"),
        SendingComplete(),
    ),
)
SETUP_OCTETS = h(
    "08 02 00 01 05"  # PD, CR length 2, flag 0 + CR 1, SETUP
    "04 03 80 90 a3"  # bearer capability: speech, circuit 64k, G.711 A-law
    "18 03 a9 83 85"  # channel id: PRI, exclusive, as indicated, B-units, timeslot 5
    "6c 0d 21 80 3133383030313338303030"  # calling: national/ISDN, allowed/not screened
    "70 06 81 3936313031"  # called: unknown/ISDN, "96101"
    "a1"  # sending complete
)


@pytest.mark.parametrize(
    ("msg", "octets"),
    [
        (SETUP, SETUP_OCTETS),
        (Message(MessageType.CONNECT, 1, False), h("08 02 80 01 07")),
        (Message(MessageType.CONNECT_ACKNOWLEDGE, 1, True), h("08 02 00 01 0f")),
        (Message(MT.DISCONNECT, 0x1234, False, (Cause(16, PUBLIC_LOCAL),)), h("08 02 92 34 45 08 02 82 90")),
        (Message(MessageType.RESTART, 0, True, (RestartIndicator(7),)), h("08 02 00 00 46 79 01 87")),
        (Message(MT.RESTART_ACKNOWLEDGE, 0, False, (RestartIndicator(7),)), h("08 02 80 00 4e 79 01 87")),
        (
            Message(MessageType.RESTART, 0, True, (ChannelIdentification(timeslots=(5,), exclusive=True),
                                                   RestartIndicator(0))),
            h("08 02 00 00 46 18 03 a9 83 85 79 01 80"),
        ),
        (
            Message(MessageType.STATUS, 5, False, (Cause(101, Location.USER), CallState(10))),
            h("08 02 80 05 7d 08 02 80 e5 14 01 0a"),
        ),
        (Message(MessageType.STATUS_ENQUIRY, 0x7FFF, True), h("08 02 7f ff 75")),
        (Message(MessageType.FACILITY, DUMMY_CALL_REF, True, (Facility(b"\x91"),)), h("08 00 62 1c 01 91")),
    ],
)
def test_message_octets(msg: Message, octets: bytes) -> None:
    assert encode_message(msg) == octets
    assert decode_message(octets) == msg


def test_ies_sorted_on_encode_and_accepted_out_of_order() -> None:
    shuffled = Message(SETUP.type, 1, True, tuple(reversed(SETUP.ies)))
    assert encode_message(shuffled) == SETUP_OCTETS
    # 5.8.5.1: out of sequence IEs are accepted and kept in wire order
    backwards = h("08 02 00 01 05 70 06 81 3936313031 04 03 80 90 a3")
    msg = decode_message(backwards)
    assert [type(ie) for ie in msg.ies] == [CalledPartyNumber, BearerCapability]


def test_get_and_get_all() -> None:
    two = (ProgressIndicator(Progress.NOT_END_TO_END_ISDN, PUBLIC_LOCAL), ProgressIndicator(8, PUBLIC_LOCAL))
    msg = Message(MessageType.ALERTING, 3, False, two)
    assert msg.get(ProgressIndicator) == two[0]
    assert msg.get_all(ProgressIndicator) == two
    assert msg.get(Cause) is None and msg.get_all(Cause) == ()
    assert msg.name == "ALERTING" and Message(0x42, 1, True).name == "0x42"
    assert decode_message(encode_message(msg)) == msg  # both kept, in order


# ---------------------------------------------------------------- §5.8 error handling


@pytest.mark.parametrize(
    "octets",
    [b"", h("08"), h("08 02"), h("08 02 00 01"), h("09 02 00 01 05"), h("08 01 01 05"),
     h("08 03 00 00 01 05"), h("08 12 00 01 05"), h("02 02 00 01 05")],
)
def test_unreadable_header_is_ignored(octets: bytes) -> None:
    with pytest.raises(InvalidMessage) as info:
        decode_message(octets)
    assert info.value.cause is None
    assert info.value.call_ref is None


def test_unknown_message_type_gives_97_with_call_reference() -> None:
    with pytest.raises(InvalidMessage) as info:
        decode_message(h("08 02 80 07 25 08 02 80 90"))  # 0x25 RESUME: not on a PRI
    err = info.value
    assert isinstance(err, RemoteProtocolError)
    assert (err.cause, err.call_ref, err.from_originator, err.message_type) == (97, 7, False, 0x25)


def test_missing_mandatory_ie_gives_96() -> None:
    with pytest.raises(InvalidMessage) as info:
        decode_message(h("08 02 00 01 05 70 02 81 31"))  # SETUP without bearer capability
    assert (info.value.cause, info.value.diagnostic) == (96, b"\x04")
    assert info.value.message is not None
    assert info.value.message.get(CalledPartyNumber) == CalledPartyNumber("1")
    with pytest.raises(InvalidMessage) as info:
        decode_message(h("08 02 80 01 45"))  # DISCONNECT without cause (5.8.6.1: treat as #31)
    assert (info.value.cause, info.value.diagnostic) == (96, b"\x08")
    assert info.value.message == Message(MessageType.DISCONNECT, 1, False)
    with pytest.raises(InvalidMessage) as info:
        decode_message(h("08 02 80 01 7d 14 01 0a"))  # STATUS without cause
    assert info.value.diagnostic == b"\x08"


def test_setup_channel_id_mandatory_only_from_the_network() -> None:
    octets = h("08 02 00 01 05 04 03 80 90 a3")
    assert decode_message(octets, sender="user").get(ChannelIdentification) is None
    assert decode_message(octets).type == MessageType.SETUP
    with pytest.raises(InvalidMessage) as info:
        decode_message(octets, sender="network")
    assert (info.value.cause, info.value.diagnostic) == (96, b"\x18")
    assert mandatory_ies(MessageType.SETUP, "network") == (BearerCapability, ChannelIdentification)
    assert mandatory_ies(0x42) == ()


def test_mandatory_ie_with_bad_contents_gives_100() -> None:
    with pytest.raises(InvalidMessage) as info:
        decode_message(h("08 02 80 01 45 08 01 82"))  # cause without value octet
    assert (info.value.cause, info.value.diagnostic) == (100, b"\x08")
    with pytest.raises(InvalidMessage) as info:
        decode_message(h("08 02 00 01 46 79 01 83"))  # RESTART class 3 (reserved)
    assert (info.value.cause, info.value.diagnostic) == (100, b"\x79")


def test_bad_optional_ie_is_dropped_and_reported() -> None:
    msg = decode_message(h("08 02 00 01 05 04 03 80 90 a3 6c 03 21 80 b1 70 02 81 31"))
    assert msg.get(CallingPartyNumber) is None
    assert msg.bad_ies == (0x6C,)
    assert msg.get(CalledPartyNumber) == CalledPartyNumber("1")


def test_truncated_last_ie() -> None:
    msg = decode_message(h("08 02 80 01 01 1e 05 82 88"))  # ALERTING, progress runs past the end
    assert msg.ies == () and msg.bad_ies == (0x1E,)
    with pytest.raises(InvalidMessage) as info:
        decode_message(h("08 02 80 01 03 1e"))  # PROGRESS, mandatory IE without length octet
    assert info.value.cause == 100


def test_unrecognised_ies_kept_and_reencoded_identically() -> None:
    # Date/time 0x29 is standard (kept, recognised); 0x5F is not defined (STATUS #99).
    octets = h("08 02 80 01 07 29 05 18 05 1e 0c 1e 5f 02 aa bb")
    msg = decode_message(octets)
    assert msg.ies == (UnknownIE(0x29, h("18 05 1e 0c 1e")), UnknownIE(0x5F, h("aa bb")))
    assert msg.unrecognised_ies == (0x5F,)
    assert encode_message(msg) == octets


def test_unrecognised_comprehension_required_ie_gives_96() -> None:
    with pytest.raises(InvalidMessage) as info:
        decode_message(h("08 02 80 01 07 02 01 00"))  # id 0000 0010: comprehension required
    assert (info.value.cause, info.value.diagnostic) == (96, b"\x02")


def test_repeated_ies() -> None:
    # two called numbers: the first counts (5.8.5.2); three progress indicators: two kept
    msg = decode_message(h("08 02 80 01 01 1e 02 82 81 1e 02 82 88 1e 02 82 82 70 02 81 31 70 02 81 32"))
    assert msg.get_all(CalledPartyNumber) == (CalledPartyNumber("1"),)
    assert [p.description for p in msg.get_all(ProgressIndicator)] == [1, 8]


def test_codeset_shifts() -> None:
    # locking shift to codeset 6: every following IE is codeset 6
    locking = h("08 02 80 01 07 28 02 41 42 96 28 01 43 7f 01 00")
    msg = decode_message(locking)
    assert msg.ies == (Display("AB"), UnknownIE(0x28, b"C", 6, True), UnknownIE(0x7F, b"\x00", 6, True))
    assert encode_message(msg) == locking
    # non-locking shift to codeset 5: only the next IE; then back in codeset 0
    non_locking = h("08 02 80 01 07 9d 28 01 43 28 01 44")
    msg = decode_message(non_locking)
    assert msg.ies == (UnknownIE(0x28, b"C", 5, False), Display("D"))
    assert encode_message(msg) == h("08 02 80 01 07 28 01 44 9d 28 01 43")  # codeset 0 first
    assert decode_message(encode_message(msg)).ies == (Display("D"), UnknownIE(0x28, b"C", 5, False))
    # a shifted single-octet IE stays single-octet
    msg = decode_message(h("08 02 80 01 07 9e a1"))
    assert msg.ies == (UnknownIE(0xA1, b"", 6, False),) and msg.get(SendingComplete) is None


def test_unencodable_message() -> None:
    with pytest.raises(ValueError, match="call reference"):
        encode_message(Message(MessageType.SETUP, 0x8000, True))
    with pytest.raises(ValueError, match="message type"):
        encode_message(Message(0x80, 1, True))


def test_mandatory_table_covers_every_message_type() -> None:
    assert set(MANDATORY) == set(MessageType)
    assert MANDATORY[MessageType.DISCONNECT] == (Cause,)
    assert MANDATORY[MessageType.STATUS] == (Cause, CallState)
    assert MANDATORY[MessageType.RESTART] == (RestartIndicator,)
    assert MANDATORY[MessageType.NOTIFY] == (Notification,)
    assert MANDATORY[MessageType.CONNECT] == ()


# ---------------------------------------------------------------- round trips


NEEDED = {
    BearerCapability: BearerCapability(), Cause: Cause(16), CallState: CallState(0),
    ProgressIndicator: ProgressIndicator(8), RestartIndicator: RestartIndicator(7),
    Notification: Notification(0), Facility: Facility(b"\x91"),
    ChannelIdentification: ChannelIdentification(timeslots=(1,)),
}
TIMESLOTS = st.tuples(st.integers(1, 31)) | st.tuples(st.integers(1, 15), st.integers(17, 31))
KNOWN_IES = st.one_of(
    st.builds(ChannelIdentification, timeslots=TIMESLOTS, exclusive=st.booleans()),
    st.builds(CallingPartyNumber, st.text("0123456789", max_size=15),
              ton=st.sampled_from(list(TypeOfNumber))),
    st.builds(CalledPartyNumber, st.text("0123456789*#", max_size=15)),
    st.builds(Cause, st.integers(1, 127), st.sampled_from(list(Location)), diagnostics=st.binary(max_size=3)),
    st.builds(ProgressIndicator, st.sampled_from(list(Progress)), st.sampled_from(list(Location))),
    st.builds(Display, st.text("abc 安心", max_size=10)),
    st.builds(SendingComplete),
    st.builds(Facility, st.binary(max_size=10)),
)
# Unknown codeset-0 ids that are neither parsed classes, shifts nor "comprehension required".
UNKNOWN_CS0 = st.builds(
    UnknownIE,
    st.sampled_from([0x10, 0x20, 0x29, 0x34, 0x5F, 0x6D, 0x71, 0x74, 0x78]),
    st.binary(max_size=6),
) | st.builds(UnknownIE, st.sampled_from([0xA0, 0xB3, 0xD1]))
SHIFTED = st.builds(
    lambda ie_id, raw, codeset, locking: UnknownIE(ie_id, b"" if ie_id >= 0x80 else raw, codeset, locking),
    st.integers(0, 0xFF).filter(lambda i: not 0x90 <= i <= 0x9F),
    st.binary(max_size=6),
    st.integers(5, 7),
    st.booleans(),
)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    mtype = draw(st.sampled_from(list(MessageType)))
    required = mandatory_ies(mtype, "network")
    known = [ie for ie in draw(st.lists(KNOWN_IES, max_size=5, unique_by=type)) if type(ie) not in required]
    ies = [NEEDED[cls] for cls in required] + known + draw(st.lists(UNKNOWN_CS0, max_size=3))
    shifted = draw(st.lists(SHIFTED, max_size=3))
    ies = draw(st.permutations(ies)) + shifted
    return Message(mtype, draw(st.integers(0, 0x7FFF)), draw(st.booleans()), tuple(ies))


def _canonical(msg: Message) -> Message:
    """What survives the wire: codeset-0 IEs sorted by identifier (stable), then shifted ones."""
    cs0 = sorted((ie for ie in msg.ies if ie.codeset == 0), key=lambda ie: ie.identifier())
    return Message(msg.type, msg.call_ref, msg.from_originator, (*cs0, *(ie for ie in msg.ies if ie.codeset)))


@given(messages())
def test_messages_round_trip(msg: Message) -> None:
    octets = encode_message(msg)
    decoded = decode_message(octets, sender="network")
    assert decoded == _canonical(msg)
    assert encode_message(decoded) == octets


@given(st.binary(max_size=60) | st.binary(min_size=1, max_size=60).map(lambda tail: h("08 02 00 01") + tail))
def test_decoding_garbage_raises_only_invalid_message(data: bytes) -> None:
    """Random octets never crash the decoder, and what decodes re-encodes to a fixed point."""
    try:
        msg = decode_message(data)
    except InvalidMessage as exc:
        assert exc.cause in (None, 96, 97, 100)
        return
    normal = encode_message(msg)
    assert encode_message(decode_message(normal)) == normal


# ---------------------------------------------------------------- proven against Wireshark

TSHARK = "/usr/bin/tshark"
EXPERT_ERROR = 0x00800000  # _ws.expert.severity value of PI_ERROR
LINKTYPE_LINUX_LAPD = 177


def _write_lapd_pcap(path: Path, records: list[tuple[bool, bytes]]) -> None:
    """A tiny LINKTYPE_LINUX_LAPD writer (the real one is drivers/e1_card/pcap.py).

    Each record is (from_user, Q.931 octets), carried in an I-frame on SAPI 0 / TEI 0 and
    written as seen by the user side: the 16-byte sll-like pseudo-header has pkttype
    4 (outgoing) or 0 (incoming) and address byte 0 = 0 ("we are the user"), which is
    how Wireshark's LAPD dissector tells User->Network from Network->User.
    """
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_LINUX_LAPD))
    ns = {True: 0, False: 0}
    for seq, (from_user, l3) in enumerate(records):
        cr = 0 if from_user else 1  # Q.921: commands from the user have C/R 0, from the network 1
        address = bytes([0 << 2 | cr << 1, 0 << 1 | 1])  # SAPI 0, EA 0 ; TEI 0, EA 1
        control = bytes([ns[from_user] << 1, 0])  # I-frame N(S), N(R) 0, P 0
        ns[from_user] = (ns[from_user] + 1) % 128
        pseudo = struct.pack(">HHH8sH", 4 if from_user else 0, 0, 0, bytes(8), 0x0030)
        record = pseudo + address + control + l3
        out += struct.pack("<IIII", 1_700_000_000 + seq, 0, len(record), len(record)) + record
    path.write_bytes(out)


def _tshark(path: Path, tmp: Path, *args: str) -> str:
    env = {**os.environ, "HOME": str(tmp)}  # no personal preferences
    result = subprocess.run(
        [TSHARK, "-n", "-r", str(path), "-o", "lapd.use_gsm_sapi_values:FALSE", *args],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )
    return result.stdout


CHANNEL_3 = ChannelIdentification(timeslots=(3,), exclusive=True)
TRACE = [
    (True, SETUP),
    (False, Message(MT.CALL_PROCEEDING, 1, False, (ChannelIdentification(timeslots=(5,), exclusive=True),))),
    (False, Message(MT.ALERTING, 1, False, (ProgressIndicator(Progress.INBAND_AVAILABLE, PUBLIC_LOCAL),))),
    (False, Message(MessageType.CONNECT, 1, False, (Display("Anxin"),))),
    (True, Message(MessageType.CONNECT_ACKNOWLEDGE, 1, True)),
    (False, Message(MessageType.DISCONNECT, 1, False, (Cause(16, PUBLIC_LOCAL),))),
    (True, Message(MessageType.RELEASE, 1, True)),
    (False, Message(MessageType.RELEASE_COMPLETE, 1, False)),
    (False, Message(MessageType.RESTART, 0, True, (RestartIndicator(7),))),
    (True, Message(MessageType.RESTART_ACKNOWLEDGE, 0, False, (RestartIndicator(7),))),
    (True, Message(MT.RESTART, 0, True, (CHANNEL_3, RestartIndicator(0)))),
    (False, Message(MT.RESTART_ACKNOWLEDGE, 0, False, (CHANNEL_3, RestartIndicator(0)))),
    (True, Message(MessageType.STATUS_ENQUIRY, 2, True)),
    (False, Message(MessageType.STATUS, 2, False, (Cause(101, PUBLIC_LOCAL), CallState(10)))),
    (False, Message(MessageType.SETUP, 0x2001, True, (
        BearerCapability(SPEECH, layer1=ALAW), ChannelIdentification(timeslots=(17,), exclusive=True),
        CallingPartyNumber("02988886666", ton=TypeOfNumber.NATIONAL), CalledPartyNumber("9610"),
    ))),
    (True, Message(MessageType.SETUP_ACKNOWLEDGE, 0x2001, False)),
    (False, Message(MessageType.INFORMATION, 0x2001, True, (CalledPartyNumber("1"), SendingComplete()))),
    (True, Message(MessageType.PROGRESS, 0x2001, False, (ProgressIndicator(Progress.INBAND_AVAILABLE),))),
    (False, Message(MessageType.NOTIFY, 0x2001, True, (Notification(1),))),
]


@pytest.mark.timeout(60)
def test_tshark_decodes_our_messages(tmp_path: Path) -> None:
    pcap = tmp_path / "q931.pcap"
    _write_lapd_pcap(pcap, [(from_user, encode_message(msg)) for from_user, msg in TRACE])
    fields = ["frame.number", "lapd.direction", "q931.message_type", "q931.call_ref_flag",
              "q931.calling_party_number.digits", "q931.called_party_number.digits", "q931.channel.number",
              "q931.channel.exclusive", "q931.cause_value", "q931.cause_location", "q931.restart_indicator",
              "q931.call_state", "q931.progress_indicator.description", "q931.uil1", "q931.sending_complete",
              "_ws.malformed", "_ws.expert.severity"]
    text = _tshark(pcap, tmp_path, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E",
                   "aggregator=,", *[arg for f in fields for arg in ("-e", f)])
    rows = [dict(zip(fields, line.split("\t"), strict=True)) for line in text.splitlines()]
    assert len(rows) == len(TRACE)
    for row, (from_user, msg) in zip(rows, TRACE, strict=True):
        assert row["lapd.direction"] == ("0" if from_user else "1"), row  # 0 User->Network
        assert int(row["q931.message_type"], 0) == msg.type, row
        assert row["q931.call_ref_flag"] in (("False", "0") if msg.from_originator else ("True", "1")), row
        assert row["_ws.malformed"] == "", row
        severities = [int(s, 0) for s in row["_ws.expert.severity"].split(",") if s]
        assert all(s < EXPERT_ERROR for s in severities), row
        if (cause := msg.get(Cause)) is not None:
            assert int(row["q931.cause_value"]) == cause.value
            assert int(row["q931.cause_location"]) == cause.location
        if (chan := msg.get(ChannelIdentification)) is not None:
            assert row["q931.channel.number"] == ",".join(str(ts) for ts in chan.timeslots)
            assert row["q931.channel.exclusive"] in ("True", "1")
        if (restart := msg.get(RestartIndicator)) is not None:
            assert int(row["q931.restart_indicator"], 0) == restart.restart_class
        if (state := msg.get(CallState)) is not None:
            assert int(row["q931.call_state"], 0) == state.value
        if (progress := msg.get(ProgressIndicator)) is not None:
            assert int(row["q931.progress_indicator.description"], 0) == progress.description
        called, calling = msg.get(CalledPartyNumber), msg.get(CallingPartyNumber)
        assert row["q931.called_party_number.digits"] == (called.digits if called else "")
        assert row["q931.calling_party_number.digits"] == (calling.digits if calling else "")
        assert (row["q931.sending_complete"] != "") == (msg.get(SendingComplete) is not None)
    assert int(rows[0]["q931.uil1"], 0) == ALAW
    # the verbose dissection names what we meant, and nothing is malformed
    verbose = _tshark(pcap, tmp_path, "-V")
    assert "Malformed" not in verbose and "[Expert Info (Error" not in verbose
    assert "Message type: SETUP (0x05)" in verbose and "Message type: RESTART ACKNOWLEDGE (0x4e)" in verbose
    assert "Cause value: Normal call clearing (16)" in verbose
    assert "Cause value: Message not compatible with call state (101)" in verbose
    assert "Information transfer capability: Speech (0x00)" in verbose
    assert "Interface type: Primary rate interface" in verbose
    assert "Number type: National number (0x2)" in verbose
    assert "Restart indicator: All interfaces (0x7)" in verbose
    assert "Calling party number digits: 13800138000" in verbose
