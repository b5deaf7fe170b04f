"""IE codec: byte vectors from the Q.931 / EN 300 403 bit layouts, round trips, bad contents."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.e1_card.errors import RemoteProtocolError
from drivers.e1_card.q931.ies import (
    ALAW,
    AUDIO_3K1,
    IE_CLASSES,
    PUBLIC_LOCAL,
    SPEECH,
    ULAW,
    UNRESTRICTED_DIGITAL,
    BearerCapability,
    CalledPartyNumber,
    CallingPartyNumber,
    CallState,
    Cause,
    ChannelIdentification,
    ConnectedNumber,
    Display,
    Facility,
    HighLayerCompatibility,
    InformationElement,
    KeypadFacility,
    Location,
    LowLayerCompatibility,
    Notification,
    Presentation,
    Progress,
    ProgressIndicator,
    RestartIndicator,
    Screening,
    SendingComplete,
    TypeOfNumber,
    UnknownIE,
    UserUser,
    decode_ie,
)

# ---------------------------------------------------------------- exact octets


@pytest.mark.parametrize(
    ("ie", "contents"),
    [
        # octet 3: ext|CCITT|capability, octet 4: ext|circuit|64k, octet 5: ext|layer1 id 01|G.711
        (BearerCapability(SPEECH, layer1=ALAW), "80 90 a3"),
        (BearerCapability(AUDIO_3K1, layer1=ULAW), "90 90 a2"),
        (BearerCapability(UNRESTRICTED_DIGITAL, layer1=None), "88 90"),
        # ext|int.id 0|primary|spare|excl|D 0|as indicated ; ext|CCITT|number|B-units ; ext|ts
        (ChannelIdentification(timeslots=(5,), exclusive=True), "a9 83 85"),
        (ChannelIdentification(timeslots=(17,)), "a1 83 91"),
        (ChannelIdentification(timeslots=(1, 2, 31), exclusive=True), "a9 83 01 02 9f"),
        (ChannelIdentification(no_channel=True), "a0"),
        (ChannelIdentification(any_channel=True), "a3"),
        (ChannelIdentification(no_channel=True, exclusive=True, d_channel=True), "ac"),
        # octet 3: ext 0|national|ISDN ; 3a: ext|allowed|spare|user not screened ; IA5 digits
        (CallingPartyNumber("13800138000", ton=TypeOfNumber.NATIONAL), "21 80" + b"13800138000".hex()),
        (
            CallingPartyNumber("8001", presentation=Presentation.RESTRICTED,
                               screening=Screening.NETWORK_PROVIDED),
            "01 a3 38303031",
        ),
        (CalledPartyNumber("96101"), "81 3936313031"),
        (CalledPartyNumber("02988886666", ton=TypeOfNumber.NATIONAL), "a1" + b"02988886666".hex()),
        (ConnectedNumber("96101", ton=TypeOfNumber.SUBSCRIBER), "41 80 3936313031"),
        # ext|CCITT|spare|location ; ext|value ; diagnostics
        (Cause(16, PUBLIC_LOCAL), "82 90"),
        (Cause(100, Location.USER, diagnostics=b"\x6c"), "80 e4 6c"),
        (Cause(16, Location.PRIVATE_LOCAL, recommendation=0), "01 80 90"),
        (Cause(31, Location.TRANSIT, coding_standard=3), "e3 9f"),
        (ProgressIndicator(Progress.INBAND_AVAILABLE, PUBLIC_LOCAL), "82 88"),
        (ProgressIndicator(1, Location.PUBLIC_REMOTE), "84 81"),
        (CallState(10), "0a"),
        (CallState(0x19, coding_standard=3), "d9"),
        (RestartIndicator(7), "87"),
        (RestartIndicator(0), "80"),
        (RestartIndicator(6), "86"),
        (Display("Anxin 96101"), b"Anxin 96101".hex()),
        (Display("安心"), "b0b2 d0c4"),  # GB2312
        (Notification(1), "81"),
        (KeypadFacility("*21#"), b"*21#".hex()),
        (Facility(b"\x91\xa1\x06"), "91 a1 06"),
        (UserUser(b"\x04hi"), "04 6869"),
        (SendingComplete(), ""),
    ],
)
def test_contents_octets(ie: InformationElement, contents: str) -> None:
    expected = bytes.fromhex(contents.replace(" ", ""))
    assert ie.encode() == expected
    assert type(ie).decode(expected) == ie
    assert decode_ie(ie.IE_ID, expected) == ie


def test_identifiers() -> None:
    expected = {
        BearerCapability: 0x04, Cause: 0x08, CallState: 0x14, ChannelIdentification: 0x18,
        Facility: 0x1C, ProgressIndicator: 0x1E, Notification: 0x27, Display: 0x28,
        KeypadFacility: 0x2C, ConnectedNumber: 0x4C, CallingPartyNumber: 0x6C,
        CalledPartyNumber: 0x70, RestartIndicator: 0x79, LowLayerCompatibility: 0x7C,
        HighLayerCompatibility: 0x7D, UserUser: 0x7E, SendingComplete: 0xA1,
    }
    assert {cls: cls.IE_ID for cls in expected} == expected
    assert set(IE_CLASSES.values()) == set(expected)
    assert SendingComplete().is_single_octet() and not Cause(16).is_single_octet()


# ---------------------------------------------------------------- tolerant decoding


def test_decode_tolerances() -> None:
    # calling number without octet 3a: presentation allowed, user-provided not screened
    calling = CallingPartyNumber.decode(bytes.fromhex("a1") + b"13800138000")
    assert calling == CallingPartyNumber("13800138000", ton=TypeOfNumber.NATIONAL)
    # interface identifier octet 3.1 present (bit 7 of octet 3)
    chan = ChannelIdentification.decode(bytes.fromhex("e9 81 83 85"))
    assert chan.timeslots == (5,) and chan.exclusive and chan.interface_id == b"\x81"
    # BC with rate-adaption octet 5a and a layer 2 octet 6
    bc = BearerCapability.decode(bytes.fromhex("88 90 21 8f c6"))
    assert (bc.layer1, bc.layer1_extra, bc.extra) == (1, b"\x8f", b"\xc6")
    assert bc.encode() == bytes.fromhex("88 90 21 8f c6")
    # unknown enum values stay ints
    assert ProgressIndicator.decode(b"\x82\x8a").description == 10
    assert Cause.decode(b"\x86\x90").location == 6


@pytest.mark.parametrize(
    ("octets", "text"),
    [
        (b"Zhang San", "Zhang San"),
        ("张三".encode("gb2312"), "张三"),
        ("张三𠀀".encode(), "张三𠀀"),  # not GB2312 → UTF-8
        (b"Caf\xe9 \xff", "Café ÿ"),  # neither → latin-1
    ],
)
def test_display_decoding_order(octets: bytes, text: str) -> None:
    display = Display.decode(octets)
    assert display.text == text
    assert display.encode() == octets  # a received display re-encodes to the same octets


def test_display_refuses_unencodable_text() -> None:
    with pytest.raises(ValueError, match="GB2312"):
        Display("𠀀").encode()


# ---------------------------------------------------------------- bad contents → cause 100


@pytest.mark.parametrize(
    ("cls", "contents"),
    [
        (BearerCapability, "80"),
        (BearerCapability, "00 90"),  # octet 3 ext 0
        (BearerCapability, "80 9f"),  # reserved rate
        (BearerCapability, "88 90 21"),  # octet 5a announced, missing
        (ChannelIdentification, ""),
        (ChannelIdentification, "89 83 85"),  # basic-rate interface type
        (ChannelIdentification, "a9"),  # "as indicated" without octet 3.2
        (ChannelIdentification, "a9 83"),  # without channel number
        (ChannelIdentification, "a9 93 85"),  # slot map
        (ChannelIdentification, "a9 84 85"),  # H0 units
        (ChannelIdentification, "a9 a3 85"),  # coding standard not CCITT
        (ChannelIdentification, "a9 83 05"),  # last channel octet ext 0
        (ChannelIdentification, "a2"),  # reserved selection
        (ChannelIdentification, "e9 01"),  # interface id not terminated
        (CallingPartyNumber, ""),
        (CallingPartyNumber, "21"),  # 3a announced, missing
        (CallingPartyNumber, "21 00 31"),  # 3a ext 0
        (CallingPartyNumber, "21 80 b1"),  # digit with bit 8 set
        (CalledPartyNumber, ""),
        (CalledPartyNumber, "01 80 31"),  # called number has no octet 3a
        (Cause, "82"),
        (Cause, "02 80"),  # recommendation but no value
        (ProgressIndicator, "82"),
        (CallState, ""),
        (CallState, "0a 0b"),
        (RestartIndicator, "83"),  # reserved class
        (RestartIndicator, ""),
        (Notification, ""),
        (KeypadFacility, ""),
        (KeypadFacility, "b1"),
    ],
)
def test_bad_contents_raise_cause_100(cls: type[InformationElement], contents: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        cls.decode(bytes.fromhex(contents.replace(" ", "")))
    assert info.value.cause == 100
    assert info.value.diagnostic == bytes([cls.IE_ID])


@pytest.mark.parametrize(
    "build",
    [
        lambda: ChannelIdentification(),
        lambda: ChannelIdentification(timeslots=(1,), any_channel=True),
        lambda: ChannelIdentification(no_channel=True, any_channel=True),
        lambda: ChannelIdentification(timeslots=(128,)),
        lambda: BearerCapability(rate=65),
        lambda: BearerCapability(mode="frame"),
        lambda: BearerCapability(layer1=None, layer1_extra=b"\x8f"),
        lambda: Cause(128),
        lambda: CalledPartyNumber("1", ton=8),
        lambda: CallingPartyNumber("1", presentation=4),
        lambda: RestartIndicator(8),
        lambda: KeypadFacility(""),
        lambda: UnknownIE(0xA1, b"x"),
        lambda: CalledPartyNumber("一").encode(),
    ],
)
def test_unencodable_values_raise_value_error(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        build()


# ---------------------------------------------------------------- round trips

IA5_DIGITS = st.text(alphabet="0123456789*#", max_size=24)
LOCATIONS = st.sampled_from(list(Location))
TIMESLOT = st.integers(1, 31).filter(lambda ts: ts != 16)

IE_STRATEGY = st.one_of(
    st.builds(
        BearerCapability,
        capability=st.sampled_from([SPEECH, AUDIO_3K1, UNRESTRICTED_DIGITAL]),
        mode=st.just("circuit"),
        rate=st.sampled_from([64, 128, 384, 1536, 1920]),
        layer1=st.sampled_from([ALAW, ULAW, None]),
    ),
    st.builds(ChannelIdentification, timeslots=st.lists(TIMESLOT, min_size=1, max_size=5).map(tuple),
              exclusive=st.booleans()),
    st.builds(ChannelIdentification, no_channel=st.just(True), exclusive=st.booleans(),
              d_channel=st.booleans()),
    st.builds(ChannelIdentification, any_channel=st.just(True)),
    st.builds(CallingPartyNumber, IA5_DIGITS, ton=st.sampled_from(list(TypeOfNumber)),
              npi=st.sampled_from([0, 1, 8, 9]), presentation=st.integers(0, 2), screening=st.integers(0, 3)),
    st.builds(ConnectedNumber, IA5_DIGITS, ton=st.sampled_from(list(TypeOfNumber))),
    st.builds(CalledPartyNumber, IA5_DIGITS, ton=st.sampled_from(list(TypeOfNumber)), npi=st.integers(0, 15)),
    st.builds(Cause, st.integers(0, 127), LOCATIONS, diagnostics=st.binary(max_size=8),
              coding_standard=st.integers(0, 3), recommendation=st.none() | st.integers(0, 127)),
    st.builds(ProgressIndicator, st.integers(0, 127), LOCATIONS),
    st.builds(CallState, st.integers(0, 63), coding_standard=st.integers(0, 3)),
    st.builds(RestartIndicator, st.sampled_from([0, 6, 7])),
    st.builds(Display, st.text(alphabet="abc 0123安心养老张李王", max_size=20)),
    st.builds(SendingComplete),
    st.builds(Notification, st.integers(0, 127), info=st.binary(max_size=4)),
    st.builds(KeypadFacility, IA5_DIGITS.filter(bool)),
    st.builds(Facility, st.binary(max_size=40)),
    st.builds(HighLayerCompatibility, st.binary(max_size=4)),
    st.builds(LowLayerCompatibility, st.binary(max_size=8)),
    st.builds(UserUser, st.binary(max_size=20)),
)


@given(IE_STRATEGY)
def test_every_ie_round_trips(ie: InformationElement) -> None:
    contents = ie.encode()
    assert len(contents) <= 255
    decoded = decode_ie(ie.identifier(), contents)
    assert decoded == ie
    assert decoded.encode() == contents


@given(st.sampled_from(sorted(IE_CLASSES)), st.binary(max_size=30))
def test_decoding_garbage_only_raises_cause_100(ie_id: int, contents: bytes) -> None:
    """Any octets either decode to an IE that re-encodes stably, or give cause 100."""
    try:
        ie = decode_ie(ie_id, contents)
    except RemoteProtocolError as exc:
        assert exc.cause == 100 and exc.diagnostic == bytes([ie_id])
        return
    normal = ie.encode()
    assert decode_ie(ie_id, normal).encode() == normal
